"""Taps folded into their transfers (ADR 0012, amendment "Taps folded into their transfers").

A tap's row repeated its transfer: the card (the purse's), the fare (the amount), the tap time (`business_at`), the
card and counter (the key `tap:<card>:<counter>`, unique); only its batch (and the batch's terminal) was its own.
Each tap wrote four rows (transfer, two entries, tap) and eleven B-tree entries; the tap row was one row and three
B-tree entries of them (pk, (card, counter), transfer), plus its statement, its reference trigger and its BRIN.
The transfer now names its batch (`batch`, NULL for every other transfer); the tap row is gone:

- the batch's transfers are the batch's taps: `batch_id` on each, checked per statement by the transfers' reference
  trigger (the batch exists, locked FOR KEY SHARE as the other references); a BRIN index on PostgreSQL (transfers
  are appended batch after batch), a plain one on SQLite; deleting a batch that transfers name is refused by the
  batches' guard (PostgreSQL) and by Django's PROTECT (both);
- a card whose purse has entries cannot be deleted (the cards' guard asked the taps; it asks the purse's entries by
  their `(account, at, id)` index, which covers the taps and every other movement of the card);
- the taps of existing rows are moved onto their transfers (the append-only trigger is suspended for that one
  UPDATE of `batch_id`, inside this migration's transaction), then the table and its trigger function dropped.

The terminals' permission `card.add_tap` (scope `card:pay`) was the tap model's; it is now declared on the batches
(grants of the old row keep working: a permission is named by app and codename).

Not reversible: the tap rows' columns are all still there, but a migration back would have to write them again from
the transfers; nothing needs it. SQLite: the new column is added with ALTER TABLE ADD COLUMN (nullable, no default),
which keeps the table's triggers (migration 0011); a row trigger checks the batch as the others check theirs.
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL_BACKFILL = """
ALTER TABLE card_transfer DISABLE TRIGGER card_transfer_append_only;
UPDATE card_transfer SET batch_id = tap.batch_id FROM card_tap AS tap WHERE tap.transfer_id = card_transfer.id;
ALTER TABLE card_transfer ENABLE TRIGGER card_transfer_append_only;
"""

SQLITE_BACKFILL = """
UPDATE card_transfer SET batch_id = (SELECT tap.batch_id FROM card_tap AS tap WHERE tap.transfer_id = card_transfer.id)
 WHERE id IN (SELECT transfer_id FROM card_tap)
"""

POSTGRESQL_FORWARD = """
CREATE INDEX card_transfer_batch_brin ON card_transfer USING brin (batch_id);

CREATE OR REPLACE FUNCTION card_transfer_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted bigint[]; present bigint[];
BEGIN
    wanted := ARRAY(SELECT debit_id FROM new_rows UNION SELECT credit_id FROM new_rows);
    present := ARRAY(SELECT a.id FROM card_ledgeraccount a JOIN unnest(wanted) AS w(id) ON a.id = w.id
                      ORDER BY a.id FOR KEY SHARE OF a);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_transfer', 'card_ledgeraccount', wanted, present);
    END IF;
    wanted := ARRAY(SELECT pending_id FROM new_rows WHERE pending_id IS NOT NULL
                    UNION SELECT reverses_id FROM new_rows WHERE reverses_id IS NOT NULL);
    IF cardinality(wanted) > 0 THEN
        present := ARRAY(SELECT t.id FROM card_transfer t JOIN unnest(wanted) AS w(id) ON t.id = w.id);
        IF cardinality(present) <> cardinality(wanted) THEN
            PERFORM card_reference_missing('card_transfer', 'card_transfer', wanted, present);
        END IF;
    END IF;
    -- an offline tap's batch (a whole batch names one)
    wanted := ARRAY(SELECT DISTINCT batch_id FROM new_rows WHERE batch_id IS NOT NULL);
    IF cardinality(wanted) > 0 THEN
        present := ARRAY(SELECT b.id FROM card_tapbatch b JOIN unnest(wanted) AS w(id) ON b.id = w.id
                          ORDER BY b.id FOR KEY SHARE OF b);
        IF cardinality(present) <> cardinality(wanted) THEN
            PERFORM card_reference_missing('card_transfer', 'card_tapbatch', wanted, present);
        END IF;
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
        WHEN 'card_terminal' THEN EXISTS (SELECT 1 FROM card_tapbatch WHERE terminal_id = OLD.id)
        WHEN 'card_tapbatch' THEN EXISTS (SELECT 1 FROM card_transfer WHERE batch_id = OLD.id)
    END;
    IF referenced THEN
        RAISE EXCEPTION '% on table "%" violates a reference: row % is still named by the ledger or a tap', TG_OP,
            TG_TABLE_NAME, OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- a card's taps are transfers of its purse: a card whose purse has moved money stays (its own function: a record's
-- fields are resolved per table, and only cards have a purse)
CREATE FUNCTION card_refuse_card_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM card_entry WHERE account_id = OLD.purse_id) THEN
        RAISE EXCEPTION '% on table "%" violates a reference: row % is still named by the ledger or a tap', TG_OP,
            TG_TABLE_NAME, OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
DROP TRIGGER card_card_referenced ON card_card;
CREATE TRIGGER card_card_referenced BEFORE DELETE OR UPDATE OF id ON card_card
    FOR EACH ROW EXECUTE FUNCTION card_refuse_card_change();
"""

SQLITE_FORWARD = [
    "CREATE INDEX card_transfer_batch ON card_transfer (batch_id)",
    *[
        f"CREATE TRIGGER card_transfer_batch_references_{event.lower()} BEFORE {event} ON card_transfer "
        "WHEN NEW.batch_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM card_tapbatch WHERE id = NEW.batch_id) "
        "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: card_transfer'); END"
        for event in ("INSERT", "UPDATE")
    ],
]


def _backfill(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKFILL, params=None)
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKFILL, params=None)
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, params=None)


def _drop_tap_function(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":  # its triggers went with the table
        schema_editor.execute("DROP FUNCTION card_tap_references()", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('card', '0014_transfer_key_collation_c'),
    ]

    operations = [
        migrations.AddField(
            model_name='transfer',
            name='batch',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='transfers', to='card.tapbatch', verbose_name='tap batch'),
        ),
        migrations.RunPython(_backfill),
        migrations.DeleteModel(
            name='Tap',
        ),
        migrations.RunPython(_drop_tap_function),
        migrations.AlterModelOptions(
            name='tapbatch',
            options={'permissions': [('add_tap', 'Can add tap')]},
        ),
    ]
