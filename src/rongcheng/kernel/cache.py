"""The cache shared by every worker process: Django's database cache with an atomic `incr`.

Rate limits count requests across all the workers granian runs, so their counters cannot live in one process's
memory. Django's database cache is shared, but its `incr` reads and writes in two statements: two workers counting
at once would both write n+1. Here the row is locked (PostgreSQL: SELECT … FOR UPDATE; SQLite: the IMMEDIATE
transaction holds the database's write lock) from the read to the write, and the row keeps its expiry.

Counters (the rate limits' windows) do not need pickled values: `count` keeps them in their own table and adds one
in a single statement (an upsert that restarts an expired window and returns the new count), so a counted request
costs one round trip to the database instead of a transaction of three or four.
"""

from __future__ import annotations

import base64
import pickle
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.utils import timezone

COUNTER_TABLE = "rongcheng_shared_counter"  # created by kernel migration 0002

# One statement on PostgreSQL and SQLite (3.35+): a new key starts at 1; an expired window starts again at 1 with a
# new expiry; otherwise the count goes up by one and the window keeps its expiry. In the SET list both columns see
# the row as it was, so the expiry test is the same in both assignments.
_COUNT_SQL = (
    f"INSERT INTO {COUNTER_TABLE} (counter_key, count, expires) VALUES (%s, 1, %s) "  # noqa: S608 - constant names
    f"ON CONFLICT (counter_key) DO UPDATE SET "
    f"count = CASE WHEN {COUNTER_TABLE}.expires < %s THEN 1 ELSE {COUNTER_TABLE}.count + 1 END, "
    f"expires = CASE WHEN {COUNTER_TABLE}.expires < %s THEN excluded.expires ELSE {COUNTER_TABLE}.expires END "
    f"RETURNING count"
)


# On PostgreSQL the same upsert, committed without waiting for the WAL flush: `set_config(..., true)` holds for the
# statement's own transaction (autocommit), whose commit reads it. A counter lost in a database crash lets a few
# requests more through one window; waiting for the disk cost a rate-limited request most of its time (a grant at
# /oauth/token/ waited twice: for its counter and its token row). Never used inside a caller's transaction, whose
# commit would lose its guarantee too.
_COUNT_SQL_ASYNC = _COUNT_SQL.replace(
    "VALUES (%s, 1, %s) ", "SELECT %s, 1, %s FROM (SELECT set_config('synchronous_commit', 'off', true)) AS a "
)


def _count_many_sql(rows: int, *, alone: bool) -> str:
    """The upsert of `rows` counters, each by its own amount: `_COUNT_SQL` for several keys in one statement."""
    table = COUNTER_TABLE
    if alone:  # PostgreSQL, outside a transaction: as _COUNT_SQL_ASYNC, the commit does not wait for the disk
        values = ", ".join(["(%s, %s::bigint, %s::double precision)"] * rows)
        source = (
            f"SELECT v.k, v.c, v.e FROM (VALUES {values}) AS v (k, c, e), "  # noqa: S608 - placeholders only
            f"(SELECT set_config('synchronous_commit', 'off', true)) AS a "
        )
    else:
        source = "VALUES " + ", ".join(["(%s, %s, %s)"] * rows) + " "
    return (
        f"INSERT INTO {table} (counter_key, count, expires) {source}"
        f"ON CONFLICT (counter_key) DO UPDATE SET "
        f"count = CASE WHEN {table}.expires < %s THEN excluded.count ELSE {table}.count + excluded.count END, "
        f"expires = CASE WHEN {table}.expires < %s THEN excluded.expires ELSE {table}.expires END "
        f"RETURNING counter_key, count"
    )


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

    def count(self, key: str, *, timeout: int) -> int:
        """Add one to the counter `key`, whose window lasts `timeout` seconds from its first count; the new count."""
        full_key = self.make_and_validate_key(key)
        now = time.time()
        connection = connections[router.db_for_write(self.cache_model_class)]
        alone = connection.vendor == "postgresql" and not connection.in_atomic_block
        with connection.cursor() as cursor:
            cursor.execute(_COUNT_SQL_ASYNC if alone else _COUNT_SQL, [full_key, now + timeout, now, now])
            (value,) = cursor.fetchone()
        return int(value)

    def count_many(self, amounts: dict[str, tuple[int, int]]) -> dict[str, int]:
        """Add to each counter of `amounts` (key: (amount, timeout)) in one statement; the new counts by key.

        A counter is created or restarted (its window expired) with `amount` and an expiry `timeout` seconds away, as
        `count` does for one. The rate limiter's batched scopes hand each worker's counts over this way.
        """
        if not amounts:
            return {}
        full = {self.make_and_validate_key(key): key for key in amounts}
        now = time.time()
        connection = connections[router.db_for_write(self.cache_model_class)]
        alone = connection.vendor == "postgresql" and not connection.in_atomic_block
        params: list[Any] = []
        for full_key, key in full.items():
            amount, timeout = amounts[key]
            params += [full_key, amount, now + timeout]
        with connection.cursor() as cursor:
            cursor.execute(_count_many_sql(len(full), alone=alone), [*params, now, now])
            return {full[full_key]: int(value) for full_key, value in cursor.fetchall()}

    def counts(self, keys: Iterable[str]) -> dict[str, int]:
        """The current counts of those of `keys` whose window has not expired (one query)."""
        full = {self.make_and_validate_key(key): key for key in keys}
        if not full:
            return {}
        marks = ", ".join(["%s"] * len(full))
        with connections[router.db_for_read(self.cache_model_class)].cursor() as cursor:
            cursor.execute(
                f"SELECT counter_key, count FROM {COUNTER_TABLE} WHERE counter_key IN ({marks}) AND expires >= %s",  # noqa: S608 - placeholders only
                [*full, time.time()],
            )
            return {full[key]: int(value) for key, value in cursor.fetchall()}

    def clear(self) -> None:
        super().clear()
        with connections[router.db_for_write(self.cache_model_class)].cursor() as cursor:
            cursor.execute(f"DELETE FROM {COUNTER_TABLE}")  # noqa: S608 - constant name

    def expired_delete(self) -> int:
        """Delete the expired rows and counters (Django deletes rows only when the table is over MAX_ENTRIES)."""
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(self.table_name)} WHERE {quote('expires')} < %s",  # noqa: S608 - quoted names
                [connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))],
            )
            deleted = int(cursor.rowcount)
            cursor.execute(f"DELETE FROM {COUNTER_TABLE} WHERE expires < %s", [time.time()])  # noqa: S608 - constant
            return deleted + int(cursor.rowcount)


def _as_datetime(connection: Any, value: Any) -> Any:
    from django.db import models

    expression = models.Expression(output_field=models.DateTimeField())
    for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
        value = converter(value, expression, connection)
    return value
