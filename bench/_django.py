"""Helpers for benchmarks that need Django: a throwaway database per run, never the developer's own."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _server import _drop_database, create_database, fill_data_dir

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def _remove(data_dir: str, database: str | None) -> None:
    if database:
        _drop_database(database)
    shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def throwaway_database(kind: str) -> Iterator[dict[str, str]]:
    """Environment for a fresh data directory and, for PostgreSQL, a fresh database; both removed at exit.

    Removed at the process's exit, not at the end of the block: the audit sealer seals what is left at exit, and
    this handler, registered before the sealer's, runs after it. With the smoke runner's template (BENCH_TEMPLATE_DIR,
    BENCH_TEMPLATE_DATABASE) the copy is already migrated.
    """
    data_dir = tempfile.mkdtemp(prefix="rc-bench-")
    fill_data_dir(Path(data_dir))
    env = {"RONGCHENG_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings"}
    prefix = os.environ.get("BENCH_DATABASE_PREFIX", "rc_bench")  # a session on a shared server keeps to its own names
    name = None if kind == "sqlite" else f"{prefix}_{os.getpid()}_{int(time.time())}"
    atexit.register(_remove, data_dir, name)
    if name:
        create_database(name)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    else:
        os.environ.pop("DATABASE_URL", None)  # the SQLite file in the data directory, whatever the caller's
    yield env


def setup_django(env: dict[str, str], migrate: bool = True) -> None:
    os.environ.update(env)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def median_rate(work: Callable[[], int], repeats: int, before: Callable[[], None] | None = None) -> float:
    """Median of `repeats` runs of work() (which returns the number of items done), in items per second."""
    rates = []
    for _ in range(repeats):
        if before:
            before()
        start = time.perf_counter()
        done = work()
        rates.append(done / (time.perf_counter() - start))
    return statistics.median(rates)


@dataclass
class Statements:
    """SQL statements one piece of work sent on this thread's connection, how many wrote, and the commits it made
    (an outermost atomic block's commit, or a write outside any block: its own commit under autocommit). Work done
    by the audit sealer's own thread and connection is not counted: it seals many records per transaction."""

    statements: int = 0
    writes: int = 0
    commits: int = 0

    def __str__(self) -> str:
        return f"{self.statements} statements ({self.writes} writes), {self.commits} commits"


_MODIFYING = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@contextmanager
def counting_statements() -> Iterator[Statements]:
    from django.db import connection

    counts = Statements()

    def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        counts.statements += 1
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if verb == "WITH" and _MODIFYING.search(sql):  # a data-modifying WITH (several tables' rows in one statement)
            verb = "INSERT"
        if verb in {"INSERT", "UPDATE", "DELETE", "COPY"}:
            counts.writes += 1
            if not context["connection"].in_atomic_block:
                counts.commits += 1
        return execute(sql, params, many, context)

    original = connection.commit

    def commit() -> None:
        counts.commits += 1
        original()

    connection.commit = commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(counter):
            yield counts
    finally:
        del connection.commit
