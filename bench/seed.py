"""Demo-city seeding speed against a raw bulk insert of the same rows, on SQLite and on PostgreSQL.

Seeding = generating persons (valid ID numbers, names, phones), encrypting and indexing their ID numbers and
phones (SM4-GCM, HMAC-SM3), and inserting them through the demo service (COPY on PostgreSQL, executemany on
SQLite; a worker process prepares the next chunk meanwhile). Raw = inserting the same, already generated and
encrypted rows with the same bulk path and nothing else. The figure that matters is the ratio, measured in one run.

    uv run python bench/seed.py [--persons 200000] [--repeats 3] [--database sqlite|postgres|both] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import median_rate, setup_django, throwaway_database
from _smoke import goal, parse_arguments

GOAL = 0.5  # seeding keeps at least half the rate of a raw bulk insert of the same rows


def leg(kind: str, persons: int, repeats: int) -> dict[str, float]:
    with throwaway_database(kind) as env:
        setup_django(env)
        from django.db import connection, transaction

        from rongcheng.demo.generator import person_rows
        from rongcheng.demo.models import SeedChunk
        from rongcheng.demo.services import PERSON_COLUMNS, demo_city_seed, person_registry_rows
        from rongcheng.kernel.bulk import bulk_insert

        def empty() -> None:
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    # CASCADE: applications, representations and licences refer to them (all empty in this bench)
                    cursor.execute("TRUNCATE registries_legalentity, registries_person CASCADE")
                else:
                    cursor.execute("DELETE FROM registries_legalentity")
                    cursor.execute("DELETE FROM registries_person")
            SeedChunk.objects.filter(kind="persons").delete()

        demo_city_seed(persons=0, entities=0)  # departments, places, accounts: not part of the measure
        rows = list(person_registry_rows(2017, 0, persons))

        def raw() -> int:
            done = 0
            for start in range(0, persons, 10_000):
                with transaction.atomic():
                    done += bulk_insert("registries_person", PERSON_COLUMNS, rows[start : start + 10_000])
            return done

        def seeded() -> int:
            return demo_city_seed(persons=persons, entities=0).persons_added

        raw_rate = median_rate(raw, repeats, before=empty)
        seed_rate = median_rate(seeded, repeats, before=empty)
        generate_rate = median_rate(lambda: sum(1 for _ in person_rows(2017, 0, persons)), repeats)
        protect_rate = median_rate(lambda: sum(1 for _ in person_registry_rows(2017, 0, persons)), repeats)
        return {"raw": raw_rate, "seed": seed_rate, "generate": generate_rate, "protect": protect_rate}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--leg", choices=["sqlite", "postgres"])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parse_arguments(parser, persons=300, repeats=1)
    if args.leg:
        print(json.dumps(leg(args.leg, args.persons, args.repeats)))
        return
    print(f"Demo-city persons, {args.persons:,} per run, median of {args.repeats} runs")
    header = ("database", "generated/s", "+encrypted/s", "seeded/s", "raw bulk/s", "seed/raw")
    print(f"{header[0]:<10} {header[1]:>12} {header[2]:>13} {header[3]:>12} {header[4]:>12} {header[5]:>9}")
    for kind in ("sqlite", "postgres") if args.database == "both" else (args.database,):
        out = subprocess.run(
            [sys.executable, __file__, "--leg", kind, "--persons", str(args.persons), "--repeats", str(args.repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        raw_name = "COPY" if kind == "postgres" else "executemany"
        print(
            f"{kind:<10} {figures['generate']:>12,.0f} {figures['protect']:>13,.0f} {figures['seed']:>12,.0f} "
            f"{figures['raw']:>12,.0f} "
            f"{figures['seed'] / figures['raw']:>9.2f}   (raw = {raw_name} of the same rows)"
        )
        ratio = figures["seed"] / figures["raw"]
        goal(f"seeding >= {GOAL} of a raw bulk insert ({kind})", f"{ratio:.2f}", ratio >= GOAL)


if __name__ == "__main__":
    main()
