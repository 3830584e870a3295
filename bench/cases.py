"""City cases: intake through the services, and the latency of the command centre's queue and of the Open311
request list.

Intake is what every channel does for one report: the duplicate suggestion (open cases of the category within its
radius), then `cases.services.case_report` — validate the category and the text, locate the point on the grid
(cell, community, street, district), store the case and its timeline event, the audit record. No photo (photo
checks are Pillow's decoding, measured by its own project). The lists are read in-process through Django's test
client (the whole page or API view, without a network) over the cases just made, each a number of times: p50 and p99.

    uv run python bench/cases.py --database postgresql --cases 2000
    uv run python bench/cases.py --smoke

With --historical N (issue 14's scale, issue 15's `cases` collection) it seeds N historical cases in PostgreSQL by
set-based SQL instead (see bench/_cases_history.py for the data), then reads over HTTP from `rongcheng serve`: the
command centre's queues, a unit's queue, the Open311 request list (default, filtered, a deep page), the statistics
(API per unit/cell/street/district and the bulletin page) and the OGC items of the cases; goal p99 < 100 ms each.
--keep-database NAME seeds into that database once and reuses it on the next run (its data directory beside it,
--data-dir); without it the database is thrown away.

    uv run python bench/cases.py --historical 5000000 --keep-database rc_cases_big --data-dir /tmp/cases/rc_cases_big
    uv run python bench/cases.py --historical 50000
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import counting_statements, setup_django, throwaway_database
from _server import _database_exists, create_database, fill_data_dir
from _smoke import goal, parse_arguments

HISTORY_GOAL_MS = 100.0


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _intake_worker(
    env: dict[str, str], codes: list[str], points: list[tuple[float, float]], barrier: Any, out: Any
) -> None:
    """One of the concurrent intake processes: its own Django and connection, the same service calls."""
    setup_django(env, migrate=False)
    from rongcheng.cases import services
    from rongcheng.cases.places import place_locate

    for lon, lat in points[:5]:  # warm up: the grid index, the categories
        place_locate(lon=lon, lat=lat)
    for code in codes:
        services.category_get(code)
    barrier.wait()
    began = time.time()
    for lon, lat in points:
        code = codes[int(lon * 1e5) % len(codes)]
        services.duplicates_near(category=services.category_get(code), lon=lon, lat=lat)
        services.case_report(
            channel="api", category_code=code, description="井盖破损", lon=lon, lat=lat, system_label="bench"
        )
    out.put((began, time.time(), len(points)))


def _concurrent(env: dict[str, str], codes: list[str], points: list[tuple[float, float]], workers: int) -> float:
    """Cases per second taken in by `workers` processes at once, from the first start to the last end."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(workers), context.Queue()
    share = len(points) // workers
    processes = [
        context.Process(target=_intake_worker, args=(env, codes, points[i * share : (i + 1) * share], barrier, out))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"an intake process exited with {process.exitcode}")
    began, ended = min(r[0] for r in results), max(r[1] for r in results)
    return float(sum(r[2] for r in results) / (ended - began))


def _run(
    kind: str, count: int, reads: int, workers: int
) -> tuple[float, float, float | None, list[float], list[float]]:
    with throwaway_database(kind) as env:
        setup_django(env)
        from django.contrib.auth.models import Permission
        from django.test import Client

        from rongcheng.accounts.models import AccountKind, Department, User
        from rongcheng.audit.services import Actor
        from rongcheng.cases import services
        from rongcheng.divisions.models import Division, DivisionLevel, GridCell

        unit, _ = Department.objects.get_or_create(code="FZ-SZGC", defaults={"name": "福州市市政工程管理处"})
        city = Division.objects.create(code="350100", name="福州市", level=DivisionLevel.PREFECTURE)
        county = Division.objects.create(code="350102", name="鼓楼区", level=DivisionLevel.COUNTY, parent=city)
        for s in range(4):
            street = Division.objects.create(
                code=f"350102{s + 1:03d}", name=f"街道{s + 1}", level=DivisionLevel.STREET, parent=county
            )
            for c in range(4):
                community = Division.objects.create(
                    code=f"{street.code}{c + 1:03d}", name=f"社区{c + 1}", level=DivisionLevel.COMMUNITY, parent=street
                )
                for g in range(4):
                    x0, y0 = 119.25 + s * 0.02 + g * 0.005, 26.05 + c * 0.01
                    x1, y1 = x0 + 0.005, y0 + 0.01
                    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
                    GridCell.objects.create(
                        code=f"{community.code}{g + 1:02d}", name=f"第{g + 1}网格", community=community,
                        polygon={"type": "Polygon", "coordinates": [ring]}, min_lon=x0, min_lat=y0, max_lon=x1,
                        max_lat=y1,
                    )  # fmt: skip
        system = Actor.system("bench/cases.py")
        categories = []
        for minor, name in (("01", "上水井盖"), ("02", "污水井盖"), ("21", "路灯"), ("04", "雨水箅子")):
            category, _ = services.category_upsert_by_system(
                actor=system, code=f"C01{minor}",
                defaults={"kind": "component", "major_code": "01", "major_name": "公用设施类", "minor_code": minor,
                          "name": name, "default_unit": unit},
            )  # fmt: skip
            categories.append(category)
        centre = User.objects.create(username="bench-centre", kind=AccountKind.STAFF, department=unit, is_staff=True)
        centre.user_permissions.add(Permission.objects.get(codename="register_case"))
        rng = random.Random(2017)
        points = [(rng.uniform(119.25, 119.33), rng.uniform(26.05, 26.09)) for _ in range(2 * count + 40)]

        def intake(batch: list[tuple[float, float]]) -> None:
            for lon, lat in batch:
                category = categories[int(lon * 1e5) % len(categories)]
                services.duplicates_near(category=category, lon=lon, lat=lat)
                services.case_report(
                    channel="api", category_code=category.code, description="井盖破损", lon=lon, lat=lat,
                    system_label="bench",
                )  # fmt: skip

        from django.db import connection, transaction
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from rongcheng.spatial.selectors import locate

        serial = iter(range(10**7, 10**8))

        def bare_sql(batch: list[tuple[float, float]]) -> None:
            """The same rows by hand: the duplicate SELECT, the point located, one transaction of three INSERTs."""
            for lon, lat in batch:
                category = categories[int(lon * 1e5) % len(categories)]
                place = locate(lon=lon, lat=lat)
                if place is None:
                    raise SystemExit("a bench point is outside the grid")
                now = timezone.now()
                number = f"BARE{next(serial)}"
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT id, longitude, latitude FROM cases_case WHERE category_id = %s AND state = "
                        "'collected' AND longitude BETWEEN %s AND %s AND latitude BETWEEN %s AND %s "
                        "ORDER BY id DESC LIMIT 50",
                        [category.pk, lon - 0.0005, lon + 0.0005, lat - 0.0005, lat + 0.0005],
                    )
                    cursor.fetchall()
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO cases_case (number, token, category_id, channel, hotline_kind, state, urgency, "
                        "description, address, longitude, latitude, cell_code, community_code, street_code, "
                        "district_code, place_name, reporter_label, caller_phone_masked, simple_procedure, "
                        "rework_count, extension_count, postponed_ever, escalation_level, reopen_count, "
                        "rating_comment, decision_reason, created_at, updated_at, version) VALUES (%s, %s, %s, 'api', "
                        "'', 'collected', 'normal', '井盖破损', '', %s, %s, %s, %s, %s, %s, '', 'bench', '', false, 0, "
                        "0, false, 0, 0, '', '', %s, %s, 0) RETURNING id",
                        [number, number, category.pk, lon, lat, place.cell_code, place.community_code,
                         place.street_code, place.district_code, now, now],
                    )  # fmt: skip
                    (case_id,) = cursor.fetchone()
                    cursor.execute(
                        "INSERT INTO cases_caseevent (case_id, transition, from_state, to_state, at, actor_label, "
                        "reason) VALUES (%s, 'report', '', 'collected', %s, 'bench', '')",
                        [case_id, now],
                    )
                    cursor.execute(
                        "INSERT INTO audit_record (actor_kind, actor_id, actor_label, action, target_type, target_id, "
                        "outcome, purpose, detail) VALUES ('api_client', '', 'bench', 'cases.case.report', "
                        "'cases.case', %s, 'success', '', %s)",
                        [number, '{"channel": "api"}'],
                    )

        intake(points[:19])  # warm up
        bare_sql(points[19:20])
        with counting_statements() as statements, CaptureQueriesContext(connection) as captured:
            intake(points[20:21])
        with counting_statements() as bare_statements:
            bare_sql(points[21:22])
        if os.environ.get("BENCH_SHOW_SQL"):
            for query in captured.captured_queries:
                print("   ", query["sql"][:160])
        profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        rates, bare_rates = [], []
        rounds = 4 if count >= 40 else 1  # services and bare SQL alternate, so both see the same load
        size = count // rounds
        for r in range(rounds):
            batch = points[40 + 2 * r * size : 40 + (2 * r + 1) * size]
            began = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            intake(batch)
            if profiler is not None:
                profiler.disable()
            rates.append(len(batch) / (time.perf_counter() - began))
            batch = points[40 + (2 * r + 1) * size : 40 + (2 * r + 2) * size]
            began = time.perf_counter()
            bare_sql(batch)
            bare_rates.append(len(batch) / (time.perf_counter() - began))
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        rate, bare_rate = statistics.median(rates), statistics.median(bare_rates)
        print(f"  one intake through the services: {statements}; by hand: {bare_statements}")
        concurrent = None
        if workers > 1 and kind == "postgresql":
            from django.db import connections

            connections.close_all()
            extra = [(rng.uniform(119.25, 119.33), rng.uniform(26.05, 26.09)) for _ in range(count)]
            concurrent = _concurrent(env, [c.code for c in categories], extra, workers)

        client = Client(HTTP_HOST="localhost")
        client.force_login(centre)
        queue, open311 = [], []
        client.get("/api/v1/cases/queues/register")  # warm up: the first request imports the views
        Client(HTTP_HOST="localhost").get("/open311/v2/requests.json")
        for _ in range(reads):
            began = time.perf_counter()
            response = client.get("/api/v1/cases/queues/register")
            queue.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"queue answered {response.status_code}")
            began = time.perf_counter()
            response = Client(HTTP_HOST="localhost").get("/open311/v2/requests.json?page_size=50&status=open")
            open311.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200 or len(response.json()) != 50:
                raise SystemExit(f"Open311 list answered {response.status_code}")
        return rate, bare_rate, concurrent, queue, open311


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--cases", type=int, default=2000, help="cases taken in")
    parser.add_argument("--reads", type=int, default=200, help="reads of each list")
    parser.add_argument("--workers", type=int, default=4, help="processes taking cases in at once (PostgreSQL)")
    parser.add_argument(
        "--historical",
        type=int,
        nargs="?",
        const=50_000,
        default=0,
        help="seed this many historical cases in PostgreSQL and read them over HTTP (5000000: full)",
    )
    parser.add_argument("--keep-database", default="", help="PostgreSQL database to seed once and keep (rc_*)")
    parser.add_argument("--data-dir", default="", help="the kept database's data directory")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load of each read")
    parser.add_argument("--threads", type=int, default=2, help="client connections at once")
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--historical-only", action="store_true", help=argparse.SUPPRESS)
    args = parse_arguments(parser, cases=20, reads=5, workers=2, historical=3000, seconds=0.3)  # fmt: skip
    if args.historical and args.smoke and not args.historical_only and args.database == "postgresql":
        # Its own process: Django is set up once per process, and the intake below needs a database of its own. Only
        # with --database postgresql: the history is seeded by PostgreSQL's own SQL, and a smoke run on SQLite (the
        # suite's SQLite leg) would otherwise make and migrate a PostgreSQL database of its own.
        subprocess.run([sys.executable, __file__, "--smoke", "--historical-only"], check=True)
    elif args.historical:
        _historical(args)
        return
    rate, bare_rate, concurrent, queue, open311 = _run(args.database, args.cases, args.reads, args.workers)
    print(f"{args.database}: {args.cases} cases through intake (duplicate suggestion + case_report), one connection")
    print(f"  intake through the services: {rate:8.1f} cases/s (median of the rounds)")
    print(f"  the same rows by hand (bare SQL): {bare_rate:8.1f} cases/s; services / bare: {rate / bare_rate:.2f}")
    print(f"  load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    for label, values in (("command centre queue (API, 100 rows)", queue), ("Open311 requests.json (50)", open311)):
        print(f"  {label}: p50 {_percentile(values, 0.5):.1f} ms, p99 {_percentile(values, 0.99):.1f} ms")
    if concurrent is not None:
        print(f"  {args.workers} processes at once, {args.cases} cases in all: {concurrent:8.1f} cases/s")
    goal(f"intake through the services >= 200 cases/s ({args.database}, one connection)", f"{rate:.0f}/s", rate >= 200)
    if concurrent is not None:
        promise = f"intake through the services >= 200 cases/s ({args.database}, {args.workers} processes)"
        goal(promise, f"{concurrent:.0f}/s", concurrent >= 200)
    goal(
        f"intake through the services >= 0.5 of bare SQL ({args.database})",
        f"{rate / bare_rate:.2f}",
        rate >= 0.5 * bare_rate,
    )
    worst = max(_percentile(queue, 0.99), _percentile(open311, 0.99))
    goal(f"queue and Open311 list p99 < 100 ms in-process, {args.cases} cases", f"{worst:.1f} ms", worst < 100)


def _historical(args: argparse.Namespace) -> None:
    if args.keep_database:
        if not args.keep_database.startswith("rc_"):
            raise SystemExit("--keep-database must name an rc_* database")
        data_dir = Path(args.data_dir or Path(tempfile.gettempdir()) / args.keep_database)
        if not _database_exists(args.keep_database):
            create_database(args.keep_database)
            fill_data_dir(data_dir)
        env = {"RONGCHENG_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings",
               "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.keep_database}"}  # fmt: skip
        _measure_history(args, env)
    else:
        with throwaway_database("postgresql") as env:
            _measure_history(args, env)


def _measure_history(args: argparse.Namespace, env: dict[str, str]) -> None:
    import _cases_history as cases_history

    setup_django(env)
    from django.db import connection

    count = cases_history.seeded()
    if count and count != args.historical:
        connection.close()
        raise SystemExit(
            f"the kept database holds {count} cases, not {args.historical}: drop it or change --historical"
        )
    if not count:
        began = time.perf_counter()
        print(f"seeding {args.historical:,} historical cases ...", flush=True)
        facts = cases_history.seed(args.historical)
        print(f"seeded {args.historical:,} cases over {facts['days']} days in {time.perf_counter() - began:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database())), (SELECT count(*) FROM "
                       "cases_case WHERE state IN ('dispatched', 'handling', 'reported_back', 'verified') AND "
                       "deadline < now()), (SELECT count(*) FROM cases_tally)")  # fmt: skip
        size, overdue, tally = cursor.fetchone()
    print(f"database {size}; open and overdue now: {overdue:,}; tally rows: {tally:,}")
    exact = _tally_exact()
    print(
        f"HTTP reads over {args.historical:,} cases ({args.threads} connections, {args.seconds:g} s each, "
        f"{args.server_workers} server workers; load average {Path('/proc/loadavg').read_text().split()[:3]}):"
    )
    results = cases_history.measure(env, args.seconds, args.server_workers, args.threads)
    worst_label, worst = max(((label, load.percentile(99)) for label, load in results), key=lambda pair: pair[1])
    failures = sum(load.failures for _, load in results)
    goal(f"tally = recount for the last whole month, every grouping ({args.historical:,} cases)", str(exact), exact)
    goal(f"every read p99 < {HISTORY_GOAL_MS:.0f} ms over HTTP with {args.historical:,} cases (worst: {worst_label})",
         f"{worst:.1f} ms, {failures} wrong answers", worst < HISTORY_GOAL_MS and not failures)  # fmt: skip


def _tally_exact() -> bool:
    """The statistics read from the tally equal a recount of the cases, for the last whole month of the data."""
    import datetime as dt

    from django.db.models import Max
    from django.utils import timezone

    from rongcheng.cases.models import Case
    from rongcheng.cases.statistics import GROUPS, indicators, indicators_recount, month_bounds

    latest = timezone.localtime(Case.objects.aggregate(t=Max("created_at"))["t"])
    month = (latest.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    start, end = month_bounds(month)
    now = timezone.now()
    for group in GROUPS:
        began = time.perf_counter()
        tallied = indicators(group=group, start=start, end=end, now=now)
        middle = time.perf_counter()
        recounted = indicators_recount(group=group, start=start, end=end, now=now)
        print(f"  {month} per {group}: {len(tallied)} rows from the tally in {(middle - began) * 1000:.1f} ms, "
              f"recounted in {(time.perf_counter() - middle) * 1000:.0f} ms")  # fmt: skip
        if tallied != recounted:
            return False
    return True


if __name__ == "__main__":
    main()
