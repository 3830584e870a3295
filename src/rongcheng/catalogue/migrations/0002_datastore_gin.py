"""PostgreSQL only: a GIN index over the datastore's rows (jsonb_path_ops), so that `datastore_search` filters
(`data @> {...}`) find their rows without scanning the resource; and immutable published revisions."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS catalogue_datastore_data_gin ON catalogue_datastorerow "
        "USING gin (data jsonb_path_ops)"
    )
    schema_editor.execute(
        """
        CREATE OR REPLACE FUNCTION catalogue_revision_immutable() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'a published revision of a dataset is never changed';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    schema_editor.execute(
        "CREATE TRIGGER catalogue_revision_immutable BEFORE UPDATE ON catalogue_datasetrevision "
        "FOR EACH ROW EXECUTE FUNCTION catalogue_revision_immutable()"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS catalogue_revision_immutable ON catalogue_datasetrevision")
    schema_editor.execute("DROP FUNCTION IF EXISTS catalogue_revision_immutable()")
    schema_editor.execute("DROP INDEX IF EXISTS catalogue_datastore_data_gin")


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
