"""The service hall's two busiest lists over HTTP with a million applications: a department's workbench queue and an
applicant's own list.

Claim checked: with 1,000,000 applications in PostgreSQL, both answer with a p99 under 50 ms over HTTP against
`rongcheng serve` (granian) on the 2-core machine.

Steps: create the database `rc_bench_hall` (--reuse keeps it and its keys for the next run), migrate, seed the demo
departments and services, then COPY 100,000 applicant accounts and 1,000,000 applications spread over the services
(70 % concluded, the rest in every open state, numbers and deadlines filled); ANALYZE. Give one officer per measured
department the decide permission and an access token (scope hall:decide), and a few hundred applicants a token
(scope hall:apply). Start `rongcheng serve --workers 2` and request, over --connections keep-alive connections:
the department queue (all open states, oldest first, 20 a page), the same queue filtered on one state, its second
page (keyset cursor) and the applicants' lists (newest first). p50/p90/p99 of each, every answer checked to be 200
with the page size expected. The physical limit measured in the same run is the health endpoint (no database): the
floor of any request through this server.

    uv run python bench/hall_queues.py                 # 1,000,000 applications (COPY takes about a minute)
    uv run python bench/hall_queues.py --reuse         # keep rc_bench_hall for the next run
    uv run python bench/hall_queues.py --applications 200000
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import http.client
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _server import (
    _cli,
    _database_exists,
    _drop_database,
    _free_port,
    _stop,
    _wait_for,
    create_database,
    fill_data_dir,
)
from _smoke import goal, parse_arguments

PG_HOST = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rc_bench_hall"
DATA_DIR = Path(tempfile.gettempdir()) / "rc_bench_hall"
SEED = 2017
APPLICANTS = 100_000
OPEN_STATES = ("submitted", "accepted", "under_review", "correction", "countersigning", "suspended", "approved")


def _state(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.70:
        return "concluded"
    if roll < 0.72:
        return "not_accepted"
    return OPEN_STATES[int((roll - 0.72) / 0.28 * len(OPEN_STATES))]


def _copy_rows(count: int) -> None:
    """Applicants and applications by COPY: the rows the services would have written, without their history."""
    from django.db import connection

    from rongcheng.accounts.models import User
    from rongcheng.hall.models import Application, ServiceItem

    if Application.objects.count() >= count:
        return
    rng = random.Random(SEED)
    services = list(ServiceItem.objects.values_list("id", "department_id", "statutory_days", "department__code"))
    first_user = (User.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    now = dt.datetime.now(dt.UTC)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3
        columns = (
            "password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined, kind, "
            "display_name, id_number_index, assurance_level, must_change_password"
        )
        with raw.copy(f"COPY accounts_user ({columns}) FROM STDIN") as copy:
            for n in range(APPLICANTS):
                copy.write_row(
                    ["!", False, f"bench-applicant-{n}", "", "", "", False, True, now, "resident", "", "", 2, False]
                )
        applicant_ids = list(
            User.objects.filter(id__gte=first_user, username__startswith="bench-applicant-").values_list(
                "id", flat=True
            )
        )
        columns = (
            "number, service_id, department_id, window_id, applicant_id, state, statement, licence_authorized, "
            "created_at, updated_at, submitted_at, accepted_on, deadline, promised_deadline, flag, decision_reason, "
            "issued_licence, version"
        )
        start_day = dt.date(2024, 1, 1)
        sequence: dict[str, int] = {}
        with raw.copy(f"COPY hall_application ({columns}) FROM STDIN") as copy:
            for n in range(count):
                service_id, department_id, days, code = services[rng.randrange(len(services))]
                day = start_day + dt.timedelta(days=n * 1000 // count)
                prefix = f"{code}-{day:%Y%m%d}"
                sequence[prefix] = sequence.get(prefix, 0) + 1
                state = _state(rng)
                accepted = state not in ("submitted", "not_accepted")
                deadline = day + dt.timedelta(days=days * 7 // 5) if accepted else None
                stamp = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
                copy.write_row(
                    [f"{prefix}-{sequence[prefix]:06d}", service_id, department_id,
                     department_id if accepted else None, applicant_ids[rng.randrange(len(applicant_ids))], state,
                     "", True, stamp, stamp, stamp, day if accepted else None, deadline, deadline, "", "", "", 3]
                )  # fmt: skip
        cursor.execute("ANALYZE accounts_user")
        cursor.execute("ANALYZE hall_application")


def _token(user: object, scope: str) -> str:
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    application, _ = get_application_model().objects.get_or_create(
        name="bench-hall",
        defaults={"client_type": "confidential", "authorization_grant_type": "authorization-code",
                  "redirect_uris": "https://bench.invalid/cb"},
    )  # fmt: skip
    value = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user, application=application, token=value, scope=scope, expires=timezone.now() + dt.timedelta(hours=2)
    )
    return value


@dataclass
class Load:
    latencies: list[float]
    seconds: float
    failures: int

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def _load(port: int, requests: Sequence[tuple[str, str, int]], connections: int) -> Load:
    """(path, token, expected item count) per request; each thread keeps one HTTP/1.1 connection."""
    shares = [requests[i::connections] for i in range(connections)]
    results: list[list[float]] = [[] for _ in shares]
    failures = [0] * connections
    barrier = threading.Barrier(connections + 1)

    def run(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out = results[number]
        barrier.wait()
        for path, token, expected in shares[number]:
            began = time.perf_counter()
            connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
            response = connection.getresponse()
            body = response.read()
            out.append(time.perf_counter() - began)
            if response.status != 200 or (expected >= 0 and len(json.loads(body)["items"]) < expected):
                failures[number] += 1
        connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return Load([t for r in results for t in r], time.perf_counter() - began, sum(failures))


def main() -> None:
    global DATABASE, DATA_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help=f"keep {DATABASE} (and its keys) for the next run")
    parser.add_argument("--requests", type=int, default=4_000, help="requests per list measured")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parse_arguments(parser, applications=2_000, requests=30, connections=2)
    if args.smoke:  # its own database and keys beside any full run's, never kept
        DATABASE = f"{DATABASE}_smoke_{os.getpid()}"
        DATA_DIR = DATA_DIR.with_name(f"{DATA_DIR.name}_smoke_{os.getpid()}")
        args.reuse = False

    url = f"{PG_HOST}/{DATABASE}"
    if not args.reuse:
        _drop_database(DATABASE)
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        atexit.register(shutil.rmtree, DATA_DIR, ignore_errors=True)
        atexit.register(_drop_database, DATABASE)
    if not _database_exists(DATABASE):
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        create_database(DATABASE)
        fill_data_dir(DATA_DIR)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings",
        "RONGCHENG_DATA_DIR": str(DATA_DIR), "RONGCHENG_AUDIT_SEAL_MODE": "background",
        "RONGCHENG_ALLOWED_HOSTS": "127.0.0.1", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import Permission
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0, interactive=False)
    from rongcheng.accounts.models import AccountKind, Department, User
    from rongcheng.demo import data
    from rongcheng.demo.hall import hall_seed
    from rongcheng.hall.models import Application

    for code, name, short in data.DEPARTMENTS:
        Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": short})
    hall_seed()
    began = time.perf_counter()
    _copy_rows(args.applications)
    total = Application.objects.count()
    print(f"{total:,} applications ready ({time.perf_counter() - began:.0f} s)", flush=True)

    decide = Permission.objects.get(codename="decide_application")
    busiest = list(Application.objects.values_list("department_id", flat=True).order_by("department_id").distinct())[:4]
    rng = random.Random(SEED)
    queue_requests: list[tuple[str, str, int]] = []
    state_requests: list[tuple[str, str, int]] = []
    second_requests: list[tuple[str, str, int]] = []
    officers = []
    for department_id in busiest:
        officer, _ = User.objects.get_or_create(
            username=f"bench-officer-{department_id}",
            defaults={"kind": AccountKind.STAFF, "department_id": department_id, "is_staff": True},
        )
        officer.user_permissions.add(decide)
        officers.append((officer, _token(officer, "hall:decide")))
    for (_, token), department_id in zip(officers, busiest, strict=True):
        under_review = Application.objects.filter(department_id=department_id, state="under_review").count()
        queue_requests.append(("/api/v1/hall/workbench?limit=20", token, 20))
        # A full page, unless the department has fewer under review (a smoke run's few thousand applications)
        state_requests.append(("/api/v1/hall/workbench?state=under_review&limit=20", token, min(20, under_review)))
    applicants = list(
        Application.objects.values_list("applicant_id", flat=True).order_by("applicant_id").distinct()[:100_000]
    )
    applicant_tokens = [
        _token(User.objects.get(pk=pk), "hall:apply") for pk in rng.sample(applicants, min(300, len(applicants)))
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('hall_application'))")
        (size,) = cursor.fetchone() or ("?",)
    connections.close_all()

    port = _free_port()
    log = DATA_DIR / "bench-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            _cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)),
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for(port, server, log)
        # The second page of each department's queue: follow the first page's cursor.
        for _, token in officers:
            connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection_.request("GET", "/api/v1/hall/workbench?limit=20", headers={"Authorization": f"Bearer {token}"})
            cursor_value = json.loads(connection_.getresponse().read())["next_cursor"]
            second_requests.append((f"/api/v1/hall/workbench?limit=20&cursor={cursor_value}", token, 20))
        n = args.requests
        plans = {
            "health (no database: the floor)": [("/api/v1/health", "", -1)] * n,
            "department queue, open states": [queue_requests[i % len(queue_requests)] for i in range(n)],
            "department queue, one state": [state_requests[i % len(state_requests)] for i in range(n)],
            "department queue, second page": [second_requests[i % len(second_requests)] for i in range(n)],
            "applicant's own list": [
                ("/api/v1/hall/applications?limit=20", applicant_tokens[i % len(applicant_tokens)], 1) for i in range(n)
            ],
        }
        _load(port, plans["department queue, open states"][:400], args.connections)  # warm up
        loads = {label: _load(port, plan, args.connections) for label, plan in plans.items()}
    finally:
        _stop(server)

    print(f"\n{total:,} applications in PostgreSQL ({size}); granian, {args.workers} workers, {args.connections} "
          "connections; every answer checked")  # fmt: skip
    columns = ("requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s")
    print(f"{'':<34} " + " ".join(f"{c:>8}" for c in columns) + f" {'failed':>7}")
    for label, load in loads.items():
        print(
            f"{label:<34} {len(load.latencies):>8,} {load.percentile(50):>8.2f} {load.percentile(90):>8.2f} "
            f"{load.percentile(99):>8.2f} {max(load.latencies) * 1000:>8.2f} {load.rate:>8.0f} {load.failures:>7}"
        )
    floor = loads["health (no database: the floor)"].rate
    worst = max(load.percentile(99) for label, load in loads.items() if not label.startswith("health"))
    for label, load in loads.items():
        if not label.startswith("health"):
            print(f"  {label}: {load.rate / floor:.2f} of the server's floor rate")
    goal("p99 of every list under 50 ms", f"worst p99 {worst:.1f} ms", worst < 50)
    if failed := sum(load.failures for load in loads.values()):
        raise SystemExit(f"{failed} answers were wrong: the figures above measure the wrong thing")


if __name__ == "__main__":
    main()
