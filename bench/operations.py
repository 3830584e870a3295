"""What observing every request costs: throughput with the operations middleware (metrics by route in
prometheus-client's multiprocess mode, the JSON access log, the database query counter) against the same server
without it (RONGCHENG_OBSERVE=off), and with the metrics alone (the access log off), three servers in turn.

Claim checked (issue 19): throughput with metrics is at least 0.95 x throughput without, for the portal home page
(an anonymous page: template, a few queries) and for the health endpoint (no database: the worst case, where the
fixed cost per request weighs most). Both servers run `rongcheng serve --workers 2`, one after the other, the runs
interleaved --repeats times; the median of each is compared. Answers are checked (200 and the page's own text).

    uv run python bench/operations.py --database postgres
    uv run python bench/operations.py --database sqlite --seconds 10
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

from _django import setup_django, throwaway_database
from _server import Load, _cli, _free_port, _stop, _wait_for, http_load, load_generator
from _smoke import goal, parse_arguments

GOAL = 0.95
PAGES = {  # label: (path, text every answer must contain)
    "health endpoint (no database)": ("/api/v1/health", b'"status"'),
    "portal home page /": ("/", "榕城".encode()),
}


def _serve(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            _cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


# "with": everything that observes a request (metrics, the JSON access log at INFO, the exchange log); "metrics":
# the same with the access log off, the claim of issue 19; "without": none of it (RONGCHENG_OBSERVE=off).
MODES: dict[str, dict[str, str]] = {
    "with": {"RONGCHENG_OBSERVE": "on"},
    "metrics": {"RONGCHENG_OBSERVE": "on", "RONGCHENG_ACCESS_LOG_LEVEL": "WARNING"},
    "without": {"RONGCHENG_OBSERVE": "off"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one load run")
    parser.add_argument("--repeats", type=int, default=3, help="load runs per page and server; medians compared")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections (threads) per client process")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    args = parse_arguments(parser, seconds=0.3, repeats=1, processes=1, threads=2)
    with open("/proc/loadavg", encoding="ascii") as loadavg:
        print(f"load average before the runs: {loadavg.read().strip()}")

    with throwaway_database(args.database) as env:
        env.update(RONGCHENG_AUDIT_SEAL_MODE="background", RONGCHENG_ALLOWED_HOSTS="127.0.0.1",
                   RONGCHENG_LOG_LEVEL="ERROR", RONGCHENG_METRICS_NETWORKS="127.0.0.0/8")  # fmt: skip
        setup_django(env)
        from django.db import connections

        connections.close_all()
        loads: dict[tuple[str, str], list[Load]] = {}
        shape = {"processes": args.processes, "threads": args.threads}
        for _ in range(args.repeats):
            for mode in MODES:
                port = _free_port()
                log = Path(tempfile.gettempdir()) / f"rc-bench-operations-{port}.log"
                server = _serve({**env, **MODES[mode]}, port, args.workers, log)
                try:
                    _wait_for(port, server, log)
                    for path, expect in PAGES.values():  # warm up
                        http_load(port, path, expect=expect, seconds=min(args.seconds, 1.0), **shape)
                    for label, (path, expect) in PAGES.items():
                        run = http_load(port, path, expect=expect, seconds=args.seconds, **shape)
                        loads.setdefault((label, mode), []).append(run)
                    if mode != "without":  # the metrics counted what was sent
                        scrape = http_load(port, "/metrics", expect=b"rongcheng_http_requests_total", seconds=0.2,
                                           processes=1, threads=1)  # fmt: skip
                        if scrape.failures:
                            raise SystemExit("/metrics did not answer with the request counters")
                finally:
                    _stop(server)
                log.unlink(missing_ok=True)

    with open("/proc/loadavg", encoding="ascii") as loadavg:
        print(f"\nload average after the runs: {loadavg.read().strip()}")
    print(f"Observing requests: granian, {args.workers} workers, {args.database}, "
          f"{args.processes * args.threads} connections from {load_generator()}, median of {args.repeats} x "
          f"{args.seconds:g} s")  # fmt: skip
    print(f"{'page':<32} {'observed':>9} {'metrics':>8} {'without':>8} {'ratio':>6} {'ratio':>6} {'p50 obs':>8} "
          f"{'p50 w/o':>8}")  # fmt: skip
    print(f"{'':<32} {'req/s':>9} {'req/s':>8} {'req/s':>8} {'obs.':>6} {'metr.':>6} {'ms':>8} {'ms':>8}")
    failures = 0
    for label in PAGES:
        runs = {mode: loads[(label, mode)] for mode in MODES}
        failures += sum(run.failures for mode_runs in runs.values() for run in mode_runs)
        rate = {mode: statistics.median(run.rate for run in mode_runs) for mode, mode_runs in runs.items()}
        observed = rate["with"] / rate["without"] if rate["without"] else 0.0
        metrics_only = rate["metrics"] / rate["without"] if rate["without"] else 0.0
        print(f"{label:<32} {rate['with']:>9,.0f} {rate['metrics']:>8,.0f} {rate['without']:>8,.0f} "
              f"{observed:>6.3f} {metrics_only:>6.3f} {runs['with'][0].percentile(50):>8.2f} "
              f"{runs['without'][0].percentile(50):>8.2f}")  # fmt: skip
        goal(f"{label}: throughput with metrics >= {GOAL} x without", f"{metrics_only:.3f} x", metrics_only >= GOAL)
        print(f"  {label}: with metrics, the JSON access log and the exchange log: {observed:.3f} x without (reported)")
    if failures:
        raise SystemExit(f"{failures} answers were wrong: the figures above measure the wrong thing")


if __name__ == "__main__":
    main()
