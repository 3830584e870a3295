"""The counters of the `shared` cache (rate-limit windows): one row per key, incremented by one upsert."""

from django.db import migrations

from rongcheng.kernel.cache import COUNTER_TABLE


class Migration(migrations.Migration):
    dependencies = [("kernel", "0001_shared_cache_table")]

    operations = [
        migrations.RunSQL(
            f"CREATE TABLE {COUNTER_TABLE} (counter_key varchar(255) NOT NULL PRIMARY KEY, "
            "count bigint NOT NULL, expires double precision NOT NULL)",
            f"DROP TABLE {COUNTER_TABLE}",
        )
    ]
