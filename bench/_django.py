"""Helpers for benchmarks that need Django: a throwaway database per run, never the developer's own."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


@contextmanager
def throwaway_database(kind: str) -> Iterator[dict[str, str]]:
    """Environment for a fresh data directory and, for PostgreSQL, a database dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="rc-bench-") as data_dir:
        env = {"RONGCHENG_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings"}
        if kind == "sqlite":
            yield env
            return
        name = f"rc_bench_{os.getpid()}_{int(time.time())}"
        subprocess.run(
            ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f'CREATE DATABASE "{name}"'], check=True
        )
        try:
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
            yield env
        finally:
            subprocess.run(
                [
                    "psql",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-c",
                    f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                ],
                check=False,
            )


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
