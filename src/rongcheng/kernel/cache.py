"""The cache shared by every worker process: Django's database cache with an atomic `incr`.

Rate limits count requests across all the workers granian runs, so their counters cannot live in one process's
memory. Django's database cache is shared, but its `incr` reads and writes in two statements: two workers counting
at once would both write n+1. Here the row is locked (PostgreSQL: SELECT … FOR UPDATE; SQLite: the IMMEDIATE
transaction holds the database's write lock) from the read to the write, and the row keeps its expiry.
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.utils import timezone


class SharedDatabaseCache(DatabaseCache):
    @property
    def table_name(self) -> str:
        return str(self._table)  # type: ignore[attr-defined]  # set by BaseDatabaseCache, untyped in the stubs

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        full_key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table = quote(self.table_name)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote('value')}, {quote('expires')} FROM {table} WHERE {quote('cache_key')} = %s{lock}",  # noqa: S608 - quoted names
                [full_key],
            )
            row = cursor.fetchone()
            if row is None or _as_datetime(connection, row[1]) < timezone.now():
                raise ValueError(f"Key '{key}' not found.")
            value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode()))  # noqa: S301 - own rows
            value += delta
            cursor.execute(
                f"UPDATE {table} SET {quote('value')} = %s WHERE {quote('cache_key')} = %s",  # noqa: S608 - quoted names
                [base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1"), full_key],
            )
        return int(value)

    def expired_delete(self) -> int:
        """Delete the expired rows (Django deletes them only when the table is over MAX_ENTRIES)."""
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(self.table_name)} WHERE {quote('expires')} < %s",  # noqa: S608 - quoted names
                [connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))],
            )
            return int(cursor.rowcount)


def _as_datetime(connection: Any, value: Any) -> Any:
    from django.db import models

    expression = models.Expression(output_field=models.DateTimeField())
    for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
        value = converter(value, expression, connection)
    return value
