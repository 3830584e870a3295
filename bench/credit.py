"""Public credit: the joint-measure check added to a hall transition, the public query over HTTP, batch screening.

Claims checked (issue 18): with 1.3 million entities, 8.5 million persons and 10 million credit records in
PostgreSQL, the hall's check adds under 5 ms p99 to a transition in-process, and the public query answers with p99
under 50 ms over HTTP; batch screening of 100,000 subjects: the rate is reported.

Data, generated for the run and said plainly:
  * --entities entity subjects and --persons person subjects (keys: valid synthetic credit codes, and blind indexes
    of synthetic ID numbers), written by bulk INSERT; --records credit records spread over them (bulk INSERT, the
    same columns the services write); 1 % of the subjects on the black list under one memorandum of two measures.
  * --applications hall applications by persons among the subjects (a fifth of them black-listed), written as rows.
  * The check's overhead is the guard the hall runs on accept/approve/refuse (`hall.checks.unrecorded`: the
    registered credit check and the recorded rows), timed per call in-process, and set against a whole accept
    transition of the same applications on clean applicants.
  * The public query is `GET /api/v1/credit/subjects?q=<credit code>` and `GET /api/v1/credit/subjects/{id}` against
    `rongcheng serve` (granian) on PostgreSQL (the per-address limit raised for the run). Its latency goal is taken
    with one connection per server worker (each request served as it comes, not queued behind others); the same
    reads with --processes x --threads connections give the throughput, their latencies (mostly queueing once the
    two cores are busy) reported beside it.
  * Screening: a CSV of --screening subjects (half of them known, some listed) through `screening_run`.

    uv run python bench/credit.py                     # 1.3 M entities, 8.5 M persons, 10 M records (long)
    uv run python bench/credit.py --entities 100000 --persons 300000 --records 1000000
    uv run python bench/credit.py --reuse             # seed DATABASE_URL's database (or rc_bench_credit) once, keep it

With --reuse the database named by --database-url, else DATABASE_URL, else rc_bench_credit is kept for the next run,
with its keys in RONGCHENG_DATA_DIR (else a directory beside it in the temporary directory): a run finds it seeded
with the same sizes and measures straight away (the seeding takes minutes at full size); one seeded with other sizes
is refused, never mixed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import setup_django, throwaway_database
from _server import Load, _cli, _database_exists, _free_port, _stop, _wait_for, create_database, http_load
from _smoke import goal, parse_arguments

PG_HOST = "postgres://postgres@127.0.0.1:5432"
KEPT_DATABASE = "rc_bench_credit"  # --reuse without a database named
CHECK_GOAL_MS = 5.0
QUERY_GOAL_MS = 50.0
BATCH = 5_000


def load_average() -> str:
    """The first three fields of /proc/loadavg (the machine is shared: every figure is read beside it)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return (samples or [0.0])[0] * 1000
    return statistics.quantiles(samples, n=100, method="inclusive")[98] * 1000


def credit_code(n: int) -> str:
    from rongcheng.kernel.identifiers import CREDIT_CODE_ALPHABET, credit_code_make

    digits, body = n, ""
    for _ in range(6):
        digits, rest = divmod(digits, len(CREDIT_CODE_ALPHABET))
        body = CREDIT_CODE_ALPHABET[rest] + body
    return credit_code_make(registration_department="9", category="1", division_code="350102",
                            organization_body="MA" + body)  # fmt: skip


def _copy(table: str, columns: str, rows: Iterator[tuple[object, ...]]) -> None:
    """Stream rows into `table` by PostgreSQL COPY (psycopg 3): the only way to write millions of rows in minutes."""
    from django.db import connection

    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(entities: int, persons: int, records: int) -> dict[str, object]:
    """Subjects, list entries and records by COPY; the keys are what the services write (credit codes for entities;
    for persons a stand-in for the blind index, whose cost is per call and not what is measured here)."""
    from django.contrib.auth.models import Permission
    from django.db import transaction
    from django.utils import timezone

    from rongcheng.accounts.models import AccountKind, Department, User
    from rongcheng.credit.models import ListEntry, Measure, Memorandum, Subject

    gsj, _ = Department.objects.get_or_create(code="FZ-GSJ", defaults={"name": "福州市市场监督管理局",
                                                                      "credit_code": credit_code(10**8)})  # fmt: skip
    memo = Memorandum.objects.create(code="BENCH", title="关于对失信被执行人实施联合惩戒的合作备忘录",
                                     document_number="发改财金〔2016〕141号", list_type="black",
                                     signed_on=dt.date(2016, 1, 20))  # fmt: skip
    Measure.objects.bulk_create([Measure(memorandum=memo, code="M1", text="限制取得政府供应土地"),
                                 Measure(memorandum=memo, code="M2", text="限制参与政府采购")])  # fmt: skip
    office = User.objects.create(username="bench-office", kind=AccountKind.STAFF, department=gsj, is_staff=True)
    office.user_permissions.add(Permission.objects.get(codename="manage_lists"))
    now, today = timezone.now(), dt.date(2026, 12, 1)

    def subjects() -> Iterator[tuple[object, ...]]:
        for n in range(entities + persons):
            if n < entities:
                code = credit_code(n)
                yield ("entity", code, f"福州基准企业{n}有限公司", code, now)
            else:
                yield ("person", f"bench-person-{n:012d}", f"林{n}", "350102********0018", now)

    with transaction.atomic():
        _copy("credit_subject", "kind, key, name, code_masked, created_at", subjects())
    subject_ids = list(Subject.objects.order_by("id").values_list("id", flat=True))
    listed = [subject_id for position, subject_id in enumerate(subject_ids) if position % 100 == 7]
    with transaction.atomic():
        ListEntry.objects.bulk_create(
            (ListEntry(number=f"BMBENCH{i:09d}", list_type="black", list_name="失信被执行人", subject_id=subject_id,
                       department=gsj, legal_basis="依据", memorandum=memo, listed_on=dt.date(2026, 1, 1))
             for i, subject_id in enumerate(listed)), batch_size=BATCH,
        )  # fmt: skip
    code, until = gsj.credit_code, dt.date(2029, 12, 1)
    empty = ""

    def rows() -> Iterator[tuple[object, ...]]:
        for n in range(records):
            yield ("penalty" if n % 3 == 0 else "licensing", subject_ids[n % len(subject_ids)], gsj.pk, empty, empty,
                   empty, empty, f"榕市监〔2026〕{n}号", empty, "罚款人民币贰万元整", empty, empty, empty, empty, empty,
                   empty, today, until, "福州市市场监督管理局", code, "福州市市场监督管理局", code, "valid", empty,
                   "{}", now, today, today, False, "file", f"bench:{n}")  # fmt: skip

    with transaction.atomic():
        _copy(
            "credit_record",
            "kind, subject_id, department_id, legal_representative, legal_representative_index, "
            "legal_representative_masked, document_name, document_number, category, content, licence_name, "
            "licence_number, violation_type, violation_facts, basis, licence_withheld, decided_on, public_until, "
            "authority, authority_code, source_unit, source_unit_code, status, note, extra, received_at, "
            "published_on, due_on, late, intake, source_reference",
            rows(),
        )
    return {"office": office, "subjects": len(subject_ids), "middle": subject_ids[len(subject_ids) // 2],
            "listed": set(listed), "gsj": gsj}  # fmt: skip


def seeded_before(entities: int, persons: int, records: int) -> dict[str, object] | None:
    """What an earlier run seeded in this (kept) database, or None when it holds no seeded data; one seeded with other
    sizes is refused: its figures would not be the ones asked for."""
    from django.db import connection

    from rongcheng.accounts.models import Department, User
    from rongcheng.credit.models import ListEntry, Memorandum

    if not Memorandum.objects.filter(code="BENCH").exists():
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT kind, count(*) FROM credit_subject GROUP BY kind")
        kinds = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM credit_record WHERE source_reference LIKE 'bench:%%'")
        found = (kinds.get("entity", 0), kinds.get("person", 0), cursor.fetchone()[0])
        if found != (entities, persons, records):
            raise SystemExit(
                f"the kept database was seeded with {found[0]} entities, {found[1]} persons and {found[2]} records, "
                "not the sizes asked for: drop it, or run with those sizes"
            )
        cursor.execute("SELECT id FROM credit_subject ORDER BY id OFFSET %s LIMIT 1", [(entities + persons) // 2])
        middle = cursor.fetchone()[0]
    listed = set(ListEntry.objects.filter(memorandum__code="BENCH").values_list("subject_id", flat=True))
    return {"office": User.objects.get(username="bench-office"), "subjects": entities + persons, "middle": middle,
            "listed": listed, "gsj": Department.objects.get(code="FZ-GSJ")}  # fmt: skip


def applications(count: int, seeded: dict[str, object]) -> list[object]:
    """Hall applications by person subjects: every fifth one black-listed."""
    from django.utils import timezone

    from rongcheng.accounts.models import AccountKind, User
    from rongcheng.audit.services import Actor
    from rongcheng.credit.models import Subject
    from rongcheng.hall.models import Application
    from rongcheng.hall.services import service_item_upsert

    item = service_item_upsert(
        data={"code": "BENCH-XK", "name": "基准许可", "department": "FZ-GSJ", "kind": "licensing",
              "legal_basis": "基准", "statutory_days": 15, "promised_days": 5, "materials": []},
        actor=Actor.system("bench/credit.py"),
    )  # fmt: skip
    kept = list(Application.objects.filter(service=item).select_related("applicant").order_by("id")[:count])
    if len(kept) == count:  # a kept database: the applications of the run that seeded it
        return kept  # type: ignore[return-value]
    listed = seeded["listed"]
    people = list(Subject.objects.filter(kind="person").values_list("pk", "key")[: count * 10])
    chosen = [p for p in people if p[0] in listed][: count // 5] + [p for p in people if p[0] not in listed]  # type: ignore[operator]
    result: list[object] = list(kept)
    for n, (_, key) in enumerate(chosen[len(kept) : count], start=len(kept)):
        user = User.objects.create(username=f"bench-applicant-{n}", kind=AccountKind.RESIDENT, id_number_index=key)
        result.append(Application.objects.create(
            number=f"FZ-GSJ-20261201-{n:06d}", service=item, department=item.department, applicant=user,
            state="submitted", submitted_at=timezone.now(),
        ))  # fmt: skip
    return result


def check_overhead(apps: list[object], repeats: int) -> tuple[list[float], list[float], list[float], int, float, float]:
    """Seconds per guard call (all applications) and per clean call; seconds per pair of bare round trips
    (`SELECT 1` twice, timed between the guard calls: the floor the machine's load puts under any check of two
    queries); items found; this process's CPU seconds per call (what the check costs the application server,
    whatever the machine's load does to the wall clock); and the database queries per call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rongcheng.hall.checks import unrecorded

    day = dt.date(2026, 12, 1)
    samples, clean, floor = [], [], []
    items = 0
    cpu = 0.0
    with connection.cursor() as cursor:
        for _ in range(repeats):
            for application in apps:
                cpu_began = time.process_time()
                began = time.perf_counter()
                missing = unrecorded(application, day)  # type: ignore[arg-type]
                elapsed = time.perf_counter() - began
                cpu += time.process_time() - cpu_began
                samples.append(elapsed)
                if missing:
                    items += 1
                else:
                    clean.append(elapsed)
                began = time.perf_counter()
                for _ in range(2):
                    cursor.execute("SELECT 1")
                    cursor.fetchall()
                floor.append(time.perf_counter() - began)
    with CaptureQueriesContext(connection) as captured:
        for application in apps:
            unrecorded(application, day)  # type: ignore[arg-type]
    per_call = cpu / max(1, len(samples))
    return samples, clean, floor, items, per_call, len(captured.captured_queries) / max(1, len(apps))


def screening_rate(count: int, office: Any) -> tuple[float, int]:
    from rongcheng.credit.services import screening_run

    lines = ["name,code"] + [f"企业{n},{credit_code(n)}" for n in range(count)]
    content = ("\n".join(lines) + "\n").encode()
    began = time.perf_counter()
    rows = screening_run(user=office, content=content, on=dt.date(2026, 12, 1))
    elapsed = time.perf_counter() - began
    return count / elapsed, sum(r.outcome == "black" for r in rows)


@contextmanager
def kept_database(url: str | None) -> Iterator[dict[str, str]]:
    """Environment for the kept database (created when absent) and its data directory (its keys), neither removed."""
    url = url or os.environ.get("DATABASE_URL") or f"{PG_HOST}/{KEPT_DATABASE}"
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if not name.startswith("rc_"):
        raise SystemExit(f"--reuse keeps only a database named rc_*, not {name!r}")
    data_dir = Path(os.environ.get("RONGCHENG_DATA_DIR") or Path(tempfile.gettempdir()) / f"{name}-data")
    if not _database_exists(name):
        create_database(name)
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"kept database {url}, data directory {data_dir}", flush=True)
    yield {"RONGCHENG_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings",
           "DATABASE_URL": url}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1_300_000)
    parser.add_argument("--persons", type=int, default=8_500_000)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--applications", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5, help="guard calls per application")
    parser.add_argument("--screening", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one HTTP load run")
    parser.add_argument("--reuse", action="store_true", help="keep the database (seeded once) for the next run")
    parser.add_argument("--database-url", help="with --reuse: the database to keep (default: DATABASE_URL, else "
                        f"{PG_HOST}/{KEPT_DATABASE})")  # fmt: skip
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parse_arguments(parser, entities=300, persons=300, records=1000, applications=10, repeats=2,
                           screening=200, seconds=0.3, processes=1, threads=2)  # fmt: skip

    if args.smoke:
        args.reuse = False  # a smoke run never keeps (nor finds) a database
    with kept_database(args.database_url) if args.reuse else throwaway_database("postgres") as env:
        env["RONGCHENG_ALLOWED_HOSTS"] = "127.0.0.1"
        env["RONGCHENG_RATE_LIMITS"] = "credit.query.address=1000000000/60"
        setup_django(env)
        from django.db import connection, connections

        began = time.perf_counter()
        seeded = seeded_before(args.entities, args.persons, args.records) if args.reuse else None
        if seeded is None:
            seeded = seed(args.entities, args.persons, args.records)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            print(f"seeded {args.entities} entities, {args.persons} persons, {args.records} records "
                  f"in {time.perf_counter() - began:.0f} s; load average {load_average()}", flush=True)  # fmt: skip
        else:
            print(
                f"reused {env['DATABASE_URL']} ({args.entities} entities, {args.persons} persons, {args.records} "
                f"records) after {time.perf_counter() - began:.0f} s; load average {load_average()}",
                flush=True,
            )
        apps = applications(args.applications, seeded)
        samples, clean, floor, matched, cpu, queries = check_overhead(apps, args.repeats)
        if matched == 0:
            raise SystemExit("no black-listed applicant was matched: the check is broken")
        rate, black = screening_rate(args.screening, seeded["office"])
        subjects: int = seeded["subjects"]  # type: ignore[assignment]
        code = credit_code(subjects // 3 if args.entities > subjects // 3 else 0)
        connections.close_all()

        port = _free_port()
        log = Path(tempfile.gettempdir()) / f"rc-bench-credit-{port}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                _cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)),
                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        shape = {"processes": args.processes, "threads": args.threads}
        search = f"/api/v1/credit/subjects?q={code}"
        detail = f"/api/v1/credit/subjects/{seeded['middle']}"
        try:
            _wait_for(port, server, log)
            http_load(port, search, expect=code.encode(), seconds=min(args.seconds, 1.0), **shape)
            loads: dict[str, Load] = {
                "search by credit code": http_load(port, search, expect=code.encode(), seconds=args.seconds, **shape),
                "subject page (records, lists)": http_load(port, detail, expect=b'"records"', seconds=args.seconds,
                                                          **shape),
            }  # fmt: skip
            served = {"processes": 1, "threads": args.workers}  # one connection per worker: latency, not queueing
            latencies: dict[str, Load] = {
                "search by credit code": http_load(port, search, expect=code.encode(), seconds=args.seconds, **served),
                "subject page (records, lists)": http_load(port, detail, expect=b'"records"', seconds=args.seconds,
                                                          **served),
            }  # fmt: skip
        finally:
            _stop(server)
        log.unlink(missing_ok=True)

    print(f"\nHall check (hall.checks.unrecorded with the credit check), {len(apps)} applications x {args.repeats}:")
    print(f"  p50 {statistics.median(samples) * 1000:.2f} ms, p99 {p99(samples):.2f} ms (clean applicants: "
          f"p99 {p99(clean):.2f} ms); listed applicants matched: {matched}")  # fmt: skip
    print(f"  this process's CPU per call {cpu * 1000:.2f} ms; {queries:.1f} indexed queries per call")
    print(f"  two bare round trips (SELECT 1) between the calls, the machine's floor: p50 "
          f"{statistics.median(floor) * 1000:.2f} ms, p99 {p99(floor):.2f} ms")  # fmt: skip
    print(f"\nPublic query over HTTP ({args.processes * args.threads} connections, {args.seconds:g} s):")
    for label, load in loads.items():
        print(f"  {label:<32} {load.rate:8.0f} req/s  p50 {load.percentile(50):6.1f} ms  "
              f"p99 {load.percentile(99):6.1f} ms  failed {load.failures}")  # fmt: skip
    print(f"Public query latency, one connection per server worker ({args.workers}), {args.seconds:g} s:")
    for label, load in latencies.items():
        print(f"  {label:<32} {load.rate:8.0f} req/s  p50 {load.percentile(50):6.1f} ms  "
              f"p99 {load.percentile(99):6.1f} ms  failed {load.failures}")  # fmt: skip
    if any(load.failures for load in [*loads.values(), *latencies.values()]):
        raise SystemExit("wrong answers under load")
    print(f"\nScreening: {args.screening} subjects at {rate:,.0f} subjects/s ({black} black-listed found)")
    print(f"\nload average at the end: {load_average()}")
    worst = max(load.percentile(99) for load in latencies.values())
    goal(f"hall check adds < {CHECK_GOAL_MS:g} ms p99 to a transition", f"{p99(samples):.2f} ms "
         f"({p99(samples) / CHECK_GOAL_MS:.2f} of the limit)", p99(samples) < CHECK_GOAL_MS)  # fmt: skip
    goal(f"public query p99 < {QUERY_GOAL_MS:g} ms over HTTP ({args.workers} connections)",
         f"{worst:.1f} ms ({worst / QUERY_GOAL_MS:.2f} of the limit)", worst < QUERY_GOAL_MS)  # fmt: skip
    print(f"batch screening rate: {rate:,.0f} subjects/s (reported, no goal)")


if __name__ == "__main__":
    main()
