"""On PostgreSQL a card payment of a given amount is one statement: `card_pay(...)` (ADR 0012, "One round trip
on PostgreSQL").

It finds the merchant by its code and the card by its number, refuses as `services.card_pay` does (no merchant, an
actor who does not act for it, no card, a card not usable), then books through `card_book` (migration 0004), so the
booking rules stay in one function. Refusals carry their own SQLSTATE (class `RC`) and their facts as JSON in
DETAIL, which `services.card_pay` turns into the same domain errors as the two-statement path. It returns the two
accounts' codes too, which the answer of a payment shows (no query more to serialise it). Fares by base fare
(the transfer discount reads the card's history) and parking by minutes keep that path; so does SQLite.
"""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE FUNCTION card_pay(
    p_merchant text, p_number text, p_actor bigint, p_usable text[], p_amount bigint, p_key text,
    p_business timestamptz, p_memo text, p_moment timestamptz,
    OUT ids bigint[], OUT replay boolean, OUT overdrafts boolean[], OUT debit bigint, OUT credit bigint,
    OUT debit_code text, OUT credit_code text
) LANGUAGE plpgsql AS $$
DECLARE
    m_payable bigint;
    m_owner bigint;
    c_purse bigint;
    c_status text;
BEGIN
    SELECT m.payable_id, m.owner_id, a.code INTO m_payable, m_owner, credit_code
      FROM card_merchant m JOIN card_ledgeraccount a ON a.id = m.payable_id WHERE m.code = p_merchant;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'RCMER', MESSAGE = 'no merchant', DETAIL = '{}';
    END IF;
    IF m_owner IS NULL OR m_owner <> p_actor THEN
        RAISE EXCEPTION USING ERRCODE = 'RCACT', MESSAGE = 'not the merchant', DETAIL = '{}';
    END IF;
    SELECT c.purse_id, c.status, a.code INTO c_purse, c_status, debit_code
      FROM card_card c JOIN card_ledgeraccount a ON a.id = c.purse_id WHERE c.number = p_number;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'RCCRD', MESSAGE = 'no card', DETAIL = '{}';
    END IF;
    IF NOT c_status = ANY(p_usable) THEN
        RAISE EXCEPTION USING ERRCODE = 'RCUSE', MESSAGE = 'card not usable',
            DETAIL = json_build_object('status', c_status)::text;
    END IF;
    debit := c_purse;
    credit := m_payable;
    SELECT b.ids, b.replay, b.overdrafts INTO ids, replay, overdrafts
      FROM card_book(ARRAY[c_purse], ARRAY[m_payable], ARRAY[p_amount], ARRAY['payment'], ARRAY[p_key],
                     ARRAY[p_business], ARRAY[p_memo], ARRAY[false], '', p_moment) AS b;
END
$$;
"""

POSTGRESQL_BACKWARD = """
DROP FUNCTION card_pay(text, text, bigint, text[], bigint, text, timestamptz, text, timestamptz);
"""


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("card", "0006_set_based_tap_booking")]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
