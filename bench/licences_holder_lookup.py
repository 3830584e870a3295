"""The "一号" lookup: all licences of one ID number, with 10 million licences in PostgreSQL.

Claim checked: p99 under 10 ms for "all licences of this ID number", over HTTP against `rongcheng serve --workers 2`
(granian; `POST /api/v1/licences/holder-queries` with an OAuth token carrying `licences:read` and a recorded holder
authorization: the endpoint validates the ID number, computes its blind index, checks the authorization, reads the
holder's licences by one indexed query, records a fetch per licence and an audit record), and at the selector level
(`licences_by_holder_index`: the indexed query alone).

Data, generated for the run and said plainly:
  * --holders persons (default 2,000,000) with valid synthetic ID numbers; each holds --licences / --holders
    licences of different types, scattered over the table (a stride permutation, as issued over years).
  * Only a pool of 1,000 holders exists in the population registry; the foreign key of every licence points into
    that pool, while `holder_index` (the lookup key) is each holder's own blind index.
  * 1,000 licences are issued through the service with real SM2 signatures; the other rows are written by COPY and
    reuse one real signature's bytes and one face (they would not verify: verification is not measured here).
  * The holder code is encrypted once per holder (SM4-GCM), as the service would.

    uv run python bench/licences_holder_lookup.py                       # 10 million licences (about 10-15 min)
    uv run python bench/licences_holder_lookup.py --licences 500000 --holders 100000
    uv run python bench/licences_holder_lookup.py --reuse               # keep rc_bench_licences for the next run
    uv run python bench/licences_holder_lookup.py --database-name rc_mine --reuse  # own database and data dir
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime as dt
import http.client
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import counting_statements
from _server import (
    WRK,
    Load,
    _cli,
    _database_exists,
    _drop_database,
    _free_port,
    _stop,
    _wait_for,
    cpu_seconds,
    create_database,
    fill_data_dir,
    load_generator,
    server_workers,
    wrk_load,
)
from _smoke import goal, parse_arguments

PG_HOST = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rc_bench_licences"
DATA_DIR = Path(tempfile.gettempdir()) / "rc_bench_licences"
POOL = 1_000
STRIDE = 7_919  # prime: i -> i * STRIDE mod holders scatters each holder's licences over the table
REFERENCE = "BENCH-0001"


def id_number(holder: int) -> str:
    from rongcheng.kernel.identifiers import id_number_make

    birth = dt.date(1940, 1, 1) + dt.timedelta(days=holder // 999)
    return id_number_make(division_code="350102", birth_date=birth, sequence=holder % 999 + 1)


def percentile(values: Sequence[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


def _setup(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection, transaction

    from rongcheng.accounts.models import Department
    from rongcheng.audit.services import Actor
    from rongcheng.demo.licences import LICENCE_TYPES, department_credit_code
    from rongcheng.kernel.bulk import bulk_insert
    from rongcheng.licences.documents import protect_holder_code
    from rongcheng.licences.identifiers import check_character
    from rongcheng.licences.keys import department_key_rotate
    from rongcheng.licences.models import Licence
    from rongcheng.licences.services import licence_type_define
    from rongcheng.registries.models import Person
    from rongcheng.registries.protection import index_of, protect_id_number

    actor = Actor.system("bench/licences_holder_lookup.py")
    department, _ = Department.objects.get_or_create(
        code="FZ-BENCH", defaults={"name": "福州市基准测试局", "credit_code": department_credit_code(99)}
    )
    department_key_rotate(department=department, actor=actor)
    person_types = [t for t in LICENCE_TYPES if t[3] == "person"][: max(1, args.licences // args.holders)]
    types = [
        licence_type_define(code=code, name=name, department_id=department.pk, holder_kind="person",
                            face_schema=schema, validity_years=years, actor=actor)
        for code, name, _, _, years, schema, _ in person_types
    ]  # fmt: skip
    print(f"generating {POOL:,} registry persons and {args.holders:,} holder keys", flush=True)
    pool_rows = []
    now = dt.datetime.now(dt.UTC)
    for holder in range(POOL):
        protected = protect_id_number(id_number(holder))
        pool_rows.append((*protected, f"持证人{holder}", "male", dt.date(1980, 1, 1), "01", "350102", "", "", "",
                          "living", 1, now))  # fmt: skip
    bulk_insert("registries_person", ("id_number_cipher", "id_number_index", "id_number_masked", "name", "sex",
                "birth_date", "ethnicity", "division_code", "phone_cipher", "phone_index", "phone_masked", "status",
                "version", "valid_from"), pool_rows)  # fmt: skip
    pool = list(Person.objects.order_by("id").values_list("id", flat=True)[:POOL])

    # Real issuance for a sample: these carry real signatures, whose bytes the bulk rows reuse.
    from rongcheng.accounts.models import AccountKind, User
    from rongcheng.licences.services import licence_issue

    clerk = User.objects.create(username=f"bench-clerk-{os.getpid()}", kind=AccountKind.STAFF, department=department)
    from django.contrib.auth.models import Permission

    clerk.user_permissions.add(Permission.objects.get(codename="add_licence"))
    clerk = User.objects.get(pk=clerk.pk)
    sample_face = person_types[0][6]
    for person in Person.objects.filter(id__in=pool[:POOL]):
        licence_issue(licence_type=types[0], holder=person, face=sample_face, actor=clerk, source="bench")
    signature = bytes(Licence.objects.order_by("id").first().signature)  # type: ignore[union-attr]
    key_id = Licence.objects.order_by("id").first().key_id  # type: ignore[union-attr]
    face_json = json.dumps(sample_face, ensure_ascii=False)

    holders = args.holders
    indexes = [index_of("person.id_number", id_number(h)) for h in range(holders)]
    print("holder keys ready; encrypting holder codes", flush=True)
    ciphers = [protect_holder_code(id_number(h)) for h in range(holders)]
    masked = [id_number(h)[:6] + "********" + id_number(h)[-4:] for h in range(holders)]
    issuer = department.credit_code
    columns = ("identifier", "licence_type_id", "title", "number", "holder_kind", "holder_person_id", "holder_index",
               "holder_name", "holder_code_cipher", "holder_code_masked", "face", "department_id", "issuer_name",
               "issuer_code", "issued_on", "valid_from", "valid_until", "key_id", "signed_at", "signature", "status",
               "source", "source_reference")  # fmt: skip
    signature_hex = "\\\\x" + signature.hex()
    began = time.perf_counter()
    chunk = 500_000
    signed_at = now.replace(microsecond=0).isoformat()
    face_copy = face_json.replace("\\", "\\\\")
    for start in range(0, args.licences, chunk):
        buffer = io.StringIO()
        for k in range(start, min(start + chunk, args.licences)):
            holder = (k * STRIDE) % holders
            type_number = k // holders
            licence_type = types[type_number % len(types)]
            serial = f"2017{k + 10_000_000:08d}"  # clear of the sample's serials
            body = licence_type.code + issuer + serial + "001"
            identifier = f"1.2.156.3005.2.{licence_type.code}.{issuer}.{serial}.001.{check_character(body)}"
            buffer.write(
                f"{identifier}\t{licence_type.pk}\t{licence_type.name}\t{serial}\tperson\t{pool[holder % POOL]}\t"
                f"{indexes[holder]}\t持证人{holder}\t{ciphers[holder]}\t{masked[holder]}\t{face_copy}\t"
                f"{department.pk}\t{department.name}\t{issuer}\t2017-06-01\t2017-06-01\t\\N\t{key_id}\t{signed_at}\t"
                f"{signature_hex}\tvalid\tbench\t\n"
            )
        statement = f"COPY licences_licence ({', '.join(columns)}) FROM STDIN"
        with transaction.atomic(), connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(buffer.getvalue())
        done = min(start + chunk, args.licences)
        print(f"  {done:,} licences copied ({done / (time.perf_counter() - began):,.0f}/s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE licences_licence")
    return {"types": len(types)}


def _sample(holders: int, count: int, rng: random.Random) -> list[str]:
    return [id_number(rng.randrange(holders)) for _ in range(count)]


def _http(
    port: int, token: str, codes: Sequence[str], connections: int, expected: int
) -> tuple[list[float], float, int]:
    shares = [codes[i::connections] for i in range(connections)]
    results: list[list[float]] = [[] for _ in shares]
    failures = [0] * connections
    barrier = threading.Barrier(connections + 1)

    def run(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        barrier.wait()
        for code in shares[number]:
            body = json.dumps({"holder_code": code, "application_reference": REFERENCE})
            began = time.perf_counter()
            connection.request("POST", "/api/v1/licences/holder-queries", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            results[number].append(time.perf_counter() - began)
            if response.status != 200 or len(json.loads(payload)) < expected:
                failures[number] += 1
        connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return [t for r in results for t in r], time.perf_counter() - began, sum(failures)


def _http_wrk(
    port: int, token: str, codes: Sequence[str], connections: int, seconds: float, workers: list[int]
) -> tuple[Load, float]:
    """wrk's C event loop holds the connections and times each request; each request asks for the next holder (in
    the body); every answer must be 200 and list licences. Returns the load and the server workers' CPU seconds."""
    before = cpu_seconds(workers)
    load = wrk_load(
        port, "/api/v1/licences/holder-queries", expect=b'"identifier": "', connections=connections, seconds=seconds,
        method="POST", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        bodies=[json.dumps({"holder_code": code, "application_reference": REFERENCE}) for code in codes],
    )  # fmt: skip
    return load, cpu_seconds(workers) - before


def main() -> None:
    global DATABASE, DATA_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--licences", type=int, default=10_000_000)
    parser.add_argument("--holders", type=int, default=2_000_000)
    parser.add_argument("--reuse", action="store_true", help=f"keep {DATABASE} (and its keys) for the next run")
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="wrk's run over parallel connections (half of it on one connection)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--database-name", default=DATABASE,
        help=f"the PostgreSQL database (default {DATABASE}); its data directory is named after it, beside {DATA_DIR}",
    )  # fmt: skip
    args = parse_arguments(parser, licences=3_000, holders=600, requests=30, seconds=2.0)
    if args.database_name != DATABASE:  # a session sharing the server keeps to its own database and keys
        DATABASE = args.database_name
        DATA_DIR = DATA_DIR.with_name(DATABASE)
    if args.smoke:  # its own database and keys beside any full run's, never kept
        DATABASE = f"{DATABASE}_smoke_{os.getpid()}"
        DATA_DIR = DATA_DIR.with_name(f"{DATA_DIR.name}_smoke_{os.getpid()}")
        args.reuse = False

    if not args.reuse:
        _drop_database(DATABASE)
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        atexit.register(shutil.rmtree, DATA_DIR, ignore_errors=True)
        atexit.register(_drop_database, DATABASE)
    fresh = not _database_exists(DATABASE)
    if fresh:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        create_database(DATABASE)
        fill_data_dir(DATA_DIR)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ, "DATABASE_URL": f"{PG_HOST}/{DATABASE}", "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings",
        "RONGCHENG_AUDIT_SEAL_MODE": "background", "RONGCHENG_ACCESS_TOKEN_SECONDS": "3600",
        "RONGCHENG_ALLOWED_HOSTS": "127.0.0.1,testserver", "RONGCHENG_DATA_DIR": str(DATA_DIR), "PYTHONUNBUFFERED": "1",
        # Counted, but out of reach: one benchmark account is not a flood.
        "RONGCHENG_RATE_LIMITS": "licences.lookup.account=1000000000/600",
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0, interactive=False)
    from rongcheng.accounts.management.commands.api_client_create import api_client_create
    from rongcheng.audit.services import Actor
    from rongcheng.licences.models import HolderAuthorization, Licence
    from rongcheng.licences.selectors import licences_by_holder_index
    from rongcheng.registries.protection import index_of

    began = time.perf_counter()
    if fresh or not Licence.objects.exists():
        _setup(args)
    count = Licence.objects.count()
    print(f"{count:,} licences ready after {time.perf_counter() - began:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('licences_licence'))")
        (size,) = cursor.fetchone() or ("?",)
        # The seeding's writes flushed before the load (as registries_lookup.py does): right after seeding a million
        # licences the one-connection p99 was 120.79 ms, PostgreSQL checkpointing under the load (2026-12-07).
        cursor.execute("CHECKPOINT")
    per_holder = max(1, args.licences // args.holders)

    rng = random.Random(2017)
    warm, sequential, parallel = (_sample(args.holders, n, rng) for n in (500, args.requests // 2, args.requests))
    selector_sample = _sample(args.holders, args.requests, rng)
    stamp = f"{os.getpid()}-{int(time.time())}"
    application, secret = api_client_create(
        name=f"bench-hall-{stamp}", department_code="FZ-BENCH", scopes=["licences:read"],
        actor=Actor.system("bench"),
    )  # fmt: skip
    granter = application.user
    now = dt.datetime.now(dt.UTC)
    HolderAuthorization.objects.bulk_create(
        HolderAuthorization(holder_index=index_of("person.id_number", code), granted_by=granter, grantee=granter,
                            application_reference=REFERENCE, granted_at=now, expires_at=now + dt.timedelta(days=1))
        for code in {*warm, *sequential, *parallel}
    )  # fmt: skip

    timings = []
    for code in selector_sample:
        index = index_of("person.id_number", code)
        began_one = time.perf_counter()
        rows = list(licences_by_holder_index(index))
        timings.append(time.perf_counter() - began_one)
        if len(rows) < per_holder:
            raise SystemExit(f"holder {code} has {len(rows)} licences, expected {per_holder}")
    connections.close_all()

    port = _free_port()
    log = DATA_DIR / "bench-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(_cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
                                       str(args.workers)), env=env, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    try:
        _wait_for(port, server, log)
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        basic = base64.b64encode(f"{application.client_id}:{secret}".encode()).decode()
        connection_.request("POST", "/oauth/token/", body="grant_type=client_credentials&scope=licences:read",
                            headers={"Authorization": f"Basic {basic}",
                                     "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        token = json.loads(connection_.getresponse().read())["access_token"]
        _http(port, token, warm, args.connections, per_holder)
        load_average = os.getloadavg()  # the machine may be shared: say how busy it was when the timing began
        fetches: list[tuple[str, Load, float | None]] = []
        if WRK:
            workers = server_workers(server.pid)
            for label, callers, seconds in (("HTTP, 1 connection (authorized fetch)", 1, args.seconds / 2),
                                                (f"HTTP, {args.connections} connections", args.connections,
                                                 args.seconds)):  # fmt: skip
                load, cpu = _http_wrk(port, token, parallel, callers, seconds, workers)
                fetches.append((label, load, cpu * 1000 / max(load.count or 0, 1)))
        else:
            for label, codes, callers in (("HTTP, 1 connection (authorized fetch)", sequential, 1),
                                              (f"HTTP, {args.connections} connections", parallel,
                                               args.connections)):  # fmt: skip
                latencies, seconds, failures = _http(port, token, codes, callers, per_holder)
                fetches.append((label, Load(latencies, seconds, failures), None))
    finally:
        _stop(server)

    print(f"\nHolder lookup, {count:,} licences ({size}) of {args.holders:,} holders ({per_holder} each), PostgreSQL")
    print(f"load from {load_generator()}; load average " + " ".join(f"{x:.1f}" for x in load_average))
    print(f"{'level':<40} {'lookups':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'per s':>8} {'failed':>7} "
          f"{'CPU ms':>7}")  # fmt: skip
    print(f"{'selector (one indexed query, rows)':<40} {len(timings):>8,} {percentile(timings, 50):>8.2f} "
          f"{percentile(timings, 99):>8.2f} {max(timings) * 1000:>8.2f} "
          f"{len(timings) / sum(timings):>8.0f} {0:>7} {'-':>7}")  # fmt: skip
    for label, load, cpu_ms in fetches:
        count = len(load.latencies) if load.count is None else load.count
        most = f"{max(load.latencies) * 1000:.2f}" if load.latencies else "-"
        print(f"{label:<40} {count:>8,} {load.percentile(50):>8.2f} {load.percentile(99):>8.2f} {most:>8} "
              f"{load.rate:>8.0f} {load.failures:>7} {'-' if cpu_ms is None else f'{cpu_ms:.2f}':>7}")  # fmt: skip
    print("(CPU ms: the server workers' CPU per fetch, wrk runs only)")
    from django.test import Client

    client = Client(HTTP_HOST=f"127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})  # the token's issuer
    body = json.dumps({"holder_code": sequential[0], "application_reference": REFERENCE})
    client.post("/api/v1/licences/holder-queries", body, content_type="application/json")  # warm
    with counting_statements() as counts:
        response = client.post("/api/v1/licences/holder-queries", body, content_type="application/json")
    if response.status_code != 200:
        raise SystemExit(f"in-process holder query: {response.status_code}")
    print(f"one authorized fetch through the API stack in process ({per_holder} licences): {counts}")
    worst = max([percentile(timings, 99)] + [load.percentile(99) for _, load, _ in fetches])
    goal("authorized licence fetch: p99 under 10 ms at every level", f"worst p99 {worst:.2f} ms", worst < 10)
    wrong = sum(load.failures for _, load, _ in fetches)
    if wrong:
        raise SystemExit(f"{wrong} answers were wrong: the figures above measure the wrong thing")


if __name__ == "__main__":
    main()
