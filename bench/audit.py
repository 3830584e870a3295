"""Audit trail throughput: does the HMAC-SM3 chain slow down the platform's writers?

Appends per second with 1, 2 and 4 writer processes, each append its own transaction as in a request:
  plain       INSERT of the same row into a copy of the record table (same columns, indexes, defaults), no chain;
  background  audit_record(), sealed by each process's sealer thread (the default AUDIT_SEAL_MODE);
  sidecar     audit_record() in manual mode, sealed meanwhile by one more process, as `audit seal --follow` would;
  inline      audit_record(), sealed after commit by the committing thread when no other sealer is at work.
Then records sealed per second (audit_seal_all over a queue of fresh records) and records verified per second
(audit_verify over the whole chain). Medians of --repeats runs. Every record is sealed and verified at the end.

    uv run python bench/audit.py                      # PostgreSQL at postgres://postgres@127.0.0.1:5432/rc_bench_audit
    uv run python bench/audit.py --database-url sqlite:////tmp/rc_bench_audit.sqlite3

The database is created, migrated and dropped by the script. --smoke: tiny runs, figures meaningless.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _smoke import goal, parse_arguments

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/rc_bench_audit"
MODES = ("plain", "background", "sidecar", "inline")
SIDECAR_INTERVAL = 0.1
WRITER_GRACE = 120  # seconds a writer may take beyond its run before the bench gives up
PLAIN_TABLE = "bench_plain_record"
GOAL = 0.7  # ADR 0004: appends run at 0.7-0.85 of plain INSERTs


def _row(rng: random.Random) -> dict[str, Any]:
    person = rng.randrange(1, 10_000_000)
    return {
        "action": "registries.person.read",
        "target_type": "registries.person",
        "target_id": str(person),
        "purpose": "核验身份",
        "source_address": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "detail": {"fields": ["name", "id_number"], "masked": True},
    }


def _plain_model() -> Any:
    """A model over the plain table, its fields cloned from AuditRecord so the ORM does the same work for both."""
    from django.db import models

    from rongcheng.audit.models import AuditRecord

    attributes: dict[str, Any] = {"__module__": __name__}
    for field in AuditRecord._meta.local_fields:
        attributes[field.name] = field.clone()
    attributes["Meta"] = type("Meta", (), {"app_label": "audit", "db_table": PLAIN_TABLE, "managed": False})
    return type("BenchPlainRecord", (models.Model,), attributes)


def _worker(number: int, commands: Queue[Any], results: Queue[Any]) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections, transaction

    from rongcheng.audit.services import Actor, audit_record
    from rongcheng.kernel.context import RequestContext, running

    plain = _plain_model()
    results.put("ready")
    rng = random.Random(number)
    actor = Actor("user", str(1000 + number), f"officer-{number}")
    while (command := commands.get()) is not None:
        mode, start_at, duration = command
        settings.AUDIT_SEAL_MODE = mode
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + duration
        count = 0
        while time.time() < deadline:
            row = _row(rng)
            # As in a request: the record carries the request's id (and the plain row the same value).
            request = RequestContext(request_id=uuid.uuid4().hex, source_address=row["source_address"])
            with running(request), transaction.atomic():
                if mode == "plain":
                    plain.objects.create(
                        actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label, outcome="success",
                        request_id=request.request_id, **row,
                    )  # fmt: skip
                else:
                    audit_record(actor=actor, **row)
            count += 1
        results.put(count)
    connections.close_all()


def _create_database(url: str) -> None:
    if not url.startswith(("postgres://", "postgresql://")):
        from rongcheng.config.environment import database_from_url

        path = Path(database_from_url(url)["NAME"])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def _drop_database(url: str) -> None:
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _bench_appends(args: argparse.Namespace) -> tuple[dict[tuple[str, int], list[float]], dict[str, list[float]]]:
    context = mp.get_context("spawn")
    most = max(args.writers)
    commands: list[Queue[Any]] = [context.Queue() for _ in range(most)]
    results: Queue[Any] = context.Queue()
    # Daemons: if this process stops early (a writer that never started, a failed run), exiting must not wait for
    # writers still blocked on their command queue.
    workers = [context.Process(target=_worker, args=(n, commands[n], results), daemon=True) for n in range(most)]
    for worker in workers:
        worker.start()
    rates: dict[tuple[str, int], list[float]] = {(mode, n): [] for mode in MODES for n in args.writers}
    from django.db import connections

    from rongcheng.audit.models import AuditPending
    from rongcheng.audit.services import audit_seal_all

    lags: dict[str, list[float]] = {"background": [], "sidecar": []}

    def run(mode: str, writers: int, seconds: float) -> float:
        start_at = time.time() + 0.05
        for commands_of_one in commands[:writers]:
            commands_of_one.put(("manual" if mode == "sidecar" else mode, start_at, seconds))
        counts: list[int] = []
        while len(counts) < writers:
            if mode == "sidecar" and time.time() >= start_at:  # this process plays `audit seal --follow`
                audit_seal_all()
            try:
                counts.append(results.get(timeout=SIDECAR_INTERVAL if mode == "sidecar" else 5))
            except queue.Empty:
                # A writer that died or hangs would otherwise keep this loop waiting for ever.
                if not all(worker.is_alive() for worker in workers[:writers]):
                    raise SystemExit(f"a writer process died during the {mode} run") from None
                if time.time() > start_at + seconds + WRITER_GRACE:
                    raise SystemExit(f"the writers did not finish the {mode} run within {WRITER_GRACE} s") from None
                continue
        if mode in lags:  # how long after the last append until the sealer has caught up
            ended = time.monotonic()
            while AuditPending.objects.exists() and time.monotonic() - ended < 5:
                if mode == "sidecar":
                    audit_seal_all()
                time.sleep(0.005)
            lags[mode].append(time.monotonic() - ended)
        audit_seal_all()
        connections.close_all()
        return sum(counts) / seconds

    try:
        for _ in workers:  # Django's start-up in a fresh process takes seconds on a loaded machine
            if results.get(timeout=180) != "ready":
                raise SystemExit("a writer process failed to start")
        for mode in MODES:  # warm up connections and caches
            run(mode, most, 0.2)
        for _ in range(args.repeats):
            for writers in args.writers:
                for mode in MODES:
                    rates[(mode, writers)].append(run(mode, writers, args.seconds))
    finally:
        for commands_of_one in commands:
            commands_of_one.put(None)
        for worker in workers:
            worker.join(timeout=30)
    return rates, lags


def _bench_seal_and_verify(args: argparse.Namespace) -> tuple[list[float], list[float], int]:
    from django.db import transaction

    from rongcheng.audit.models import AuditRecord
    from rongcheng.audit.selectors import audit_verify
    from rongcheng.audit.services import audit_seal_all

    audit_seal_all()  # what the manual runs left queued
    rng = random.Random(0)
    seal_rates, verify_rates = [], []
    checked = 0
    for _ in range(args.repeats):
        with transaction.atomic():
            AuditRecord.objects.bulk_create(  # the trigger queues them
                AuditRecord(
                    actor_kind="user",
                    actor_id="1",
                    actor_label="officer",
                    outcome="success",
                    request_id=uuid.uuid4().hex,
                    **_row(rng),
                )
                for _ in range(args.seal_batch)
            )
        began = time.perf_counter()
        sealed = audit_seal_all()
        seal_rates.append(sealed / (time.perf_counter() - began))

        began = time.perf_counter()
        result = audit_verify()
        verify_rates.append(result.checked / (time.perf_counter() - began))
        if not result.ok:
            raise SystemExit(f"the chain does not verify: {result.message}")
        checked = result.checked
    return seal_rates, verify_rates, checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_AUDIT_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=0.8, help="length of each append run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--writers", type=lambda s: [int(n) for n in s.split(",")], default=[1, 2, 4])
    parser.add_argument("--seal-batch", type=int, default=10_000, help="records queued for each sealing run")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parse_arguments(parser, seconds=0.15, repeats=1, writers=[1, 2], seal_batch=200)
    if args.smoke and args.database_url == DEFAULT_URL:
        args.database_url = f"{DEFAULT_URL}_smoke_{os.getpid()}"  # never the database of a full run beside it

    began = time.perf_counter()
    os.environ["DJANGO_SETTINGS_MODULE"] = "rongcheng.config.settings"
    os.environ["DATABASE_URL"] = args.database_url
    data_dir = tempfile.mkdtemp(prefix="rc-bench-audit-")
    os.environ["RONGCHENG_DATA_DIR"] = data_dir
    os.environ.setdefault("RONGCHENG_AUDIT_CHAIN_KEY", "bench-audit-chain-key")
    _create_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", "audit", verbosity=0)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TABLE {PLAIN_TABLE} (LIKE audit_record INCLUDING ALL)")
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_record' AND type IN ('table', 'index') "
                "AND sql IS NOT NULL"
            )
            for (sql,) in cursor.fetchall():
                renamed = sql.replace('"audit_record"', f'"{PLAIN_TABLE}"').replace("audit_record_", "bench_plain_")
                cursor.execute(renamed.replace("INDEX ", "INDEX IF NOT EXISTS ", 1))
    vendor = connection.vendor
    connections.close_all()

    try:
        rates, lags = _bench_appends(args)
        seal_rates, verify_rates, checked = _bench_seal_and_verify(args)
    finally:
        connections.close_all()
        if not args.keep:
            _drop_database(args.database_url)
        shutil.rmtree(data_dir, ignore_errors=True)

    print(f"audit trail bench on {vendor} ({os.cpu_count()} CPUs), medians of {args.repeats} runs")
    print(f"appends per second, each in its own transaction, {args.seconds:g} s runs (ratio to plain):")
    print(f"  {'writers':>7}  {'plain':>7}" + "".join(f"  {mode:>17}" for mode in MODES[1:]))
    for writers in args.writers:
        plain = statistics.median(rates[("plain", writers)])
        cells = []
        for mode in MODES[1:]:
            rate = statistics.median(rates[(mode, writers)])
            cells.append(f"  {rate:>9.0f} ({rate / plain:4.2f})")
        print(f"  {writers:>7}  {plain:>7.0f}" + "".join(cells))
    for mode, values in lags.items():
        lag = f"{statistics.median(values):.2f} s median, {max(values):.2f} s worst"
        print(f"{mode} sealing lag after the last append: {lag}")
    print(f"sealing:      {statistics.median(seal_rates):>9.0f} records/s ({args.seal_batch} queued per run)")
    print(f"verification: {statistics.median(verify_rates):>9.0f} records/s (whole chain, {checked} records)")
    print(f"total time {time.perf_counter() - began:.0f} s")
    for writers in args.writers:
        ratio = statistics.median(rates[("background", writers)]) / statistics.median(rates[("plain", writers)])
        goal(
            f"chained appends >= {GOAL} of plain INSERTs, {writers} writer(s) (ADR 0004)", f"{ratio:.2f}", ratio >= GOAL
        )


if __name__ == "__main__":
    main()
