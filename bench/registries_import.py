"""Bulk import of persons into PostgreSQL against a raw COPY of the same rows, measured in the same run.

Import = `registry_import` of a CSV file: read it twice (refusal checks and SM3 digest, then rows), validate every row
with the registry's rules, encrypt and index the ID number and phone, check each key against the file and the
registry, insert, audit. Raw COPY = the same rows, already
encrypted and indexed before the clock starts, copied into the person table with the kernel's `bulk_insert`
(COPY in chunks of 10,000 rows, one transaction each) and nothing else. The target is 30,000 imported rows per second;
the figure to watch is the ratio.

    uv run python bench/registries_import.py [--persons 200000] [--repeats 3] [--addresses]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import median_rate, setup_django, throwaway_database
from _smoke import goal, parse_arguments

TARGET = 30_000
CHUNK = 10_000


def write_csv(path: Path, persons: int, addresses: bool) -> None:
    from rongcheng.demo.generator import person_rows

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id_number", "name", "ethnicity", "division_code", "phone", *(["address"] if addresses else [])]
        )
        for index, p in enumerate(person_rows(2017, 0, persons)):
            address = [f"福州市鼓楼区测试路{index // 4}号"] if addresses else []  # four persons per address
            writer.writerow([p.id_number, p.name, p.ethnicity, p.division_code, p.phone, *address])


def run(persons: int, repeats: int, addresses: bool) -> None:
    with throwaway_database("postgres") as env, tempfile.TemporaryDirectory(prefix="rc-import-") as directory:
        env["RONGCHENG_AUDIT_SEAL_MODE"] = "manual"  # no sealer thread to outlive the throwaway database
        setup_django(env)
        from django.db import connection, transaction
        from django.utils import timezone

        from rongcheng.audit.services import Actor
        from rongcheng.demo.generator import person_rows
        from rongcheng.demo.services import PERSON_COLUMNS
        from rongcheng.kernel.bulk import bulk_insert
        from rongcheng.registries.importing import registry_import
        from rongcheng.registries.protection import protect_id_number, protect_phone

        path = Path(directory) / "persons.csv"
        write_csv(path, persons, addresses)
        actor = Actor("system", "bench", "import benchmark")

        def empty() -> None:
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE registries_person, registries_address CASCADE")

        now = timezone.now()
        protected = [
            (*protect_id_number(p.id_number), p.name, p.sex, p.birth_date, p.ethnicity, p.division_code,
             *protect_phone(p.phone), "living", 1, now, None)
            for p in person_rows(2017, 0, persons)
        ]  # fmt: skip

        def raw() -> int:
            done = 0
            for start in range(0, persons, CHUNK):
                with transaction.atomic():
                    done += bulk_insert("registries_person", PERSON_COLUMNS, protected[start : start + CHUNK])
            return done

        def imported(workers: int | None) -> int:
            report = registry_import(
                kind="persons", source=path, filename=path.name, strict=False, actor=actor, workers=workers
            )
            if report.inserted != persons or report.rejected:
                raise SystemExit(f"unexpected import report: {report}")
            return report.rows_read

        def again() -> int:
            report = registry_import(kind="persons", source=path, filename=path.name, strict=False, actor=actor)
            if report.unchanged != persons:
                raise SystemExit(f"unexpected second import: {report}")
            return report.rows_read

        def timed(work: Callable[[], int]) -> float:
            empty()
            start = time.perf_counter()
            done = work()
            return done / (time.perf_counter() - start)

        def strict() -> int:
            return registry_import(kind="persons", source=path, filename=path.name, strict=True, actor=actor).inserted

        # One round of each per repeat, interleaved, so that a change of load on the machine hits them alike.
        legs: dict[str, Callable[[], int]] = {
            "raw": raw, "import": lambda: imported(None), "in_process": lambda: imported(1), "strict": strict,
        }  # fmt: skip
        rates: dict[str, list[float]] = {name: [] for name in legs}
        for _ in range(repeats):
            for name, work in legs.items():
                rates[name].append(timed(work))
        empty()
        imported(None)
        again_rate = median_rate(again, repeats)
    raw_rate, import_rate, single_rate, strict_rate = (
        statistics.median(rates[name]) for name in ("raw", "import", "in_process", "strict")
    )

    print(
        f"Persons import into PostgreSQL, {persons:,} rows{' with addresses' if addresses else ''}, "
        f"median of {repeats} runs"
    )
    print(f"  raw COPY of the same protected rows   {raw_rate:>10,.0f} rows/s")
    print(f"  import (worker process, default)       {import_rate:>10,.0f} rows/s   ratio {import_rate / raw_rate:.2f}")
    print(f"  import (one process)                   {single_rate:>10,.0f} rows/s   ratio {single_rate / raw_rate:.2f}")
    print(f"  import, strict (one transaction)       {strict_rate:>10,.0f} rows/s   ratio {strict_rate / raw_rate:.2f}")
    print(f"  same file again (all unchanged)        {again_rate:>10,.0f} rows/s")
    goal(f"persons import >= {TARGET:,} rows/s", f"{import_rate:,.0f} rows/s", import_rate >= TARGET)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--addresses", action="store_true", help="add an address column (four persons per address)")
    args = parse_arguments(parser, persons=300, repeats=1)
    run(args.persons, args.repeats, args.addresses)


if __name__ == "__main__":
    main()
