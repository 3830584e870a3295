"""Benchmarks that cannot rot: every script in bench/ runs in smoke mode (tiny sizes, seconds) as part of the suite.

On PostgreSQL (DATABASE_URL names one) every script runs against PostgreSQL; on SQLite the scripts that can run on
SQLite do, and those that need PostgreSQL are skipped with the reason. A smoke run fails only when the benchmark
itself breaks (an exception, a wrong answer, a refused request); a goal not met is printed, not fatal.

To stay within a minute or two, the scripts share one migrated template: a data directory (keys, SQLite file) and,
on PostgreSQL, a database each script copies with CREATE DATABASE ... TEMPLATE instead of migrating its own; and
they run a few at a time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
PG_SERVER = "postgres://postgres@127.0.0.1:5432"  # where the scripts make their databases (bench/_server.py)
PARALLEL = 3
TIMEOUT = 600

# script: (arguments on SQLite, or None when it needs PostgreSQL; arguments on PostgreSQL)
SCRIPTS: dict[str, tuple[list[str] | None, list[str]]] = {
    "crypto.py": ([], []),
    "identifiers.py": ([], []),
    "audit.py": (["--database-url", "sqlite:///{data}/audit-smoke.sqlite3"], []),
    "hall_throughput.py": (["--database", "sqlite"], ["--database", "postgresql"]),
    "identity_signin.py": ([], ["--postgres"]),
    "licences_sign_verify.py": ([], ["--postgres"]),
    "staff_permissions.py": ([], ["--postgres"]),
    "seed.py": (["--database", "sqlite"], ["--database", "postgres"]),
    "registries_import.py": (None, []),
    "oidc_tokens.py": (None, []),
    "pages.py": (None, []),
    "hall_queues.py": (None, []),
    "licences_holder_lookup.py": (None, []),
    "registries_lookup.py": (None, []),
    "spatial.py": (["--database", "sqlite"], ["--database", "postgres"]),
    "card_ledger.py": (["--database", "sqlite"], ["--database", "postgresql"]),
    "catalogue.py": (None, []),
    "catalogue_exchange.py": (None, []),
    "cases.py": (["--database", "sqlite"], ["--database", "postgresql"]),
    "operations.py": (["--database", "sqlite"], ["--database", "postgres"]),
    "credit.py": (None, []),
}
# Under pytest-xdist (`--dist loadgroup`) every test of this module runs in one worker, so the scripts run once.
pytestmark = pytest.mark.xdist_group("bench-smoke")
GOAL_LINE = re.compile(r"^goal: .+: .+ -> (met|NOT MET)$", re.MULTILINE)


@dataclass
class Outcome:
    returncode: int
    output: str
    seconds: float


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql],
        check=True,
        capture_output=True,
    )


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RONGCHENG_DATA_DIR"}}
    env.update({"BENCH_SMOKE": "1", "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings"})
    env.update(extra)
    return env


def _run(script: str, arguments: list[str], env: dict[str, str]) -> Outcome:
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH / script), "--smoke", *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        return Outcome(-1, f"timed out after {TIMEOUT} s\n{output}", time.monotonic() - began)
    return Outcome(done.returncode, done.stdout + done.stderr, time.monotonic() - began)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Outcome]]]:
    """Every script's smoke run, started a few at a time on one migrated template; each test waits for its own."""
    template_dir = tmp_path_factory.mktemp("bench-template")
    extra = {"BENCH_TEMPLATE_DIR": str(template_dir)}
    template_database = f"rc_bench_template_{os.getpid()}"
    if ON_POSTGRES:
        _psql(f'DROP DATABASE IF EXISTS "{template_database}"')
        _psql(f'CREATE DATABASE "{template_database}"')
        extra["BENCH_TEMPLATE_DATABASE"] = template_database
    migrate_env = _environment(RONGCHENG_DATA_DIR=str(template_dir))
    if ON_POSTGRES:
        migrate_env["DATABASE_URL"] = f"{PG_SERVER}/{template_database}"
    subprocess.run(
        [sys.executable, "-m", "rongcheng.cli", "manage", "migrate", "--verbosity", "0"], env=migrate_env, check=True
    )
    env = _environment(**extra)
    data = tmp_path_factory.mktemp("bench-data")
    pool = ThreadPoolExecutor(max_workers=PARALLEL)
    runs: dict[str, Future[Outcome]] = {}
    for script, (on_sqlite, on_postgres) in SCRIPTS.items():
        arguments = on_postgres if ON_POSTGRES else on_sqlite
        if arguments is not None:
            runs[script] = pool.submit(_run, script, [a.format(data=data) for a in arguments], env)
    try:
        yield runs
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if ON_POSTGRES:
            _psql(f'DROP DATABASE IF EXISTS "{template_database}" WITH (FORCE)')


def test_every_script_in_bench_is_smoke_tested() -> None:
    scripts = {path.name for path in BENCH.glob("*.py") if not path.name.startswith("_")}
    assert scripts == set(SCRIPTS)


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_benchmark_runs_in_smoke_mode_and_reports_goals(script: str, smoke_runs: dict[str, Future[Outcome]]) -> None:
    if script not in smoke_runs:
        pytest.skip(f"{script} needs PostgreSQL: it runs when DATABASE_URL names a PostgreSQL database")
    outcome = smoke_runs[script].result()
    assert outcome.returncode == 0, f"{script} failed after {outcome.seconds:.0f} s:\n{outcome.output[-4000:]}"
    assert "SMOKE RUN" in outcome.output
    assert GOAL_LINE.search(outcome.output), f"{script} printed no goal line:\n{outcome.output[-2000:]}"
