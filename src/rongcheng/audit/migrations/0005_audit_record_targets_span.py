"""PostgreSQL: a page-read record is found by the span of the targets it lists, not by each target (ADR 0004, amended
2026-12-07, second pass), and a record's detail is compressed with LZ4 where the server has it.

The GIN index of migration 0004 took a page's thousand targets into its pending list at every page read (about 0.3 ms
a page of 1,000 on this project's bench machine), and the statement that filled the list to `gin_pending_list_limit`
paid its merge (40-50 ms, every ~170 pages). The page's targets are integer keys listed in ascending order
(`audit_record_page`), so the first and the last of the list bound them: a GiST index over that span (one entry a
record) finds the records whose span covers a target, and `target_condition` keeps the exact test of the list
(`detail -> 'targets' @> '["<id>"]'`), checked on those few records only. Measured side by side on the exchange's
pages of 1,000 persons: 0.425 -> 0.470 and 0.438 -> 0.469 of a bare query of the same persons (bench/README.md).

LZ4 (`SET COMPRESSION lz4`, PostgreSQL 14+, when the server was built with it: `default_toast_compression` lists
it) compresses a new record's detail faster than the default pglz; records already written keep their compression
(read back the same either way). Both are changes of storage, not of what a record says: nothing sealed changes.

Built CONCURRENTLY (outside a transaction), so a large trail keeps taking records while the index is built; the GIN
index is dropped after the new one exists. SQLite: nothing (pages are recorded one record per target there).
"""

from django.db import migrations

SPAN = "int8range(((detail -> 'targets') ->> 0)::bigint, ((detail -> 'targets') ->> -1)::bigint, '[]')"
FORWARD = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_record_targets_span_idx ON audit_record USING gist ({SPAN}) "
    "WHERE detail ? 'targets'",
    "DROP INDEX CONCURRENTLY IF EXISTS audit_record_targets_idx",
)
BACKWARD = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_record_targets_idx ON audit_record "
    "USING gin ((detail -> 'targets') jsonb_path_ops) WHERE detail ? 'targets'",
    "DROP INDEX CONCURRENTLY IF EXISTS audit_record_targets_span_idx",
)
LZ4_AVAILABLE = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


def _compression(schema_editor, method: str) -> None:  # type: ignore[no-untyped-def]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(LZ4_AVAILABLE)
        row = cursor.fetchone()
    if row and row[0]:
        schema_editor.execute(f"ALTER TABLE audit_record ALTER COLUMN detail SET COMPRESSION {method}", params=None)


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement, params=None)
        _compression(schema_editor, "lz4")


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement, params=None)
        _compression(schema_editor, "default")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("audit", "0004_audit_record_targets_index")]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
