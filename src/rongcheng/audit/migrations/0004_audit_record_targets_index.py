"""PostgreSQL: a GIN index over the targets a page-read record lists (`audit.selectors.TARGETS`, ADR 0004 amended
2026-12-07), so "who read my data" and the auditors' search by target find a person in the record of a page of a
thousand persons read at once, as the b-tree audit_record_target_idx finds a record naming one target.

Partial: only records whose detail has the key are in it, so every other record's INSERT pays nothing for it. Its
expression is the one the ORM writes for `detail__targets__contains` (`detail -> 'targets'`), and jsonb_path_ops
indexes each listed target as one hash (containment only, which is all `target_condition` asks). GIN's fast update
(on by default) queues a new record's entries in the index's pending list, so the INSERT of a page's record adds a
thousand entries to a list instead of a thousand searches of the tree; VACUUM (autovacuum) or a full list
(gin_pending_list_limit, 4 MB) merges them.

Built CONCURRENTLY (outside a transaction), so a large trail keeps taking records while it is built. SQLite gets no
index: pages are recorded there one record per target (`audit_record_many`), found by audit_record_target_idx.
"""

from django.db import migrations

FORWARD = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_record_targets_idx ON audit_record "
    "USING gin ((detail -> 'targets') jsonb_path_ops) WHERE detail ? 'targets'"
)
BACKWARD = "DROP INDEX CONCURRENTLY IF EXISTS audit_record_targets_idx"


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("audit", "0003_auditrecord_request_id")]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
