"""The statements and commits of one whole application, pinned step by step (issue 13): a repeated load, a per-row
lookup or a nested savepoint that creeps back into a service shows here as a changed count, with the step it is in.

The counts are those of bench/hall_throughput.py's application: start, prefill from the population registry,
upload one file, submit, accept, review, approve, conclude, the conclusion's 双公示 record delivered through the
outbox after its commit. The audit chain's sealing is left to its own process (as the background sealer's thread
does in production), so that its statements are not counted. The counts are the same on SQLite and PostgreSQL but
for SQLite's BEGIN, which the backend sends as a statement of its own and psycopg does not; it is left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import calendar as working
from rongcheng.hall import services
from rongcheng.hall.models import Application, ApplicationEvent, ApplicationMaterial, Message
from rongcheng.hall.tests import factories as f
from rongcheng.kernel.models import EventOutbox

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: the outbox delivers after the conclusion's

# Per step: (statements, commits). Each transition: the row locked with what its guards read, the guarded UPDATE
# with the timeline event, (most of them) the applicant's message and the audit record. On PostgreSQL the UPDATE and
# its event, message and audit record are one statement (hall.workflow.state_written); elsewhere three or four.
EXPECTED = {
    "start": (4, 1),  # service, account lock, open drafts, application+event+audit
    "prefill": (4, 1),  # application lock, person, materials upsert, person-read and prefill audits
    "upload": (4, 1),  # application lock, its materials (quota and replaced file), material upsert, audit
    "submit": (4, 1),  # lock, materials (present? licences relied on?), number counter, UPDATE+event+message+audit
    "accept": (3, 1),  # lock (+ check rows kept? calendar stamp), credit check, UPDATE+event+message+audit
    "review": (2, 1),  # lock, UPDATE+event+audit
    "approve": (3, 1),  # lock (+ check rows kept?), credit check, UPDATE+event+message+audit
    # lock (+ decision time), UPDATE+event+message+audit, outbox row; committed; then the outbox's delivery:
    # row lock, application, person, calendar stamp, subject (new: select, insert), record (one INSERT that writes
    # nothing when the reference is recorded already), audit, row delivered; committed. No savepoint: a failing
    # handler rolls the whole delivery back and its attempt is recorded after (kernel.events.outbox_deliver).
    "conclude": (12, 2),
}
# Where a row and the rows written with it are separate statements: the draft, its event and audit record (two more);
# the guarded UPDATE, its event, message and audit record (two more for a step that writes no message, three more for
# one that does).
EXPECTED_ELSEWHERE = {
    **EXPECTED,
    "start": (6, 1),
    "submit": (7, 1), "accept": (6, 1), "review": (4, 1), "approve": (6, 1), "conclude": (15, 2),
}  # fmt: skip


def _counting(steps: dict[str, list[int]], step: list[str]) -> Callable[..., Any]:
    def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        if not sql.lstrip().upper().startswith("BEGIN"):
            steps[step[0]][0] += 1
        return execute(sql, params, many, context)

    return counter


def test_one_whole_application_takes_the_statements_and_commits_pinned(settings):
    settings.AUDIT_SEAL_MODE = "manual"  # as in production, the chain is sealed off the request's thread
    item = f.service(
        "BENCH-JZZ", any_window=False,
        materials=[{"code": "holder", "name": "申领人身份信息", "source": "registry",
                    "fields": ["person.name", "person.id_number", "person.address"]},
                   {"code": "residence", "name": "居住证明", "source": "upload", "formats": ["pdf"],
                    "max_bytes": 1024 * 1024}],
    )  # fmt: skip
    resident = f.applicant()
    officer = f.officer()
    # The officer's permissions are loaded once per account object (a request's, or the benchmark's one officer):
    # loaded here, before counting, as the benchmark's warm-up loads them.
    assert officer.has_perm("hall.decide_application")
    # The working-day calendar is kept per process under its stamp (hall.calendar): read once here, as the
    # benchmark's warm-up reads it; acceptance then finds it current by the stamp its locking read brings.
    working.calendar_current()
    steps: dict[str, list[int]] = {name: [0, 0] for name in EXPECTED}
    step = ["start"]
    commit = connection.commit

    def counted_commit() -> None:
        steps[step[0]][1] += 1
        commit()

    connection.commit = counted_commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(_counting(steps, step)):
            application = services.application_start(user=resident, service_code=item.code)
            step[0] = "prefill"
            services.application_prefill(user=resident, application_id=application.pk, authorize_licences=True)
            step[0] = "upload"
            services.application_upload(
                user=resident, application_id=application.pk, material_code="residence", file_name="r.pdf",
                content=f.PDF,
            )  # fmt: skip
            step[0] = "submit"
            services.application_submit(user=resident, application_id=application.pk)
            for name in ("accept", "review", "approve", "conclude"):
                step[0] = name
                services.application_transition(user=officer, application_id=application.pk, transition=name)
    finally:
        del connection.commit

    expected = EXPECTED if connection.vendor == "postgresql" else EXPECTED_ELSEWHERE
    assert {name: tuple(counts) for name, counts in steps.items()} == expected

    # and the application is where the services promise it is
    application = Application.objects.get(pk=application.pk)
    assert application.state == "concluded"
    assert (application.number or "").startswith(f"FZ-GSJ-{application.accepted_on:%Y%m%d}-")
    assert application.deadline is not None
    assert application.promised_deadline is not None
    assert application.version == 6  # five guarded writes after the draft: submit … conclude
    events = list(ApplicationEvent.objects.filter(application=application).order_by("id"))
    assert [(e.transition, e.from_state, e.to_state) for e in events] == [
        ("start", "", "draft"), ("submit", "draft", "submitted"), ("accept", "submitted", "accepted"),
        ("review", "accepted", "under_review"), ("approve", "under_review", "approved"),
        ("conclude", "approved", "concluded"),
    ]  # fmt: skip
    assert [e.actor_id for e in events] == [str(resident.pk)] * 2 + [str(officer.pk)] * 4
    assert sorted(ApplicationMaterial.objects.filter(application=application).values_list("code", "source")) == [
        ("holder", "registry"), ("residence", "upload"),
    ]  # fmt: skip
    actions = Counter(
        AuditRecord.objects.filter(target_type="hall.application", target_id=str(application.pk)).values_list(
            "action", "outcome"
        )
    )
    assert actions == Counter({
        (f"hall.application.{name}", "success"): 1
        for name in ("start", "prefill", "upload", "submit", "accept", "review", "approve", "conclude")
    })  # fmt: skip
    assert AuditRecord.objects.filter(action="registries.person.read", actor_id=str(resident.pk)).count() == 1
    assert list(Message.objects.filter(application=application).order_by("id").values_list("template", flat=True)) == [
        services.MESSAGES[name] for name in ("submit", "accept", "approve", "conclude")
    ]
    # The 双公示 record is credit's (a higher tier, which the hall may not import): reached through the registry.
    record = apps.get_model("credit", "Record").objects.get(source_reference=f"hall:{application.number}")
    assert record.kind == "licensing"
    assert record.document_number == application.number
    assert AuditRecord.objects.filter(action="credit.record.report", target_id=str(record.pk)).count() == 1
    assert not EventOutbox.objects.filter(delivered_at=None).exists()
