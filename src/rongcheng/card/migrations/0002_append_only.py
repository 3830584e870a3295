"""On PostgreSQL the ledger's transfers and entries are append-only: triggers refuse UPDATE and DELETE (ADR 0012).

A pending transfer is never updated to posted: its post or void is a new transfer naming it. TRUNCATE (which test
databases use between tests) is not refused; the application role in production should not own the tables. SQLite
gets no trigger: any process that can write the file can drop one.
"""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE FUNCTION card_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER card_transfer_append_only BEFORE UPDATE OR DELETE ON card_transfer
    FOR EACH ROW EXECUTE FUNCTION card_refuse_change();
CREATE TRIGGER card_entry_append_only BEFORE UPDATE OR DELETE ON card_entry
    FOR EACH ROW EXECUTE FUNCTION card_refuse_change();
"""

POSTGRESQL_BACKWARD = """
DROP TRIGGER card_entry_append_only ON card_entry;
DROP TRIGGER card_transfer_append_only ON card_transfer;
DROP FUNCTION card_refuse_change();
"""


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("card", "0001_initial")]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
