"""The transfers' client key compared byte by byte (ADR 0012, amendment "Taps, fourth pass").

Every transfer inserts its `key` into the unique index `card_transfer_key_unique`; a tap batch of 2,000 inserts
2,000 keys (`tap:<card>:<counter>`) at scattered places of that index, each found by a descent of comparisons. The
column had the database's collation (`C.UTF-8` here), which PostgreSQL 15 compares through `strcoll` after copying
both strings into NUL-terminated buffers; under `"C"` it compares with `memcmp`. Equality is the same under both
(both collations are deterministic: two keys are equal only when their bytes are), so the uniqueness of keys, the
replays and the lookups by key (`key = ANY(...)`, `key IN (...)`) answer exactly as before; only the order of keys
among themselves changes, and nothing orders by key. Measured: inserting 300,000 keys of that shape into a unique
index took 0.69-0.94 of the time under `"C"` (bench/README.md, "Offline taps, fourth pass").

PostgreSQL only: SQLite compares text with `memcmp` already (BINARY) and has no collation named "C"; the model
state does not name the collation (a `db_collation` would be applied on SQLite too), as the triggers of migration
0011 and the indexes of migration 0013 are outside the state.
"""

from django.db import migrations

FORWARD = 'ALTER TABLE card_transfer ALTER COLUMN key TYPE varchar(100) COLLATE "C"'
BACKWARD = 'ALTER TABLE card_transfer ALTER COLUMN key TYPE varchar(100) COLLATE "default"'


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("card", "0013_fewer_index_entries_per_tap")]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
