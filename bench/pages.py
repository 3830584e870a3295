"""Public pages over HTTP against the production server: the portal home page and the service hall's catalogue.

Claims checked (issue 13): the portal home page and the hall's catalogue `/hall/` (the demo's 23 services) each
answer at least 1,000 requests per second over HTTP against `rongcheng serve --workers 2` (granian) on PostgreSQL,
with 8 keep-alive connections. The ceiling measured in the same run with the same load is the health endpoint (no
database, no template): no page can beat it on this machine.

Also printed, because they do not depend on the CPU: the SQL statements and commits each anonymous page view makes,
and whether it sets a cookie (a session written per view), counted in this process with Django's test client.

Steps: a throwaway PostgreSQL database and data directory; migrate; the demo's departments and hall services
(`hall_seed`); start the server; then, per page, --processes client processes of --threads keep-alive connections
for --seconds, --repeats times (median), every answer checked to be 200 with the page's own text.

    uv run python bench/pages.py
    uv run python bench/pages.py --seconds 10 --processes 2 --threads 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import Statements, counting_statements, setup_django, throwaway_database
from _server import Load, _cli, _free_port, _stop, _wait_for, http_load, load_generator
from _smoke import goal, parse_arguments

GOAL = 1_000  # requests per second, each page
PAGES = {  # label: (path, text every answer must contain)
    "health (no database: the ceiling)": ("/api/v1/health", b'"status"'),
    "portal home page /": ("/", "榕城".encode()),
    "hall catalogue /hall/": ("/hall/", "办事".encode()),
}


def statements_per_view(path: str) -> tuple[Statements, list[str]]:
    """Statements and commits of one anonymous GET of `path` (after a first one warmed the caches), and the cookies
    it sets."""
    from django.test import Client

    Client(HTTP_HOST="127.0.0.1").get(path)
    client = Client(HTTP_HOST="127.0.0.1")
    with counting_statements() as counts:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} in process")
    return counts, sorted(response.cookies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one load run")
    parser.add_argument("--repeats", type=int, default=3, help="load runs per page; the median is reported")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections (threads) per client process")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    args = parse_arguments(parser, seconds=0.3, repeats=1, processes=1, threads=2)

    with throwaway_database("postgres") as env:
        env["RONGCHENG_AUDIT_SEAL_MODE"] = "background"
        env["RONGCHENG_ALLOWED_HOSTS"] = "127.0.0.1"
        setup_django(env)
        from django.db import connections

        from rongcheng.accounts.models import Department
        from rongcheng.demo import data
        from rongcheng.demo.hall import hall_seed
        from rongcheng.hall.models import ServiceItem

        for code, name, short in data.DEPARTMENTS:
            Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": short})
        hall_seed()
        services = ServiceItem.objects.count()
        counts = {label: statements_per_view(path) for label, (path, _) in PAGES.items()}
        connections.close_all()

        port = _free_port()
        log = Path(tempfile.gettempdir()) / f"rc-bench-pages-{port}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                _cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)),
                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        loads: dict[str, list[Load]] = {label: [] for label in PAGES}
        try:
            _wait_for(port, server, log)
            shape = {"processes": args.processes, "threads": args.threads}
            for path, expect in PAGES.values():  # warm up: connections, caches, templates
                http_load(port, path, expect=expect, seconds=min(args.seconds, 1.0), **shape)
            for _ in range(args.repeats):  # interleaved, so a change of load on the machine hits every page alike
                for label, (path, expect) in PAGES.items():
                    loads[label].append(http_load(port, path, expect=expect, seconds=args.seconds, **shape))
        finally:
            _stop(server)
        log.unlink(missing_ok=True)

    connections_ = args.processes * args.threads
    print(f"\nPublic pages over HTTP: granian, {args.workers} workers, PostgreSQL, {services} hall services, "
          f"{connections_} connections from {load_generator()}, median of {args.repeats} x {args.seconds:g} s; "
          "answers checked")  # fmt: skip
    print(f"{'page':<36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}  per view in process")
    rates: dict[str, float] = {}
    failures = 0
    for label, runs in loads.items():
        middle = sorted(runs, key=lambda load: load.rate)[len(runs) // 2]
        rates[label] = statistics.median(load.rate for load in runs)
        failures += sum(load.failures for load in runs)
        statements, cookies = counts[label]
        print(
            f"{label:<36} {rates[label]:>8,.0f} {middle.percentile(50):>8.2f} {middle.percentile(99):>8.2f} "
            f"{sum(load.failures for load in runs):>7}  {statements}, cookies: {', '.join(cookies) or 'none'}"
        )
    for label in list(PAGES)[1:]:
        goal(f"{label}: >= {GOAL:,} req/s", f"{rates[label]:,.0f} req/s", rates[label] >= GOAL)
    if failures:
        raise SystemExit(f"{failures} answers were wrong: the figures above measure the wrong thing")


if __name__ == "__main__":
    main()
