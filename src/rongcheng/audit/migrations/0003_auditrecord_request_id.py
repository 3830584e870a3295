"""Each record carries the id of the request (or job run) that wrote it.

The column is added by hand, with a constant default, so that no existing record is touched: on PostgreSQL (11 and
newer) adding a column with a constant default rewrites no row, so the append-only triggers of 0002 see no UPDATE; on
SQLite, Django's own AddField would rebuild the table (a NOT NULL column), and a rebuilt table loses the trigger that
queues records for sealing. Records written before this migration keep an empty request id, and the chain hashes an
empty request id as if the field did not exist (`audit.selectors.record_canonical_dict`), so they still verify.

The index leaves those records out. Building it reads the whole trail once while audit writes wait: run the
migration in a maintenance window on a large trail.
"""

from django.db import migrations, models

ADD_COLUMN = "ALTER TABLE audit_record ADD COLUMN request_id varchar(64) DEFAULT '' NOT NULL"
DROP_COLUMN = "ALTER TABLE audit_record DROP COLUMN request_id"


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_triggers'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_COLUMN, DROP_COLUMN)],
            state_operations=[
                migrations.AddField(
                    model_name='auditrecord',
                    name='request_id',
                    field=models.CharField(blank=True, db_default='', max_length=64, verbose_name='请求编号'),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name='auditrecord',
            index=models.Index(condition=models.Q(('request_id', ''), _negated=True), fields=['request_id'], name='audit_record_request_id_idx'),
        ),
    ]
