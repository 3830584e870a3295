"""Applications submitted and decided per second through the service hall's services, against the bare SQL of the
same row changes.

Each application goes through the services as a resident and an officer would take it: start, prefill from the
population registry (an audited read), upload one material (content sniffing, SM3 digest, file stored), submit
(numbered by the per-department counter), accept (deadline on the holiday calendar), review, approve, conclude:
eight transactions, each locking the row, checking the transition table, writing the timeline event, the audit
record and the applicant's message; the conclusion's 双公示 record is then delivered through the outbox (a ninth
transaction). The physical limit measured in the same run on the same database is the bare SQL of the same rows in
the same nine transactions: the application, its events and messages, the materials and the uploaded file, the
number counter, the ten audit records (sealed into the chain by the same sealer), the outbox row, the credit subject
and record; one plain statement per row, without the services' reads, locks and checks. (Until 2026-12-06 the bare
SQL wrote only the application's INSERT and seven UPDATEs, 9 statements against the services' 48: a ratio of the
services' rows and checks against a fraction of them.)

    uv run python bench/hall_throughput.py                   # SQLite and PostgreSQL, 300 applications each
    uv run python bench/hall_throughput.py --database postgresql --applications 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

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


SHOW = "--show-statements" in sys.argv
PROFILE = "--profile" in sys.argv
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

        # The bare SQL writes the rows the services write, in the same nine transactions, one plain INSERT or
        # UPDATE per row (parameters only, nothing compiled): the application, its timeline events, the applicant's
        # messages, both materials (and the uploaded file), the day's number counter, the ten audit records (each
        # queued for sealing by the same trigger, the sealer woken after the commit as the services do), the outbox
        # row and, after the conclusion's commit, the 双公示 delivery: the credit subject and record, their audit
        # record, the outbox row marked delivered. What it leaves out is the services' reading and checking: no row
        # lock, no guard, no registry read, no content sniffing or digest (the digest is the services' value).
        from rongcheng.audit.services import audit_seal_soon

        serial = itertools.count()  # application numbers, unique over every pass
        storage = Path(env["RONGCHENG_DATA_DIR"]) / "bare"
        storage.mkdir(exist_ok=True)
        digest = "4646684eaa23f1713e5260892a0abeedcebb9cd4343e712bb632b31682473464"
        holder = json.dumps({"person.name": {"value": "林则徐", "source": "registry"},
                             "person.id_number": {"value": "350102********1234", "source": "registry"},
                             "person.address": {"value": "", "source": "registry"}}, ensure_ascii=False)  # fmt: skip
        payload = json.dumps({"application_id": 0, "number": "", "service_code": item.code, "service_kind": "licensing",
                              "department_id": item.department_id, "decision": "approved", "party_kind": "person",
                              "party_key": "", "issued_licence": ""})  # fmt: skip
        event_sql = (
            "INSERT INTO hall_applicationevent (application_id, transition, from_state, to_state, actor_id, "
            "actor_label, department_id, reason, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '', %s)"
        )
        message_sql = (
            "INSERT INTO hall_message (recipient_id, application_id, text, template, params, sent_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
        )
        audit_sql = (
            "INSERT INTO audit_record (actor_kind, actor_id, actor_label, action, target_type, target_id, outcome, "
            "source_address, purpose, detail, request_id) VALUES (%s, %s, %s, %s, %s, %s, 'success', NULL, %s, %s, '')"
        )
        material_sql = (
            'INSERT INTO hall_applicationmaterial (application_id, code, source, "values", licence_identifier, file, '
            "file_name, file_format, file_size, sm3, provided_at) VALUES (%s, %s, %s, %s, '', %s, %s, %s, %s, %s, %s)"
        )
        update_sql = (
            "UPDATE hall_application SET state = %s, version = %s, updated_at = %s{} "
            "WHERE id = %s AND state = %s AND version = %s"
        )
        moves = (  # transition, from, to, message, extra columns
            ("submit", "draft", "submitted", True, ", number = %s, submitted_at = %s"),
            ("accept", "submitted", "accepted", True,
             ", window_id = %s, accepted_on = %s, deadline = %s, promised_deadline = %s, flag = ''"),
            ("review", "accepted", "under_review", False, ""),
            ("approve", "under_review", "approved", True, ", decision_reason = ''"),
            ("conclude", "approved", "concluded", True, ""),
        )  # fmt: skip

        def bare_sql(batch: list[User]) -> int:
            for resident in batch:
                number = next(serial)
                now, today = timezone.now(), timezone.localdate()
                applicant = (str(resident.pk), resident.username)
                with transaction.atomic(), connection.cursor() as cursor:  # start
                    cursor.execute(
                        "INSERT INTO hall_application (service_id, department_id, applicant_id, state, statement, "
                        "licence_authorized, created_at, updated_at, flag, decision_reason, issued_licence, version) "
                        "VALUES (%s, %s, %s, 'draft', '', false, %s, %s, '', '', '', 1) RETURNING id",
                        [item.pk, item.department_id, resident.pk, now, now],
                    )
                    (pk,) = cursor.fetchone()
                    cursor.execute(event_sql, [pk, "start", "", "draft", *applicant, None, now])
                    detail = json.dumps({"service": item.code, "legal_entity": None})
                    cursor.execute(audit_sql, ["user", *applicant, "hall.application.start", "hall.application", pk,
                                               "", detail])  # fmt: skip
                    transaction.on_commit(audit_seal_soon)
                with transaction.atomic(), connection.cursor() as cursor:  # prefill
                    cursor.execute(audit_sql, ["user", *applicant, "registries.person.read", "registries.person",
                                               resident.pk, "service_hall",
                                               json.dumps({"via": "hall_prefill", "application": pk})])  # fmt: skip
                    cursor.execute(material_sql, [pk, "holder", "registry", holder, "", "", "", None, "", now])
                    cursor.execute(audit_sql, ["user", *applicant, "hall.application.prefill", "hall.application", pk,
                                               "", json.dumps({"filled": ["holder"]})])  # fmt: skip
                    transaction.on_commit(audit_seal_soon)
                with transaction.atomic(), connection.cursor() as cursor:  # upload
                    stored = storage / f"{pk}-{number}-residence-{digest[:16]}.pdf"
                    stored.write_bytes(PDF)
                    cursor.execute(material_sql, [pk, "residence", "upload", "{}", str(stored), "r.pdf", "pdf",
                                                  len(PDF), digest, now])  # fmt: skip
                    cursor.execute(audit_sql, ["user", *applicant, "hall.application.upload", "hall.application", pk,
                                               "", json.dumps({"material": "residence", "format": "pdf",
                                                               "size": len(PDF), "sm3": digest})])  # fmt: skip
                    transaction.on_commit(audit_seal_soon)
                reference = ""
                for version, (name, source, target, message, extra) in enumerate(moves, start=1):
                    actor = applicant if name == "submit" else (str(officer.pk), officer.username)
                    with transaction.atomic(), connection.cursor() as cursor:
                        params: list[Any] = [target, version + 1, now]
                        if name == "submit":
                            cursor.execute(
                                "INSERT INTO hall_numbercounter (prefix, last) VALUES (%s, 1) ON CONFLICT (prefix) "
                                "DO UPDATE SET last = hall_numbercounter.last + 1 RETURNING last",
                                [f"BARE-{today:%Y%m%d}"],
                            )
                            (last,) = cursor.fetchone()
                            reference = f"BARE-{today:%Y%m%d}-{last:06d}-{resident.pk}"
                            params += [reference, now]
                        elif name == "accept":
                            params += [item.department_id, today, today + dt.timedelta(days=21),
                                       today + dt.timedelta(days=9)]  # fmt: skip
                        cursor.execute(update_sql.format(extra), [*params, pk, source, version])
                        if cursor.rowcount != 1:
                            raise RuntimeError(f"bare {name} moved {cursor.rowcount} rows")
                        cursor.execute(event_sql, [pk, name, source, target, *actor, item.department_id, now])
                        if message:
                            text = f"您的申请 {reference} 已{target}。"
                            cursor.execute(message_sql, [resident.pk, pk, text, text,
                                                         json.dumps({"number": reference}), now])  # fmt: skip
                        if name == "conclude":
                            cursor.execute(
                                "INSERT INTO kernel_eventoutbox (subscriber, event_type, event_id, payload, "
                                "created_at, attempts, failure) VALUES (%s, %s, %s, %s, %s, 0, '') RETURNING id",
                                ["bare", "bare", uuid.uuid4().hex, payload, now],
                            )
                            (outbox,) = cursor.fetchone()
                        detail = json.dumps({"from": source, "to": target, "number": reference, "reason": ""})
                        cursor.execute(audit_sql, ["user", *actor, f"hall.application.{name}", "hall.application",
                                                   pk, "", detail])  # fmt: skip
                        transaction.on_commit(audit_seal_soon)
                with transaction.atomic(), connection.cursor() as cursor:  # the 双公示 delivery
                    cursor.execute(
                        "INSERT INTO credit_subject (kind, key, name, code_masked, created_at) "
                        "VALUES ('person', %s, '林则徐', '350102********1234', %s) RETURNING id",
                        [f"bare-{resident.pk}-{number}", now],
                    )
                    (subject,) = cursor.fetchone()
                    cursor.execute(
                        "INSERT INTO credit_record (kind, subject_id, department_id, legal_representative, "
                        "legal_representative_index, legal_representative_masked, document_name, document_number, "
                        "category, content, licence_name, licence_number, violation_type, violation_facts, basis, "
                        "licence_withheld, decided_on, public_until, authority, authority_code, source_unit, "
                        "source_unit_code, status, note, extra, received_at, published_on, due_on, late, intake, "
                        "source_reference) VALUES ('licensing', %s, %s, '', '', '', %s, %s, '普通', %s, '', '', '', "
                        "'', '', '', %s, %s, %s, '', %s, '', 'valid', '', '{}', %s, %s, %s, false, 'hall', %s) "
                        "RETURNING id",
                        [subject, item.department_id, f"{item.name}准予行政许可决定书", reference, f"准予{item.name}",
                         today, today + dt.timedelta(days=3 * 365), "福州市公安局", "福州市公安局", now, today,
                         today + dt.timedelta(days=9), f"hall:{reference}"],
                    )  # fmt: skip
                    (record,) = cursor.fetchone()
                    cursor.execute(audit_sql, ["system", "", "credit", "credit.record.report", "credit.record", record,
                                               "", json.dumps({"kind": "licensing", "intake": "hall",
                                                               "late": False})])  # fmt: skip
                    cursor.execute(
                        "UPDATE kernel_eventoutbox SET delivered_at = %s, attempts = 1, failure = '' WHERE id = %s",
                        [now, outbox],
                    )
                    transaction.on_commit(audit_seal_soon)
            return len(batch)

        through_services(residents[:5])  # warm up
        service_rates: list[float] = []
        bare_rates: list[float] = []
        for repeat in range(repeats):
            batch = residents[repeat * count : (repeat + 1) * count]
            for name, work, rates in (("services", through_services, service_rates), ("bare", bare_sql, bare_rates)):
                cpu, backend = time.process_time(), _backend_seconds(connection)
                began = time.perf_counter()
                if PROFILE and name == "services":
                    import cProfile
                    import pstats

                    profiler = cProfile.Profile()
                    profiler.runcall(work, batch)
                    stats = pstats.Stats(profiler)
                    print(f"cProfile of {len(batch)} applications through the services: {stats.total_calls} calls")  # type: ignore[attr-defined]
                    if os.environ.get("BENCH_PROFILE_FILE"):  # for pstats: print_stats('rongcheng', ...)
                        stats.dump_stats(os.environ["BENCH_PROFILE_FILE"])
                    stats.sort_stats("cumulative").print_stats(45)
                    stats.sort_stats("tottime").print_stats(30)
                else:
                    work(batch)
                rates.append(len(batch) / (time.perf_counter() - began))
                used = CPU.setdefault(name, [0.0, 0.0, 0.0])
                used[0] += time.process_time() - cpu
                used[1] += _backend_seconds(connection) - backend
                used[2] += len(batch)
        shown: list[str] = []

        def show(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            shown.append(f"{sql[:300]}  {str(params)[:200]}")
            return execute(sql, params, many, context)

        with counting_statements() as service_statements, connection.execute_wrapper(show):
            through_services(residents[:1])
        if SHOW:
            print("\n".join(["-- services:", *shown]))
            shown.clear()
        with counting_statements() as bare_statements, connection.execute_wrapper(show):
            bare_sql(residents[:1])
        if SHOW:
            print("\n".join(["-- bare SQL:", *shown]))
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
    parser.add_argument("--profile", action="store_true", help="cProfile the services' pass (its rate means nothing)")
    parser.add_argument("--show-statements", action="store_true", help="print the SQL of the counted application")
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
    print(f"  bare SQL of the same rows (9 transactions):         {bare_rate:8.1f} applications/s")
    print(f"  one application through the services: {service_statements}; bare SQL: {bare_statements}")
    for name, (cpu, backend, done) in CPU.items():
        print(f"  CPU per application, {name}: {cpu / done * 1000:.1f} ms in this process, "
              f"{backend / done * 1000:.1f} ms in the database backend")  # fmt: skip
    ratio = services_rate / bare_rate
    print(f"  services / bare SQL: {ratio:.2f}")
    goal(f"a whole application through the services >= 0.5 of bare SQL ({kinds[0]})", f"{ratio:.2f}", ratio >= 0.5)


if __name__ == "__main__":
    main()
