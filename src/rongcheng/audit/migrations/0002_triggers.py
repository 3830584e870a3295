"""Triggers: every new record is queued for sealing, and (on PostgreSQL) the audit tables are append-only.

The queue entry is made by the database in the same statement as the record, so appending costs one INSERT and no
extra round trip, and a record inserted by any path is queued.

On PostgreSQL, UPDATE is refused on records, links and anchors. DELETE is refused too, except on records and links
inside a transaction that ran `SET LOCAL rongcheng.audit_purge = 'on'`, which only `audit_purge` does after exporting. Anchors
are never deleted. The queue table `audit_pending` is not protected: the sealer deletes from it.

This stops mistakes and ordinary application-level tampering. A database superuser (or the tables' owner) can disable
triggers or set the purge flag; the HMAC-SM3 chain is what detects that, through `audit verify`. In production the
application's database role should not own these tables.

On SQLite only the queue trigger is installed: SQLite has no transaction-local setting through which the purge could
lift a refusal, and any process that can write the file can drop a trigger; the chain detects edits all the same.
"""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE FUNCTION audit_queue_for_sealing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (record_id) SELECT id FROM inserted;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_record_queue AFTER INSERT ON audit_record
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION audit_queue_for_sealing();
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_ARGV[0] = 'purgeable'
            AND coalesce(current_setting('rongcheng.audit_purge', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER audit_record_append_only BEFORE UPDATE OR DELETE ON audit_record
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('purgeable');
CREATE TRIGGER audit_chain_link_append_only BEFORE UPDATE OR DELETE ON audit_chain_link
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('purgeable');
CREATE TRIGGER audit_anchor_append_only BEFORE UPDATE OR DELETE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('never');
"""

POSTGRESQL_BACKWARD = """
DROP TRIGGER audit_anchor_append_only ON audit_anchor;
DROP TRIGGER audit_chain_link_append_only ON audit_chain_link;
DROP TRIGGER audit_record_append_only ON audit_record;
DROP FUNCTION audit_refuse_change();
DROP TRIGGER audit_record_queue ON audit_record;
DROP FUNCTION audit_queue_for_sealing();
"""

SQLITE_FORWARD = """
CREATE TRIGGER audit_record_queue AFTER INSERT ON audit_record FOR EACH ROW
BEGIN
    INSERT INTO audit_pending (record_id) VALUES (NEW.id);
END
"""

SQLITE_BACKWARD = "DROP TRIGGER audit_record_queue"


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD, params=None)
    else:
        raise NotImplementedError(f"the audit triggers are written for PostgreSQL and SQLite, not {vendor}")


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
