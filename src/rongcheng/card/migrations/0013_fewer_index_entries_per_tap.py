"""Fewer index entries per tap (ADR 0012, amendment "Fewer index entries per tap").

A tap wrote four rows and eighteen B-tree entries: the transfer seven (pk, key, created_at, business_at, (debit,
created_at), (credit, created_at), and `pending`'s unique index, a NULL for every transfer), each entry three (pk,
transfer, (account, at, id)), the tap five (pk, (card, counter), terminal, batch, transfer). Read against what
queries them (`pg_stat_user_indexes` after a benchmark run, and the queries of `card/`):

- `pending`'s unique index: only posts and voids name a pending transfer; unique among those (a partial index), so
  a transfer that resolves nothing writes no entry. The posting check `pending_id = %s` and the ledger check's
  anti-join use it as before.
- `created_at`, `business_at`: read by the clearing (a day's `business_at` and a later run's `created_at` window,
  thousands to millions of rows each, never one) and by nothing that wants one row; both grow with the table's
  physical order (posting time exactly, tap time but for late uploads). Block-range indexes (BRIN: one small
  summary per 128 pages, no entry per row; `business_at` with the multi-range operator class, which keeps a late
  batch's old times from widening its range for every day). A card's recent boardings (`_previous_boarding`) are
  found by `(debit, created_at)` as before.
- the entry's `transfer`: read by no query but the ledger check, which reads every entry; entries are appended in
  their transfers' order. BRIN.
- the tap's `batch`: only deleting a batch reads taps by it (the reference guard of migration 0011, Django's
  PROTECT); taps are appended batch by batch. BRIN.
- the tap's `terminal`: read only to refuse deleting a terminal with taps. A tap's terminal is now checked to be
  its batch's (the per-statement reference trigger), so the guard on terminals asks the batches instead (by their
  unique `(terminal, number)` index): a terminal with taps has batches. The index goes.

Left as they were: the primary keys; the transfer's `key` (idempotency) and the tap's `(card, counter)`
(duplicates), both unique; `(debit, created_at)`, `(credit, created_at)`, `(account, at, id)` (history, as-of
balances, the reference guard of accounts); the tap's `transfer` (each tap names its own transfer). A tap now
writes eleven B-tree entries instead of eighteen, plus BRIN summaries only when a block range is summarized.

On SQLite (no BRIN) the same columns get plain indexes, and the column-level UNIQUE of `pending` stays (it cannot
be dropped without rebuilding the table, which would drop its triggers, see migration 0011); the partial unique
index is added beside it. The model state matches the declared indexes; the BRIN and SQLite replacement indexes
are this migration's, outside the state, as the triggers are.
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL_FORWARD = """
ALTER TABLE card_transfer DROP CONSTRAINT card_transfer_pending_id_key;
CREATE UNIQUE INDEX card_transfer_pending_unique ON card_transfer (pending_id) WHERE pending_id IS NOT NULL;
DROP INDEX card_transfer_created_at_df87595e;
CREATE INDEX card_transfer_created_brin ON card_transfer USING brin (created_at);
DROP INDEX card_transfer_business_at;
CREATE INDEX card_transfer_business_brin ON card_transfer USING brin (business_at timestamptz_minmax_multi_ops);
DROP INDEX card_entry_transfer_id_63cd5481;
CREATE INDEX card_entry_transfer_brin ON card_entry USING brin (transfer_id);
DROP INDEX card_tap_batch_id_27e4b0ee;
CREATE INDEX card_tap_batch_brin ON card_tap USING brin (batch_id);
DROP INDEX card_tap_terminal_id_2fa92088;

CREATE OR REPLACE FUNCTION card_tap_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted bigint[]; present bigint[]; stray bigint;
BEGIN
    wanted := ARRAY(SELECT DISTINCT card_id FROM new_rows);
    present := ARRAY(SELECT c.id FROM card_card c JOIN unnest(wanted) AS w(id) ON c.id = w.id
                      ORDER BY c.id FOR KEY SHARE OF c);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_tap', 'card_card', wanted, present);
    END IF;
    wanted := ARRAY(SELECT DISTINCT batch_id FROM new_rows);
    present := ARRAY(SELECT b.id FROM card_tapbatch b JOIN unnest(wanted) AS w(id) ON b.id = w.id
                      ORDER BY b.id FOR KEY SHARE OF b);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_tap', 'card_tapbatch', wanted, present);
    END IF;
    -- the terminal is the batch's: the batch's declared foreign key then holds the terminal too
    SELECT n.terminal_id INTO stray FROM new_rows n JOIN card_tapbatch b ON b.id = n.batch_id
     WHERE n.terminal_id IS DISTINCT FROM b.terminal_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "card_tap" violates a reference: terminal % is not its batch''s',
            stray USING ERRCODE = 'foreign_key_violation';
    END IF;
    wanted := ARRAY(SELECT DISTINCT transfer_id FROM new_rows);
    present := ARRAY(SELECT t.id FROM card_transfer t JOIN unnest(wanted) AS w(id) ON t.id = w.id);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_tap', 'card_transfer', wanted, present);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION card_refuse_referenced_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    referenced := CASE TG_TABLE_NAME
        WHEN 'card_ledgeraccount' THEN EXISTS (SELECT 1 FROM card_entry WHERE account_id = OLD.id)
            OR EXISTS (SELECT 1 FROM card_transfer WHERE debit_id = OLD.id)
            OR EXISTS (SELECT 1 FROM card_transfer WHERE credit_id = OLD.id)
        WHEN 'card_card' THEN EXISTS (SELECT 1 FROM card_tap WHERE card_id = OLD.id)
        -- a tap's terminal is its batch's: a terminal with batches is refused now, as the batches' deferred
        -- foreign key would refuse it at commit
        WHEN 'card_terminal' THEN EXISTS (SELECT 1 FROM card_tapbatch WHERE terminal_id = OLD.id)
        WHEN 'card_tapbatch' THEN EXISTS (SELECT 1 FROM card_tap WHERE batch_id = OLD.id)
    END;
    IF referenced THEN
        RAISE EXCEPTION '% on table "%" violates a reference: row % is still named by the ledger or a tap', TG_OP,
            TG_TABLE_NAME, OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
"""

POSTGRESQL_BACKWARD = """
CREATE OR REPLACE FUNCTION card_refuse_referenced_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    referenced := CASE TG_TABLE_NAME
        WHEN 'card_ledgeraccount' THEN EXISTS (SELECT 1 FROM card_entry WHERE account_id = OLD.id)
            OR EXISTS (SELECT 1 FROM card_transfer WHERE debit_id = OLD.id)
            OR EXISTS (SELECT 1 FROM card_transfer WHERE credit_id = OLD.id)
        WHEN 'card_card' THEN EXISTS (SELECT 1 FROM card_tap WHERE card_id = OLD.id)
        WHEN 'card_terminal' THEN EXISTS (SELECT 1 FROM card_tap WHERE terminal_id = OLD.id)
        WHEN 'card_tapbatch' THEN EXISTS (SELECT 1 FROM card_tap WHERE batch_id = OLD.id)
    END;
    IF referenced THEN
        RAISE EXCEPTION '% on table "%" violates a reference: row % is still named by the ledger or a tap', TG_OP,
            TG_TABLE_NAME, OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE OR REPLACE FUNCTION card_tap_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted bigint[]; present bigint[];
BEGIN
    wanted := ARRAY(SELECT DISTINCT card_id FROM new_rows);
    present := ARRAY(SELECT c.id FROM card_card c JOIN unnest(wanted) AS w(id) ON c.id = w.id
                      ORDER BY c.id FOR KEY SHARE OF c);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_tap', 'card_card', wanted, present);
    END IF;
    wanted := ARRAY(SELECT DISTINCT terminal_id FROM new_rows);
    present := ARRAY(SELECT t.id FROM card_terminal t JOIN unnest(wanted) AS w(id) ON t.id = w.id
                      ORDER BY t.id FOR KEY SHARE OF t);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_tap', 'card_terminal', wanted, present);
    END IF;
    wanted := ARRAY(SELECT DISTINCT batch_id FROM new_rows);
    present := ARRAY(SELECT b.id FROM card_tapbatch b JOIN unnest(wanted) AS w(id) ON b.id = w.id
                      ORDER BY b.id FOR KEY SHARE OF b);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_tap', 'card_tapbatch', wanted, present);
    END IF;
    wanted := ARRAY(SELECT DISTINCT transfer_id FROM new_rows);
    present := ARRAY(SELECT t.id FROM card_transfer t JOIN unnest(wanted) AS w(id) ON t.id = w.id);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_tap', 'card_transfer', wanted, present);
    END IF;
    RETURN NULL;
END $$;

CREATE INDEX card_tap_terminal_id_2fa92088 ON card_tap (terminal_id);
DROP INDEX card_tap_batch_brin;
CREATE INDEX card_tap_batch_id_27e4b0ee ON card_tap (batch_id);
DROP INDEX card_entry_transfer_brin;
CREATE INDEX card_entry_transfer_id_63cd5481 ON card_entry (transfer_id);
DROP INDEX card_transfer_business_brin;
CREATE INDEX card_transfer_business_at ON card_transfer (business_at);
DROP INDEX card_transfer_created_brin;
CREATE INDEX card_transfer_created_at_df87595e ON card_transfer (created_at);
DROP INDEX card_transfer_pending_unique;
ALTER TABLE card_transfer ADD CONSTRAINT card_transfer_pending_id_key UNIQUE (pending_id);
"""

# SQLite: plain indexes where PostgreSQL has BRIN; the tap's terminal checked against its batch's by the row trigger
# of migration 0011 (whose terminal check it replaces); no guard triggers on deletes there (see migration 0011)
SQLITE_FORWARD = [
    "CREATE UNIQUE INDEX card_transfer_pending_unique ON card_transfer (pending_id) WHERE pending_id IS NOT NULL",
    "DROP INDEX card_transfer_created_at_df87595e",
    "CREATE INDEX card_transfer_created_brin ON card_transfer (created_at)",
    "DROP INDEX card_transfer_business_at",
    "CREATE INDEX card_transfer_business_brin ON card_transfer (business_at)",
    "DROP INDEX card_entry_transfer_id_63cd5481",
    "CREATE INDEX card_entry_transfer_brin ON card_entry (transfer_id)",
    "DROP INDEX card_tap_batch_id_27e4b0ee",
    "CREATE INDEX card_tap_batch_brin ON card_tap (batch_id)",
    "DROP INDEX card_tap_terminal_id_2fa92088",
    *(
        f"DROP TRIGGER card_tap_references_{event}" for event in ("insert", "update")
    ),
    *(
        f"CREATE TRIGGER card_tap_references_{event.lower()} BEFORE {event} ON card_tap WHEN "
        "NOT EXISTS (SELECT 1 FROM card_card WHERE id = NEW.card_id) "
        "OR NOT EXISTS (SELECT 1 FROM card_tapbatch WHERE id = NEW.batch_id AND terminal_id = NEW.terminal_id) "
        "OR NOT EXISTS (SELECT 1 FROM card_transfer WHERE id = NEW.transfer_id) "
        "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: card_tap'); END"
        for event in ("INSERT", "UPDATE")
    ),
]

SQLITE_BACKWARD = [
    *(f"DROP TRIGGER card_tap_references_{event}" for event in ("insert", "update")),
    *(
        f"CREATE TRIGGER card_tap_references_{event.lower()} BEFORE {event} ON card_tap WHEN "
        "NOT EXISTS (SELECT 1 FROM card_card WHERE id = NEW.card_id) "
        "OR NOT EXISTS (SELECT 1 FROM card_terminal WHERE id = NEW.terminal_id) "
        "OR NOT EXISTS (SELECT 1 FROM card_tapbatch WHERE id = NEW.batch_id) "
        "OR NOT EXISTS (SELECT 1 FROM card_transfer WHERE id = NEW.transfer_id) "
        "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: card_tap'); END"
        for event in ("INSERT", "UPDATE")
    ),
    "CREATE INDEX card_tap_terminal_id_2fa92088 ON card_tap (terminal_id)",
    "DROP INDEX card_tap_batch_brin",
    "CREATE INDEX card_tap_batch_id_27e4b0ee ON card_tap (batch_id)",
    "DROP INDEX card_entry_transfer_brin",
    "CREATE INDEX card_entry_transfer_id_63cd5481 ON card_entry (transfer_id)",
    "DROP INDEX card_transfer_business_brin",
    "CREATE INDEX card_transfer_business_at ON card_transfer (business_at)",
    "DROP INDEX card_transfer_created_brin",
    "CREATE INDEX card_transfer_created_at_df87595e ON card_transfer (created_at)",
    "DROP INDEX card_transfer_pending_unique",
]


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, params=None)


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('card', '0012_room_for_hot_updates'),
    ]

    # the state as Django would declare it; the database changed by the SQL above, without rebuilding any table
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name='transfer',
                    name='card_transfer_business_at',
                ),
                migrations.AlterField(
                    model_name='entry',
                    name='transfer',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='card.transfer'),
                ),
                migrations.AlterField(
                    model_name='tap',
                    name='batch',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='tap_rows', to='card.tapbatch'),
                ),
                migrations.AlterField(
                    model_name='tap',
                    name='terminal',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='taps', to='card.terminal'),
                ),
                migrations.AlterField(
                    model_name='transfer',
                    name='created_at',
                    field=models.DateTimeField(verbose_name='posted at'),
                ),
                migrations.AlterField(
                    model_name='transfer',
                    name='pending',
                    field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='resolutions', to='card.transfer', verbose_name='pending transfer posted or voided'),
                ),
                migrations.AddConstraint(
                    model_name='transfer',
                    constraint=models.UniqueConstraint(condition=models.Q(('pending__isnull', False)), fields=('pending',), name='card_transfer_pending_unique'),
                ),
            ],
            database_operations=[migrations.RunPython(_forward, _backward, elidable=False)],
        ),
    ]
