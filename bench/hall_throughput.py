"""Applications submitted and decided per second through the service hall's services, against the bare SQL of the
same row changes.

Each application goes through the services as a resident and an officer would take it: start, prefill from the
population registry (an audited read), upload one material (content sniffing, SM3 digest, file stored), submit
(numbered by the per-department counter), accept (deadline on the holiday calendar), review, approve, conclude:
eight transactions, each locking the row, checking the transition table, writing the timeline event, the audit
record and the applicant's message. The physical limit measured in the same run on the same database is the bare
SQL of the rows that end up changed: one INSERT of the application and seven guarded UPDATEs of its state, each in
its own transaction, without events, audit records, messages, materials or checks.

    uv run python bench/hall_throughput.py                   # SQLite and PostgreSQL, 300 applications each
    uv run python bench/hall_throughput.py --database postgresql --applications 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import Statements, counting_statements, setup_django, throwaway_database
from _smoke import goal, parse_arguments

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _backend_seconds(connection: object) -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine: /proc), 0 elsewhere."""
    import os

    if getattr(connection, "vendor", "") != "postgresql":
        return 0.0
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[float]] = {}  # per path: [bench process seconds, backend seconds, applications]


def _run(kind: str, count: int, repeats: int) -> tuple[float, float, Statements, Statements]:
    with throwaway_database(kind) as env:
        setup_django(env)
        from django.contrib.auth.models import Permission
        from django.db import connection, transaction
        from django.utils import timezone

        from rongcheng.accounts.models import AccountKind, AssuranceLevel, Department, User
        from rongcheng.audit.services import Actor
        from rongcheng.hall import services
        from rongcheng.hall.services import service_item_upsert
        from rongcheng.kernel.identifiers import id_number_make
        from rongcheng.registries.services import person_register

        system = Actor.system("bench/hall_throughput.py")

        for code, name in (("FZ-GSJ", "福州市市场监督管理局"), ("FZ-GAJ", "福州市公安局"), ("FZ-MZJ", "福州市民政局")):
            Department.objects.get_or_create(code=code, defaults={"name": name})
        item = service_item_upsert(
            data={"code": "BENCH-JZZ", "name": "居住证办理（基准）", "department": "FZ-GAJ", "kind": "licensing",
                  "legal_basis": "《居住证暂行条例》", "statutory_days": 15, "promised_days": 7, "min_assurance": 2,
                  "materials": [{"code": "holder", "name": "申领人身份信息", "source": "registry",
                                 "fields": ["person.name", "person.id_number", "person.address"]},
                                {"code": "residence", "name": "居住证明", "source": "upload", "formats": ["pdf"],
                                 "max_bytes": 1024 * 1024}]},
            actor=Actor.system("bench/hall_throughput.py"),
        )  # fmt: skip
        officer = User.objects.create(
            username="bench-officer", kind=AccountKind.STAFF, department=item.department, is_staff=True
        )
        officer.user_permissions.add(Permission.objects.get(codename="decide_application"))
        officer = User.objects.get(pk=officer.pk)
        residents = []
        for n in range(count * repeats):
            birth = dt.date(1960, 1, 1) + dt.timedelta(days=n % 15000)
            person = person_register(
                data={
                    "id_number": id_number_make(division_code="350102", birth_date=birth, sequence=n % 1000),
                    "name": "林则徐",
                },
                actor=system,
            )
            residents.append(
                User.objects.create(
                    username=f"bench-resident-{n}",
                    kind=AccountKind.RESIDENT,
                    assurance_level=AssuranceLevel.L2,
                    id_number_index=person.id_number_index,
                )
            )

        def through_services(batch: list[User]) -> int:
            for resident in batch:
                application = services.application_start(user=resident, service_code=item.code)
                services.application_prefill(user=resident, application_id=application.pk, authorize_licences=True)
                services.application_upload(
                    user=resident, application_id=application.pk, material_code="residence", file_name="r.pdf",
                    content=PDF,
                )  # fmt: skip
                services.application_submit(user=resident, application_id=application.pk)
                for name in ("accept", "review", "approve", "conclude"):
                    services.application_transition(user=officer, application_id=application.pk, transition=name)
            return len(batch)

        states = ("submitted", "accepted", "under_review", "approved", "concluded", "concluded", "concluded")

        serial = itertools.count()  # application numbers, unique over every pass

        def bare_sql(batch: list[User]) -> int:
            now = timezone.now()
            for resident in batch:
                number = next(serial)
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO hall_application (number, service_id, department_id, applicant_id, state, "
                        "statement, licence_authorized, created_at, updated_at, flag, decision_reason, issued_licence, "
                        "version) VALUES (%s, %s, %s, %s, 'draft', '', true, %s, %s, '', '', '', 1)",
                        [f"BARE-{resident.pk}-{number}", item.pk, item.department_id, resident.pk, now, now],
                    )
                    cursor.execute("SELECT max(id) FROM hall_application WHERE applicant_id = %s", [resident.pk])
                    (pk,) = cursor.fetchone() or (0,)
                for version, state in enumerate(states, start=1):
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(
                            "UPDATE hall_application SET state = %s, version = version + 1, updated_at = %s "
                            "WHERE id = %s AND version = %s",
                            [state, now, pk, version],
                        )
            return len(batch)

        through_services(residents[:5])  # warm up
        service_rates: list[float] = []
        bare_rates: list[float] = []
        for repeat in range(repeats):
            batch = residents[repeat * count : (repeat + 1) * count]
            for name, work, rates in (("services", through_services, service_rates), ("bare", bare_sql, bare_rates)):
                cpu, backend = time.process_time(), _backend_seconds(connection)
                began = time.perf_counter()
                work(batch)
                rates.append(len(batch) / (time.perf_counter() - began))
                used = CPU.setdefault(name, [0.0, 0.0, 0.0])
                used[0] += time.process_time() - cpu
                used[1] += _backend_seconds(connection) - backend
                used[2] += len(batch)
        with counting_statements() as service_statements:
            through_services(residents[:1])
        with counting_statements() as bare_statements:
            bare_sql(residents[:1])
        service_rates.sort()
        bare_rates.sort()
        connection.close()
        return (
            service_rates[len(service_rates) // 2],
            bare_rates[len(bare_rates) // 2],
            service_statements,
            bare_statements,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--applications", type=int, default=300, help="applications per pass")
    parser.add_argument("--repeats", type=int, default=3)
    args = parse_arguments(parser, applications=4, repeats=1)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    import subprocess

    if len(kinds) > 1:  # one Django per process: run each database in its own
        for kind in kinds:
            subprocess.run(
                [sys.executable, __file__, "--database", kind, "--applications", str(args.applications),
                 "--repeats", str(args.repeats), *(["--smoke"] if args.smoke else [])],
                check=True,
            )  # fmt: skip
        return
    services_rate, bare_rate, service_statements, bare_statements = _run(kinds[0], args.applications, args.repeats)
    print(f"{kinds[0]}: {args.applications} applications a pass, median of {args.repeats}")
    print(f"  through the services (start … conclude, 8 transactions): {services_rate:8.1f} applications/s")
    print(f"  bare SQL of the same rows (INSERT + 7 UPDATEs, 8 commits): {bare_rate:8.1f} applications/s")
    print(f"  one application through the services: {service_statements}; bare SQL: {bare_statements}")
    for name, (cpu, backend, done) in CPU.items():
        print(f"  CPU per application, {name}: {cpu / done * 1000:.1f} ms in this process, "
              f"{backend / done * 1000:.1f} ms in the database backend")  # fmt: skip
    ratio = services_rate / bare_rate
    print(f"  services / bare SQL: {ratio:.2f}")
    goal(f"a whole application through the services >= 0.5 of bare SQL ({kinds[0]})", f"{ratio:.2f}", ratio >= 0.5)


if __name__ == "__main__":
    main()
