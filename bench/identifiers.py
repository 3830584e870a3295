"""Throughput of ID number and credit code validation and generation, against python-stdnum in the same run.

Run: uv run python bench/identifiers.py [--smoke]

The persons registry imports 8.5 million ID numbers and the demo generator makes as many, so per-call cost matters.
Figures are the median of several repeats over the same inputs; ratios are ours / stdnum's throughput.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from stdnum.cn import ric, uscc

from rongcheng.kernel.divisions import FUZHOU_COUNTIES, division_codes_ever_existed
from rongcheng.kernel.identifiers import (
    CREDIT_CODE_ALPHABET,
    credit_code_is_valid,
    credit_code_make,
    credit_code_validate,
    id_number_is_valid,
    id_number_make,
    id_number_validate,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _smoke import goal, parse_arguments

ITEMS = 20_000
REPEATS = 7
SEED = 2017


def per_second(function: Callable[[str], object], inputs: Sequence[str]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for value in inputs:
            function(value)
        timings.append(time.perf_counter() - started)
    return len(inputs) / statistics.median(timings)


def make_per_second(arguments: Sequence[tuple[str, date, int]]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for division_code, birth_date, sequence in arguments:
            id_number_make(division_code=division_code, birth_date=birth_date, sequence=sequence)
        timings.append(time.perf_counter() - started)
    return len(arguments) / statistics.median(timings)


def id_number_arguments(rng: random.Random) -> list[tuple[str, date, int]]:
    """Fuzhou numbers with birth dates inside their code's period, so that stdnum accepts them too."""
    arguments = []
    for _ in range(ITEMS):
        county = rng.choice(FUZHOU_COUNTIES)
        first = max(county.valid_from_year or 1930, 1930)
        last = min(county.valid_to_year or 2025, 2025)
        born = date(rng.randint(first, last), rng.randint(1, 12), rng.randint(1, 28))
        arguments.append((county.code, born, rng.randrange(1000)))
    return arguments


def credit_codes(rng: random.Random) -> list[str]:
    """Codes with digits in positions 1-8 (which stdnum requires) and a mix of organisation bodies."""
    counties = [county.code for county in FUZHOU_COUNTIES]
    return [
        credit_code_make(
            registration_department="9",
            category=rng.choice("123"),
            division_code=rng.choice(counties),
            organization_body="".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(8)),
        )
        for _ in range(ITEMS)
    ]


def line(label: str, ours: float, theirs: float | None = None) -> None:
    ratio = f"   x{ours / theirs:6.1f} vs stdnum" if theirs else ""
    print(f"  {label:<40} {ours:>12,.0f} /s{ratio}")


def main() -> None:
    global ITEMS, REPEATS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parse_arguments(parser, items=300, repeats=1)
    ITEMS, REPEATS = args.items, args.repeats
    rng = random.Random(SEED)
    division_codes_ever_existed()  # load the national table outside the timings
    arguments = id_number_arguments(rng)
    id_numbers = [id_number_make(division_code=d, birth_date=b, sequence=s) for d, b, s in arguments]
    codes = credit_codes(rng)
    accepted = (
        sum(map(id_number_is_valid, id_numbers)),
        sum(map(ric.is_valid, id_numbers)),
        sum(map(credit_code_is_valid, codes)),
        sum(map(uscc.is_valid, codes)),
    )

    stdnum_ric = per_second(ric.is_valid, id_numbers)
    stdnum_uscc = per_second(uscc.is_valid, codes)
    print(f"{ITEMS:,} inputs, median of {REPEATS} repeats")
    print("ID numbers (GB 11643)")
    ours_ric = per_second(id_number_validate, id_numbers)
    line("id_number_validate", ours_ric, stdnum_ric)
    line("id_number_is_valid", per_second(id_number_is_valid, id_numbers), stdnum_ric)
    line("stdnum cn.ric.is_valid", stdnum_ric)
    line("id_number_make", make_per_second(arguments))
    print("Credit codes (GB 32100)")
    ours_uscc = per_second(credit_code_validate, codes)
    line("credit_code_validate", ours_uscc, stdnum_uscc)
    line("credit_code_is_valid", per_second(credit_code_is_valid, codes), stdnum_uscc)
    line("stdnum cn.uscc.is_valid", stdnum_uscc)
    print(
        f"accepted: ours {accepted[0]:,} / stdnum {accepted[1]:,} ID numbers, "
        f"ours {accepted[2]:,} / stdnum {accepted[3]:,} credit codes, of {ITEMS:,} each"
    )
    if accepted != (ITEMS,) * 4:
        raise SystemExit("a generated identifier was refused: the figures above measure the wrong thing")
    goal(
        "ID number validation at least as fast as python-stdnum",
        f"{ours_ric / stdnum_ric:.1f}x",
        ours_ric >= stdnum_ric,
    )
    goal(
        "credit code validation at least as fast as python-stdnum",
        f"{ours_uscc / stdnum_uscc:.1f}x",
        ours_uscc >= stdnum_uscc,
    )


if __name__ == "__main__":
    main()
