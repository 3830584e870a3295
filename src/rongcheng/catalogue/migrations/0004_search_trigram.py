"""PostgreSQL only: trigram indexes (pg_trgm) over the upper-cased title, name and description of datasets, so that
`package_search` finds a word inside them (`UPPER(title) LIKE UPPER('%word%')`, a word of three characters or more)
without reading every dataset (ADR 0016). SQLite: nothing; it keeps its scan."""

from django.db import migrations

INDEXES = {
    "catalogue_dataset_title_trgm": "UPPER(title::text)",
    "catalogue_dataset_name_trgm": "UPPER(name::text)",
    "catalogue_dataset_notes_trgm": "UPPER(notes)",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it, no superuser needed.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON catalogue_dataset USING gin (({expression}) gin_trgm_ops)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    # The extension stays: other databases' objects or a later migration may use it, and it costs nothing idle.


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0003_grant_clear_items")]

    operations = [migrations.RunPython(forwards, backwards)]
