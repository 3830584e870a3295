"""A dataset's words looked for in one stored text (ADR 0022): `search_text`, its title, name and description
upper-cased once when written, separated by a control character; the three trigram indexes of 0004 (ADR 0016),
which the planner passed over for a scan of the three texts upper-cased at every search, are dropped (PostgreSQL).
The formats' index is on `UPPER(format)`, as `res_format:csv` compares."""

import django.db.models.functions.text
from django.db import migrations, models

# As 0004 created them (a migration keeps its history as it was, so they are written out again here).
TRIGRAM_INDEXES = {
    "catalogue_dataset_title_trgm": "UPPER(title::text)",
    "catalogue_dataset_name_trgm": "UPPER(name::text)",
    "catalogue_dataset_notes_trgm": "UPPER(notes)",
}


def trigram_indexes_dropped(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in TRIGRAM_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def trigram_indexes_restored(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, expression in TRIGRAM_INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON catalogue_dataset USING gin (({expression}) gin_trgm_ops)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0005_resourcerow_masked"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="datasetresource",
            name="catalogue_resource_format",
        ),
        migrations.AddField(
            model_name="dataset",
            name="search_text",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Upper(
                    django.db.models.functions.text.Concat(
                        "title", models.Value("\x1f"), "name", models.Value("\x1f"), "notes",
                        output_field=models.TextField(),
                    )
                ),
                output_field=models.TextField(),
            ),
        ),
        migrations.AddIndex(
            model_name="datasetresource",
            index=models.Index(
                django.db.models.functions.text.Upper("format"), models.F("dataset"), name="catalogue_res_upper_format"
            ),
        ),
        migrations.RunPython(trigram_indexes_dropped, trigram_indexes_restored),
    ]
