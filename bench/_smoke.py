"""Smoke mode and goal lines shared by every benchmark.

Smoke mode (`--smoke`, or the environment variable BENCH_SMOKE=1) runs a benchmark's own code paths with tiny sizes,
in seconds, so that the test suite (tests/test_bench_smoke.py) notices when a change breaks a benchmark. Figures
taken in smoke mode mean nothing; a goal not met in smoke mode is printed, never fatal: a smoke run fails only when
the benchmark itself breaks (an exception, a wrong answer, a refused request).

Every benchmark ends with one line per goal, in one format the README's table and the smoke test read:

    goal: <what is promised>: <figure> -> met
    goal: <what is promised>: <figure> -> NOT MET
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

SMOKE_ENVIRONMENT = "BENCH_SMOKE"


def smoke_requested(argv: list[str] | None = None) -> bool:
    """Whether this run is a smoke run: --smoke on the command line or BENCH_SMOKE=1 in the environment."""
    return "--smoke" in (sys.argv[1:] if argv is None else argv) or os.environ.get(SMOKE_ENVIRONMENT) == "1"


def parse_arguments(parser: argparse.ArgumentParser, **tiny: Any) -> argparse.Namespace:
    """Parse the command line; in smoke mode the defaults become `tiny` (explicit arguments still win)."""
    parser.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes, seconds, figures meaningless (also {SMOKE_ENVIRONMENT}=1)"
    )
    smoke = smoke_requested()
    if smoke:
        parser.set_defaults(**tiny)
    args = parser.parse_args()
    args.smoke = smoke
    if smoke:
        print(f"SMOKE RUN ({', '.join(f'{k}={v}' for k, v in tiny.items())}): the figures below mean nothing")
    return args


def goal(promise: str, figure: str, met: bool) -> bool:
    """Print one goal line and return whether it was met."""
    print(f"goal: {promise}: {figure} -> {'met' if met else 'NOT MET'}", flush=True)
    return met
