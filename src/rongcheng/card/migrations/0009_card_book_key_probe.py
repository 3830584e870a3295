"""`card_book` (migration 0004) probes the keys' unique index first: when no key of the booking was used before (every
booking but a retry), the join and aggregate that tell a replay from a reused key are skipped. Same answers, same
refusals; a payment spends most of its database time in this function (bench/card_ledger.py)."""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE OR REPLACE FUNCTION card_book(
    p_debits bigint[], p_credits bigint[], p_amounts bigint[], p_kinds text[], p_keys text[],
    p_business timestamptz[], p_memos text[], p_overdrafts boolean[], p_group text, p_moment timestamptz,
    OUT ids bigint[], OUT replay boolean, OUT overdrafts boolean[]
) LANGUAGE plpgsql AS $$
DECLARE
    n int := cardinality(p_amounts);
    wanted bigint[];
    locked bigint[];
    missing bigint;
    found_count int;
    same_count int;
    reused text;
    d card_ledgeraccount%ROWTYPE;
    c card_ledgeraccount%ROWTYPE;
    amt bigint;
    room bigint;
    d_at timestamptz;
    c_at timestamptz;
    over boolean;
    t_id bigint;
BEGIN
    replay := false;
    ids := '{}';
    overdrafts := '{}';
    wanted := ARRAY(SELECT DISTINCT x FROM unnest(p_debits || p_credits) AS x ORDER BY x);
    locked := ARRAY(SELECT a.id FROM card_ledgeraccount a WHERE a.id = ANY(wanted) ORDER BY a.id FOR UPDATE);
    IF cardinality(locked) <> cardinality(wanted) THEN
        SELECT x INTO missing FROM unnest(wanted) AS x WHERE x <> ALL(locked) ORDER BY x LIMIT 1;
        RAISE EXCEPTION USING ERRCODE = 'RC404', MESSAGE = 'no ledger account',
            DETAIL = json_build_object('id', missing)::text;
    END IF;
    -- the usual case, no key used before: one probe of the key's unique index, no join or aggregate
    IF NOT EXISTS (SELECT 1 FROM card_transfer t WHERE t.key = ANY(p_keys)) THEN
        found_count := 0;
    ELSE
    SELECT count(*)::int,
           count(*) FILTER (WHERE t.debit_id = s.d AND t.credit_id = s.c AND t.amount = s.a AND t.kind = s.k
                            AND t.phase = 'single' AND t.pending_id IS NULL AND t.reverses_id IS NULL)::int,
           (array_agg(t.key ORDER BY s.pos))[1]
      INTO found_count, same_count, reused
      FROM unnest(p_keys, p_debits, p_credits, p_amounts, p_kinds) WITH ORDINALITY AS s(key, d, c, a, k, pos)
      JOIN card_transfer t ON t.key = s.key;
    END IF;
    IF found_count > 0 THEN
        IF found_count = n AND same_count = n THEN
            replay := true;
            SELECT array_agg(t.id ORDER BY s.pos), array_agg(t.overdraft ORDER BY s.pos) INTO ids, overdrafts
              FROM unnest(p_keys) WITH ORDINALITY AS s(key, pos) JOIN card_transfer t ON t.key = s.key;
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'RC409', MESSAGE = 'key reused',
            DETAIL = json_build_object('key', reused)::text;
    END IF;
    FOR i IN 1..n LOOP
        amt := p_amounts[i];
        SELECT * INTO d FROM card_ledgeraccount WHERE id = p_debits[i];
        SELECT * INTO c FROM card_ledgeraccount WHERE id = p_credits[i];
        IF d.currency <> c.currency THEN
            RAISE EXCEPTION USING ERRCODE = 'RC422', MESSAGE = 'currency', DETAIL = '{}';
        END IF;
        IF d.lower_limit IS NOT NULL AND NOT p_overdrafts[i] THEN
            room := d.balance - d.pending_debits - d.lower_limit;
            IF amt > room THEN
                RAISE EXCEPTION USING ERRCODE = 'RCLOW', MESSAGE = 'lower limit',
                    DETAIL = json_build_object('account', d.code, 'available', greatest(room, 0), 'amount', amt)::text;
            END IF;
        END IF;
        IF c.upper_limit IS NOT NULL AND c.balance + c.pending_credits + amt > c.upper_limit THEN
            RAISE EXCEPTION USING ERRCODE = 'RCUPP', MESSAGE = 'upper limit',
                DETAIL = json_build_object('account', c.code, 'upper_limit', c.upper_limit, 'amount', amt)::text;
        END IF;
        d_at := greatest(p_moment, d.posted_until);
        c_at := greatest(p_moment, c.posted_until);
        over := p_overdrafts[i] AND d.lower_limit IS NOT NULL AND d.balance - amt < d.lower_limit;
        INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, pending_id, reverses_id,
                                   linked_group, timeout_at, overdraft, memo, created_at, business_at)
            VALUES (p_keys[i], p_kinds[i], 'single', amt, d.id, c.id, NULL, NULL, p_group, NULL, over, p_memos[i],
                    p_moment, p_business[i])
            RETURNING id INTO t_id;
        INSERT INTO card_entry (transfer_id, account_id, amount, balance_before, balance_after, at) VALUES
            (t_id, d.id, -amt, d.balance, d.balance - amt, d_at),
            (t_id, c.id, amt, c.balance, c.balance + amt, c_at);
        UPDATE card_ledgeraccount SET balance = balance - amt, posted_until = d_at WHERE id = d.id;
        UPDATE card_ledgeraccount SET balance = balance + amt, posted_until = c_at WHERE id = c.id;
        ids := ids || t_id;
        overdrafts := overdrafts || over;
    END LOOP;
END
$$;
"""

POSTGRESQL_BACKWARD = """
CREATE OR REPLACE FUNCTION card_book(
    p_debits bigint[], p_credits bigint[], p_amounts bigint[], p_kinds text[], p_keys text[],
    p_business timestamptz[], p_memos text[], p_overdrafts boolean[], p_group text, p_moment timestamptz,
    OUT ids bigint[], OUT replay boolean, OUT overdrafts boolean[]
) LANGUAGE plpgsql AS $$
DECLARE
    n int := cardinality(p_amounts);
    wanted bigint[];
    locked bigint[];
    missing bigint;
    found_count int;
    same_count int;
    reused text;
    d card_ledgeraccount%ROWTYPE;
    c card_ledgeraccount%ROWTYPE;
    amt bigint;
    room bigint;
    d_at timestamptz;
    c_at timestamptz;
    over boolean;
    t_id bigint;
BEGIN
    replay := false;
    ids := '{}';
    overdrafts := '{}';
    wanted := ARRAY(SELECT DISTINCT x FROM unnest(p_debits || p_credits) AS x ORDER BY x);
    locked := ARRAY(SELECT a.id FROM card_ledgeraccount a WHERE a.id = ANY(wanted) ORDER BY a.id FOR UPDATE);
    IF cardinality(locked) <> cardinality(wanted) THEN
        SELECT x INTO missing FROM unnest(wanted) AS x WHERE x <> ALL(locked) ORDER BY x LIMIT 1;
        RAISE EXCEPTION USING ERRCODE = 'RC404', MESSAGE = 'no ledger account',
            DETAIL = json_build_object('id', missing)::text;
    END IF;
    SELECT count(*)::int,
           count(*) FILTER (WHERE t.debit_id = s.d AND t.credit_id = s.c AND t.amount = s.a AND t.kind = s.k
                            AND t.phase = 'single' AND t.pending_id IS NULL AND t.reverses_id IS NULL)::int,
           (array_agg(t.key ORDER BY s.pos))[1]
      INTO found_count, same_count, reused
      FROM unnest(p_keys, p_debits, p_credits, p_amounts, p_kinds) WITH ORDINALITY AS s(key, d, c, a, k, pos)
      JOIN card_transfer t ON t.key = s.key;
    IF found_count > 0 THEN
        IF found_count = n AND same_count = n THEN
            replay := true;
            SELECT array_agg(t.id ORDER BY s.pos), array_agg(t.overdraft ORDER BY s.pos) INTO ids, overdrafts
              FROM unnest(p_keys) WITH ORDINALITY AS s(key, pos) JOIN card_transfer t ON t.key = s.key;
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'RC409', MESSAGE = 'key reused',
            DETAIL = json_build_object('key', reused)::text;
    END IF;
    FOR i IN 1..n LOOP
        amt := p_amounts[i];
        SELECT * INTO d FROM card_ledgeraccount WHERE id = p_debits[i];
        SELECT * INTO c FROM card_ledgeraccount WHERE id = p_credits[i];
        IF d.currency <> c.currency THEN
            RAISE EXCEPTION USING ERRCODE = 'RC422', MESSAGE = 'currency', DETAIL = '{}';
        END IF;
        IF d.lower_limit IS NOT NULL AND NOT p_overdrafts[i] THEN
            room := d.balance - d.pending_debits - d.lower_limit;
            IF amt > room THEN
                RAISE EXCEPTION USING ERRCODE = 'RCLOW', MESSAGE = 'lower limit',
                    DETAIL = json_build_object('account', d.code, 'available', greatest(room, 0), 'amount', amt)::text;
            END IF;
        END IF;
        IF c.upper_limit IS NOT NULL AND c.balance + c.pending_credits + amt > c.upper_limit THEN
            RAISE EXCEPTION USING ERRCODE = 'RCUPP', MESSAGE = 'upper limit',
                DETAIL = json_build_object('account', c.code, 'upper_limit', c.upper_limit, 'amount', amt)::text;
        END IF;
        d_at := greatest(p_moment, d.posted_until);
        c_at := greatest(p_moment, c.posted_until);
        over := p_overdrafts[i] AND d.lower_limit IS NOT NULL AND d.balance - amt < d.lower_limit;
        INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, pending_id, reverses_id,
                                   linked_group, timeout_at, overdraft, memo, created_at, business_at)
            VALUES (p_keys[i], p_kinds[i], 'single', amt, d.id, c.id, NULL, NULL, p_group, NULL, over, p_memos[i],
                    p_moment, p_business[i])
            RETURNING id INTO t_id;
        INSERT INTO card_entry (transfer_id, account_id, amount, balance_before, balance_after, at) VALUES
            (t_id, d.id, -amt, d.balance, d.balance - amt, d_at),
            (t_id, c.id, amt, c.balance, c.balance + amt, c_at);
        UPDATE card_ledgeraccount SET balance = balance - amt, posted_until = d_at WHERE id = d.id;
        UPDATE card_ledgeraccount SET balance = balance + amt, posted_until = c_at WHERE id = c.id;
        ids := ids || t_id;
        overdrafts := overdrafts || over;
    END LOOP;
END
$$;
"""


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("card", "0008_transfer_indexes_written_per_row")]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
