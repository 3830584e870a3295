"""Person lookup by ID number through the API, over HTTP against the production server, and the cost of masking and
auditing every read.

Claims checked:
  * With 8.5 million persons and 1.3 million legal entities in PostgreSQL, lookup by ID number through the API has
    a p99 under 10 ms on the 2-core machine, measured over HTTP against `rongcheng serve --workers 2` (granian).
  * Masking and audit on every read do not halve read throughput.

Steps: create the database `rc_bench_lookup` and seed it with `rongcheng seed` (minutes at full size; --reuse keeps
the database and its keys for the next run); start `rongcheng serve --workers 2` with RONGCHENG_AUDIT_SEAL_MODE=
background and RONGCHENG_AUDIT_READ_COMMIT from --read-commit (durable by default: every read's record flushed before
its answer; async is ADR 0011's opt-in, the operator's choice) on a free port; register an API client entitled to
every person field for the purpose public_security and fetch its token at /oauth/token/; look up random seeded ID
numbers (the demo generator gives the ID number of person i for seed 2017), first over one keep-alive connection,
then over --connections in parallel (both closed loads: each connection sends its next lookup when the last is
answered), then an open load of --rate lookups a second over --connections (latencies from when each was due):
p50/p90/p99 latency and requests per second, every answer checked to be 200
with the person in clear, the CPU the server's workers and its PostgreSQL backends spent per lookup, and the load
average when the timing began (the machine may be shared). The load comes from wrk when it is installed (as
`.ci/run` installs it; each request the next ID number, for --seconds), else from Python threads in this process
(--requests; BENCH_LOAD=python forces them), whose own CPU and interpreter lock then share the two cores.

Masking and audit cannot be switched off in the server, so their cost is measured in this process, in the same run:
reads per second of `person_read_by_id_number` (purpose check, permission, entitlements, masking or decryption, one
audit record committed per read) for a client entitled to clear fields and for one that sees them masked, against a
bare ORM lookup by blind index of the same ID numbers (both ratios printed); and through the whole API stack in
process (Django's test client: middleware, token, permissions, entitlements), lookups that find a person (masked or
decrypted, audited) against lookups of valid ID numbers nobody holds (the same queries, no masking, no audit record).

    uv run python bench/registries_lookup.py                               # full size (seeding takes long)
    uv run python bench/registries_lookup.py --persons 200000 --entities 20000
    uv run python bench/registries_lookup.py --reuse                       # keep rc_bench_lookup for the next run
    uv run python bench/registries_lookup.py --reuse --read-commit async   # records of reads committed unflushed
    uv run python bench/registries_lookup.py --database-name rc_mine --reuse  # own database and data dir
    uv run python bench/registries_lookup.py --database-url postgres://...  # an already seeded database; give it
                                                                           # the keys it was seeded with (env)
"""

from __future__ import annotations

import argparse
import atexit
import base64
import http.client
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _django import Statements, counting_statements
from _server import (
    WRK,
    _cli,
    _database_exists,
    _drop_database,
    _free_port,
    _stop,
    _wait_for,
    connections_per_worker,
    cpu_seconds,
    create_database,
    fill_data_dir,
    server_workers,
    wrk_load,
)
from _smoke import goal, parse_arguments

PG_HOST = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rc_bench_lookup"
PURPOSE = "public_security"
SEED = 2017
DATA_DIR = Path(tempfile.gettempdir()) / "rc_bench_lookup"  # its keys must outlive the run when the database does


def _id_numbers(persons: int, count: int, rng: random.Random) -> list[str]:
    from rongcheng.demo.generator import person_rows

    return [next(person_rows(SEED, rng.randrange(persons), 1)).id_number for _ in range(count)]


@dataclass
class Load:
    latencies: list[float]  # every latency (the Python client), or none when wrk brings its percentiles
    seconds: float
    failures: int
    spread: list[int]  # the client's connections held by each server worker, largest first
    cpu: float  # CPU seconds the server's workers spent in the run
    database_cpu: float = 0.0  # CPU seconds of the server's PostgreSQL backends in the run (0 when unreadable)
    count: int | None = None
    percentiles: dict[int, float] | None = None  # milliseconds, from wrk

    @property
    def lookups(self) -> int:
        return len(self.latencies) if self.count is None else self.count

    def percentile(self, p: int) -> float:
        if self.percentiles is not None:
            return self.percentiles[p]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    @property
    def maximum(self) -> str:
        return f"{max(self.latencies) * 1000:.2f}" if self.latencies else "-"

    @property
    def rate(self) -> float:
        return self.lookups / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Server CPU per lookup, milliseconds (its workers' user and system time over the run)."""
        return self.cpu * 1000 / self.lookups

    @property
    def database_cpu_ms(self) -> float:
        return self.database_cpu * 1000 / self.lookups


def _backends(database: str) -> list[int]:
    """The PostgreSQL backends connected to `database` (the server's workers' connections among them)."""
    from psycopg import connect

    with connect(f"{PG_HOST}/postgres", autocommit=True) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)).fetchall()
    return [pid for (pid,) in rows]


def _lookups_wrk(
    port: int, token: str, id_numbers: Sequence[str], connections: int, workers: list[int], seconds: float,
    database: str,
) -> Load:  # fmt: skip
    """wrk's C event loop holds the connections and times each request; each request asks for the next ID number
    (in the body, never the URL); every answer must be 200 with the person in clear. The spread over the server's
    workers is read a moment into the run, while wrk holds its connections."""
    backends = _backends(database)
    spread: list[int] = []
    sampler = threading.Timer(min(1.0, seconds / 2), lambda: spread.extend(connections_per_worker(workers, port, None)))
    bodies = [json.dumps({"id_number": id_number, "purpose": PURPOSE}) for id_number in id_numbers]
    cpu_before, database_before = cpu_seconds(workers), {pid: cpu_seconds([pid]) for pid in backends}
    sampler.start()
    load = wrk_load(
        port, "/api/v1/registries/persons/by-id-number", expect=b'"id_number": "35', connections=connections,
        seconds=seconds, method="POST", bodies=bodies,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    sampler.join()
    cpu = cpu_seconds(workers) - cpu_before
    # A backend that ended in the run (another session's) reads as 0 after it: only those alive at both ends count.
    after = {pid: cpu_seconds([pid]) for pid in backends}
    database_cpu = sum(max(after[pid] - before, 0.0) for pid, before in database_before.items())
    return Load([], load.seconds, load.failures, spread, cpu, database_cpu, load.count, load.percentiles)


def _lookups(
    port: int, token: str, id_numbers: Sequence[str], connections: int, workers: list[int], *,
    rate: float | None = None, seconds: float = 0.0,
) -> Load:  # fmt: skip
    """Each thread keeps one HTTP/1.1 connection, open until the spread over the server's workers is read; every
    answer must be 200 with the person in clear.

    A closed load (no `rate`): each connection sends its share of `id_numbers` one after the other, each timed from
    send to the last byte of the body. An open load: `rate` lookups a second offered over the connections for
    `seconds`, each connection on its own schedule (connection i at i/rate, then every connections/rate seconds). A
    latency then runs from the time the request was due, not from when it was sent, so a connection that fell behind
    counts the wait it caused (no coordinated omission: a closed load that waits for each answer before sending the
    next measures less than the callers would wait); when the last answer came in time, from when the request was
    sent (the client's sleep overshooting its due time is not the server's)."""
    results: list[list[float]] = [[] for _ in range(connections)]
    failures = [0] * connections
    ports = [0] * connections
    start, done, release = (threading.Barrier(connections + 1) for _ in range(3))
    began = [0.0]

    def run(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        out, share = results[number], id_numbers[number::connections]
        start.wait()
        count = len(share) if rate is None else int(seconds * rate / connections)
        for k in range(count):
            id_number = share[k % len(share)]
            due = time.perf_counter()
            if rate is not None:
                due = began[0] + (number + k * connections) / rate
                pause = due - time.perf_counter()
                if pause > 0:  # the last answer came in time: the wait from here on is this client's timer
                    time.sleep(pause)
                    due = time.perf_counter()
            request_body = json.dumps({"id_number": id_number, "purpose": PURPOSE})
            connection.request("POST", "/api/v1/registries/persons/by-id-number", body=request_body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            out.append(time.perf_counter() - due)
            if response.status != 200 or id_number.encode() not in body:
                failures[number] += 1
        ports[number] = connection.sock.getsockname()[1] if connection.sock else 0
        done.wait()
        release.wait()
        connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    cpu_before = cpu_seconds(workers)
    began[0] = time.perf_counter() + (0.05 if rate is not None else 0.0)  # an open load's first request is due then
    start.wait()
    done.wait()
    elapsed = time.perf_counter() - began[0]
    cpu = cpu_seconds(workers) - cpu_before
    spread = connections_per_worker(workers, port, ports)
    release.wait()
    for thread in threads:
        thread.join()
    return Load([t for r in results for t in r], elapsed, sum(failures), spread, cpu)


def _token(port: int, client_id: str, secret: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    connection.request(
        "POST",
        "/oauth/token/",
        body="grant_type=client_credentials&scope=registries:read",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    document = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"no token: {response.status} {document}")
    return str(document["access_token"])


def _rate(work: Callable[[Sequence[str]], None], id_numbers: Sequence[str], repeats: int) -> float:
    """Median reads per second over `repeats` passes, each over its own slice of the ID numbers."""
    size = len(id_numbers) // repeats
    rates = []
    for number in range(repeats):
        batch = id_numbers[number * size : (number + 1) * size]
        began = time.perf_counter()
        work(batch)
        rates.append(len(batch) / (time.perf_counter() - began))
    return statistics.median(rates)


def _in_process(
    clear_user: Any,
    masked_user: Any,
    token: str,
    host: str,
    id_numbers: Sequence[str],
    absent: Sequence[str],
    repeats: int,
) -> dict[str, float]:
    from django.test import Client

    from rongcheng.kernel.context import RequestContext, running
    from rongcheng.registries.models import Person
    from rongcheng.registries.permissions import reader_for
    from rongcheng.registries.protection import index_of
    from rongcheng.registries.selectors import person_read_by_id_number

    def bare(batch: Sequence[str]) -> None:
        for id_number in batch:
            index = index_of("person.id_number", id_number)
            person = Person.objects.select_related("address").filter(id_number_index=index).first()
            assert person is not None  # noqa: S101 - a bench that read nothing measures nothing

    def selector(user: Any) -> Callable[[Sequence[str]], None]:
        def work(batch: Sequence[str]) -> None:
            for id_number in batch:
                # A new reader per read, as each request builds one; its user's permission cache persists, as the
                # server's does not: the server also pays for loading the user with its token.
                reader = reader_for(user)
                with running(RequestContext(request_id=uuid.uuid4().hex, source_address="127.0.0.1")):
                    person_read_by_id_number(reader=reader, id_number=id_number, purpose=PURPOSE)

        return work

    # The token names the server it came from as its issuer: the test client must present the same host.
    client = Client(HTTP_HOST=host, headers={"Authorization": f"Bearer {token}"})

    def api(expected: int) -> Callable[[Sequence[str]], None]:
        def work(batch: Sequence[str]) -> None:
            for id_number in batch:
                response = client.post(
                    "/api/v1/registries/persons/by-id-number",
                    {"id_number": id_number, "purpose": PURPOSE},
                    content_type="application/json",
                )
                if response.status_code != expected:  # a wrong answer measures nothing
                    raise SystemExit(
                        f"in-process API: {response.status_code}, expected {expected}: {response.content[:300]!r}"
                    )

        return work

    logging.getLogger("django.request").setLevel(logging.ERROR)  # one "Not Found" line per absent person otherwise
    bare(id_numbers[:200])  # warm the connection and the caches alike for all
    return {
        "bare ORM lookup by blind index": _rate(bare, id_numbers, repeats),
        "selector, clear (decrypts ID number and phone)": _rate(selector(clear_user), id_numbers, repeats),
        "selector, masked": _rate(selector(masked_user), id_numbers, repeats),
        "API stack, found: clear fields, audited": _rate(api(200), id_numbers, repeats),
        "API stack, not found: same queries, no masking, no audit": _rate(api(404), absent, repeats),
    }


def _statements(token: str, host: str, present: str, absent: str) -> dict[str, Statements]:
    """Statements and commits of one lookup through the whole API stack in this process, found and not found."""
    from django.test import Client

    client = Client(HTTP_HOST=host, headers={"Authorization": f"Bearer {token}"})
    counted = {}
    for label, id_number, expected in (("found (audited)", present, 200), ("not found", absent, 404)):
        body = {"id_number": id_number, "purpose": PURPOSE}
        client.post("/api/v1/registries/persons/by-id-number", body, content_type="application/json")  # warm
        with counting_statements() as counts:
            response = client.post("/api/v1/registries/persons/by-id-number", body, content_type="application/json")
        if response.status_code != expected:
            raise SystemExit(f"in-process API: {response.status_code}, expected {expected}")
        counted[label] = counts
    return counted


def main() -> None:
    global DATABASE, DATA_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=8_500_000)
    parser.add_argument("--entities", type=int, default=1_300_000)
    parser.add_argument("--database-url", help=f"an already seeded database (default: create {DATABASE})")
    parser.add_argument("--reuse", action="store_true", help=f"keep {DATABASE} (and its keys) for the next run")
    parser.add_argument(
        "--database-name", default=DATABASE,
        help=f"the PostgreSQL database (default {DATABASE}); its data directory is named after it, beside {DATA_DIR}",
    )  # fmt: skip
    parser.add_argument(
        "--requests",
        type=int,
        default=20_000,
        help="lookups over parallel connections (the Python client; wrk runs for --seconds)",
    )
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="wrk's run over parallel connections (half of it on one connection)")  # fmt: skip
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate", type=float, default=400.0,
                        help="lookups a second offered over --connections (an open load, the goal's)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--in-process", type=int, default=6_000, help="reads per in-process measure")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--read-commit", choices=("durable", "async"), default="durable",
                        help="settings.AUDIT_READ_COMMIT of the server and of this process: durable (the default) or "
                             "async (ADR 0011: the operator's choice)")  # fmt: skip
    args = parse_arguments(
        parser, persons=600, entities=60, requests=60, seconds=2.0, connections=2, rate=50.0, in_process=30, repeats=1
    )
    if args.database_name != DATABASE:  # a session sharing the server keeps to its own database and keys
        DATABASE = args.database_name
        DATA_DIR = DATA_DIR.with_name(DATABASE)
    if args.smoke:  # its own database and keys beside any full run's, never kept
        DATABASE = f"{DATABASE}_smoke_{os.getpid()}"
        DATA_DIR = DATA_DIR.with_name(f"{DATA_DIR.name}_smoke_{os.getpid()}")
        args.reuse = False

    own_database = args.database_url is None
    url = args.database_url or f"{PG_HOST}/{DATABASE}"
    if own_database and not args.reuse:
        _drop_database(DATABASE)
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        # At exit, whatever happened; registered before the audit sealer's own exit handler, so it runs after it.
        atexit.register(shutil.rmtree, DATA_DIR, ignore_errors=True)
        atexit.register(_drop_database, DATABASE)
    if own_database and not _database_exists(DATABASE):
        shutil.rmtree(DATA_DIR, ignore_errors=True)  # new database, new keys
        create_database(DATABASE)
        fill_data_dir(DATA_DIR)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings",
        "RONGCHENG_AUDIT_SEAL_MODE": "background",
        "RONGCHENG_AUDIT_READ_COMMIT": args.read_commit,
        "RONGCHENG_ACCESS_TOKEN_SECONDS": "3600",
        "RONGCHENG_ALLOWED_HOSTS": "127.0.0.1,testserver",  # the server, and Django's test client in-process
        # The per-account limit of lookups raised out of reach: still counted (its cost is in the figure), but one
        # benchmark account is not a flood.
        "RONGCHENG_RATE_LIMITS": "registries.lookup.account=1000000000/600",
        "PYTHONUNBUFFERED": "1",
    }
    if own_database or "RONGCHENG_DATA_DIR" not in env:
        env["RONGCHENG_DATA_DIR"] = str(DATA_DIR)
    Path(env["RONGCHENG_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    print(f"database {url}, data directory {env['RONGCHENG_DATA_DIR']}", flush=True)

    began = time.perf_counter()
    subprocess.run(
        _cli("seed", "--persons", str(args.persons), "--entities", str(args.entities), "--seed", str(SEED)),
        env=env,
        check=True,
    )
    seeding = time.perf_counter() - began
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection, connections

    from rongcheng.accounts.management.commands.api_client_create import api_client_create
    from rongcheng.audit.services import Actor
    from rongcheng.demo.generator import person_rows
    from rongcheng.registries.models import FieldEntitlement, LegalEntity, Person
    from rongcheng.registries.permissions import PERSON_PROTECTED_FIELDS

    persons, entities = Person.objects.count(), LegalEntity.objects.count()
    print(f"{persons:,} persons and {entities:,} legal entities ready after {seeding:.0f} s", flush=True)
    if persons < args.persons:
        raise SystemExit(f"the database holds {persons:,} persons, fewer than --persons {args.persons:,}")
    stamp = f"{os.getpid()}-{int(time.time())}"
    actor = Actor.system("bench/registries_lookup.py")
    entitled, secret = api_client_create(
        name=f"bench-clear-{stamp}", department_code="FZ-GAJ", scopes=["registries:read"], actor=actor
    )
    masked, _ = api_client_create(
        name=f"bench-masked-{stamp}", department_code="FZ-GAJ", scopes=["registries:read"], actor=actor
    )
    FieldEntitlement.objects.bulk_create(
        FieldEntitlement(registry="persons", field=field, purpose=PURPOSE, client=entitled.user, granted_by="bench")
        for field in PERSON_PROTECTED_FIELDS
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('registries_person'))")
        (table_size,) = cursor.fetchone() or ("?",)
        if own_database:
            # The seeding's writes flushed before the load: right after seeding a million persons, PostgreSQL
            # checkpointed every 11-16 s during the first measurement and its p99 was 114 ms against 42 ms next run.
            cursor.execute("CHECKPOINT")
    connections.close_all()

    rng = random.Random(SEED)
    warm_up = _id_numbers(persons, 1_000, rng)
    sequential = _id_numbers(persons, max(args.requests // 4, 100), rng)
    parallel = _id_numbers(persons, args.requests, rng)
    in_process = _id_numbers(persons, args.in_process, rng)
    absent = [row.id_number for row in person_rows(SEED, persons, args.in_process)]  # valid, never seeded

    port = _free_port()
    log = Path(env["RONGCHENG_DATA_DIR"]) / "bench-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            _cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(port, server, log)
        token = _token(port, entitled.client_id, secret)
        workers = server_workers(server.pid)
        _lookups(port, token, warm_up, args.connections, workers)
        load_average = os.getloadavg()  # the machine may be shared: say how busy it was when the timing began
        if WRK:
            one = _lookups_wrk(port, token, sequential, 1, workers, args.seconds / 2, url.rsplit("/", 1)[1])
            many = _lookups_wrk(port, token, parallel, args.connections, workers, args.seconds, url.rsplit("/", 1)[1])
        else:
            one = _lookups(port, token, sequential, 1, workers)
            many = _lookups(port, token, parallel, args.connections, workers)
        at_rate = _lookups(port, token, parallel, args.connections, workers, rate=args.rate, seconds=args.seconds)
    finally:
        _stop(server)

    rates = _in_process(entitled.user, masked.user, token, f"127.0.0.1:{port}", in_process, absent, args.repeats)
    statements = _statements(token, f"127.0.0.1:{port}", in_process[0], absent[0])

    print(f"\nPerson lookup by ID number over HTTP, {persons:,} persons ({table_size}), {entities:,} legal entities,")
    print(
        f"granian with {args.workers} workers, audit sealed in the background, records of reads committed "
        f"{args.read_commit} (RONGCHENG_AUDIT_READ_COMMIT); each answer checked (200, in clear); load from "
        + ("wrk" if WRK else "Python client threads")
        + "; load average "
        + " ".join(f"{load:.1f}" for load in load_average)
    )
    columns = ("lookups", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s", "CPU ms", "DB CPU")
    print(f"{'connections':<12} " + " ".join(f"{c:>8}" for c in columns) + f" {'failed':>7}  per worker")
    for label, load in (("1", one), (str(args.connections), many), (f"{args.connections} @{args.rate:.0f}/s", at_rate)):
        print(
            f"{label:<12} {load.lookups:>8,} {load.percentile(50):>8.2f} {load.percentile(90):>8.2f} "
            f"{load.percentile(99):>8.2f} {load.maximum:>8} {load.rate:>8.0f} {load.cpu_ms:>8.2f} "
            f"{load.database_cpu_ms:>8.2f} {load.failures:>7}  {'+'.join(map(str, load.spread))}"
        )
    print(
        "(CPU ms: the server workers' CPU per lookup; DB CPU: its PostgreSQL backends' (wrk runs only); per worker:"
        " how the connections were spread over them. The first two rows are closed loads, each connection sending"
        f" its next lookup when the last is answered, as fast as the server goes; the last is an open load of"
        f" {args.rate:.0f} lookups a second offered, its latencies from when each was due, by Python threads)"
    )
    bare = rates["bare ORM lookup by blind index"]
    print(f"\nIn-process reads per second, median of {args.repeats} passes of {len(in_process) // args.repeats:,}:")
    for label, rate in rates.items():
        print(f"  {label:<58} {rate:>7.0f}/s")
    clear, masked = rates["selector, clear (decrypts ID number and phone)"], rates["selector, masked"]
    found, absent_rate = (
        rates["API stack, found: clear fields, audited"],
        rates["API stack, not found: same queries, no masking, no audit"],
    )
    print(f"  selector / bare lookup: clear {clear / bare:.2f}, masked {masked / bare:.2f}")
    print(f"  API stack, found / not found: {found / absent_rate:.2f}")
    for label, counts in statements.items():
        print(f"  one lookup through the API stack, {label}: {counts}")
    mode = f"reads committed {args.read_commit}"
    goal(
        f"person lookup ({mode}), 1 connection: p99 under 10 ms",
        f"{one.percentile(99):.2f} ms",
        one.percentile(99) < 10,
    )
    goal(
        f"person lookup ({mode}), {args.connections} connections: p99 under 10 ms and >= 400/s",
        f"{many.percentile(99):.2f} ms at the most the server gives ({many.rate:.0f}/s)",
        many.percentile(99) < 10 and many.rate >= 400,
    )
    goal(
        f"person lookup ({mode}), {args.connections} connections offered {args.rate:.0f}/s: p99 under 10 ms",
        f"{at_rate.percentile(99):.2f} ms ({at_rate.rate:.0f}/s answered)",
        at_rate.percentile(99) < 10 and at_rate.rate >= 0.95 * args.rate,
    )
    goal(
        "masking and audit keep at least half the API's read rate",
        f"{found / absent_rate:.2f}",
        found / absent_rate >= 0.5,
    )
    if one.failures or many.failures or at_rate.failures:
        raise SystemExit(
            f"{one.failures + many.failures + at_rate.failures} answers were wrong: the figures above measure the "
            "wrong thing"
        )


if __name__ == "__main__":
    main()
