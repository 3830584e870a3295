"""References of the append-only tables checked once per statement, not once per row (ADR 0012, "References
checked per statement").

A tap batch of 2,000 writes 2,000 transfers, 4,000 entries and 2,000 taps; their ten foreign keys were 20,000
per-row checks at commit (one SPI query and one row lock each), about two thirds of the database's time for the
batch (EXPLAIN ANALYZE with the constraints made immediate). The references stay enforced by the database, now per
statement, with the same guarantees:

- inserting (or, for taps, updating) rows that name a ledger account, card, terminal, batch or transfer that does
  not exist fails with `foreign_key_violation` (SQLSTATE 23503, Django's IntegrityError), the statement undone;
- the rows named are locked `FOR KEY SHARE` in one statement per table (what each per-row check did), so a
  concurrent DELETE of an account, card, terminal or batch waits for the inserting transaction and then sees it;
  transfers need no lock: UPDATE and DELETE of them are refused by the append-only triggers (migration 0002);
- deleting (or changing the id of) an account, card, terminal or batch that a transfer, entry or tap names fails
  with `foreign_key_violation`: a row trigger on the referenced table, which locks the row before it runs.

On SQLite (the embedded install) the insert and update checks are row triggers (`RAISE(ABORT)`, IntegrityError).
Deleting a referenced account, card, terminal or batch is refused there by Django's PROTECT, not by a trigger: a
SQLite trigger cannot be deferred, so it would refuse the order-free `DELETE FROM` of every table by which Django
empties a database (`flush`, the demo's tests), where the declared foreign keys it replaces were checked at commit.
As with the append-only triggers, the database itself refuses on PostgreSQL, the production database. SQLite
rebuilds a table when Django alters one of its fields and the rebuild drops the table's triggers: a later migration
altering these tables must create them again (`SQLITE_FORWARD`). TRUNCATE (test databases) is not refused.
"""

from django.db import migrations, models
import django.db.models.deletion

POSTGRESQL_FORWARD = """
CREATE FUNCTION card_reference_missing(source text, target text, wanted bigint[], present bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates a reference: no row of "%" with id %', source, target,
        (SELECT min(w) FROM unnest(wanted) AS w WHERE w <> ALL(present))
        USING ERRCODE = 'foreign_key_violation';
END $$;

CREATE FUNCTION card_transfer_references() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RETURN NULL;
END $$;
CREATE TRIGGER card_transfer_references AFTER INSERT ON card_transfer REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION card_transfer_references();

CREATE FUNCTION card_entry_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted bigint[]; present bigint[];
BEGIN
    wanted := ARRAY(SELECT DISTINCT account_id FROM new_rows);
    present := ARRAY(SELECT a.id FROM card_ledgeraccount a JOIN unnest(wanted) AS w(id) ON a.id = w.id
                      ORDER BY a.id FOR KEY SHARE OF a);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_entry', 'card_ledgeraccount', wanted, present);
    END IF;
    wanted := ARRAY(SELECT DISTINCT transfer_id FROM new_rows);
    present := ARRAY(SELECT t.id FROM card_transfer t JOIN unnest(wanted) AS w(id) ON t.id = w.id);
    IF cardinality(present) <> cardinality(wanted) THEN
        PERFORM card_reference_missing('card_entry', 'card_transfer', wanted, present);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER card_entry_references AFTER INSERT ON card_entry REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION card_entry_references();

CREATE FUNCTION card_tap_references() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER card_tap_references AFTER INSERT ON card_tap REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION card_tap_references();
CREATE TRIGGER card_tap_references_update AFTER UPDATE ON card_tap REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION card_tap_references();

CREATE FUNCTION card_refuse_referenced_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER card_ledgeraccount_referenced BEFORE DELETE OR UPDATE OF id ON card_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION card_refuse_referenced_change();
CREATE TRIGGER card_card_referenced BEFORE DELETE OR UPDATE OF id ON card_card
    FOR EACH ROW EXECUTE FUNCTION card_refuse_referenced_change();
CREATE TRIGGER card_terminal_referenced BEFORE DELETE OR UPDATE OF id ON card_terminal
    FOR EACH ROW EXECUTE FUNCTION card_refuse_referenced_change();
CREATE TRIGGER card_tapbatch_referenced BEFORE DELETE OR UPDATE OF id ON card_tapbatch
    FOR EACH ROW EXECUTE FUNCTION card_refuse_referenced_change();
"""

POSTGRESQL_BACKWARD = """
DROP TRIGGER card_tapbatch_referenced ON card_tapbatch;
DROP TRIGGER card_terminal_referenced ON card_terminal;
DROP TRIGGER card_card_referenced ON card_card;
DROP TRIGGER card_ledgeraccount_referenced ON card_ledgeraccount;
DROP FUNCTION card_refuse_referenced_change();
DROP TRIGGER card_tap_references_update ON card_tap;
DROP TRIGGER card_tap_references ON card_tap;
DROP FUNCTION card_tap_references();
DROP TRIGGER card_entry_references ON card_entry;
DROP FUNCTION card_entry_references();
DROP TRIGGER card_transfer_references ON card_transfer;
DROP FUNCTION card_transfer_references();
DROP FUNCTION card_reference_missing(text, text, bigint[], bigint[]);
"""


def _sqlite_check(name: str, table: str, when: str) -> list[str]:
    """A row trigger that aborts an INSERT or UPDATE of `table` when `when` (over NEW) holds."""
    return [
        f"CREATE TRIGGER {name}_{event.lower()} BEFORE {event} ON {table} WHEN {when} "
        f"BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}'); END"
        for event in ("INSERT", "UPDATE")
    ]


def _absent(table: str, column: str) -> str:
    return f"NOT EXISTS (SELECT 1 FROM {table} WHERE id = NEW.{column})"


SQLITE_FORWARD = [
    *_sqlite_check(
        "card_transfer_references", "card_transfer",
        f"{_absent('card_ledgeraccount', 'debit_id')} OR {_absent('card_ledgeraccount', 'credit_id')} "
        f"OR (NEW.pending_id IS NOT NULL AND {_absent('card_transfer', 'pending_id')}) "
        f"OR (NEW.reverses_id IS NOT NULL AND {_absent('card_transfer', 'reverses_id')})",
    ),  # fmt: skip
    *_sqlite_check(
        "card_entry_references", "card_entry",
        f"{_absent('card_ledgeraccount', 'account_id')} OR {_absent('card_transfer', 'transfer_id')}",
    ),  # fmt: skip
    *_sqlite_check(
        "card_tap_references", "card_tap",
        f"{_absent('card_card', 'card_id')} OR {_absent('card_terminal', 'terminal_id')} "
        f"OR {_absent('card_tapbatch', 'batch_id')} OR {_absent('card_transfer', 'transfer_id')}",
    ),  # fmt: skip
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
        for statement in SQLITE_FORWARD:
            schema_editor.execute(f"DROP TRIGGER {statement.split()[2]}", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('card', '0010_card_reference'),
    ]

    operations = [
        migrations.AlterField(
            model_name='entry',
            name='account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='card.ledgeraccount'),
        ),
        migrations.AlterField(
            model_name='entry',
            name='transfer',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='card.transfer'),
        ),
        migrations.AlterField(
            model_name='tap',
            name='batch',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='tap_rows', to='card.tapbatch'),
        ),
        migrations.AlterField(
            model_name='tap',
            name='card',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='taps', to='card.card'),
        ),
        migrations.AlterField(
            model_name='tap',
            name='terminal',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='taps', to='card.terminal'),
        ),
        migrations.AlterField(
            model_name='tap',
            name='transfer',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='tap', to='card.transfer'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='credit',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='card.ledgeraccount', verbose_name='credit'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='debit',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='card.ledgeraccount', verbose_name='debit'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='pending',
            field=models.OneToOneField(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='resolution', to='card.transfer', verbose_name='pending transfer posted or voided'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='reverses',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversals', to='card.transfer', verbose_name='reverses'),
        ),
        migrations.RunPython(_forward, _backward, elidable=False),
    ]
