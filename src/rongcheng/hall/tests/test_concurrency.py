"""Two officers acting on one application at the same moment, each on their own database connection: exactly one
transition wins, the other is refused with a conflict and nothing is half-applied. PostgreSQL only (SQLite
serialises every writer, there is no race to lose)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import services
from rongcheng.hall.models import Application, ApplicationEvent, State
from rongcheng.hall.tests import factories as f
from rongcheng.kernel.errors import DomainError

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks and real concurrency"),
]


def _race(calls: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except DomainError as exc:
            results[index] = exc
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("transitions", [("accept", "accept"), ("accept", "not_accept")])
def test_two_officers_at_once_exactly_one_wins(transitions):
    item = f.service()
    resident = f.applicant()
    first, second = f.officer(), f.officer(dept=f.department("FZ-MZJ", "福州市民政局"))
    application = f.submitted(resident, item)
    results = _race(
        [
            lambda officer=officer, name=name: services.application_transition(
                user=officer, application_id=application.pk, transition=name, reason="材料不齐"
            )
            for officer, name in zip((first, second), transitions, strict=True)
        ]
    )
    winners = [r for r in results if isinstance(r, Application)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert losers[0].status == 409
    stored = Application.objects.get(pk=application.pk)
    assert stored.state == winners[0].state
    assert stored.version == 3  # draft → submitted → one transition
    assert (
        ApplicationEvent.objects.filter(application=application).exclude(transition__in=["start", "submit"]).count()
        == 1
    )
    decided = AuditRecord.objects.filter(action__in=[f"hall.application.{n}" for n in transitions], outcome="success")
    assert decided.count() == 1


def test_concurrent_submissions_get_distinct_consecutive_numbers():
    item = f.service()
    residents = [f.applicant() for _ in range(6)]
    drafts = []
    for resident in residents:
        application = services.application_start(user=resident, service_code=item.code)
        services.application_prefill(user=resident, application_id=application.pk, authorize_licences=False)
        services.application_upload(
            user=resident, application_id=application.pk, material_code="premises", file_name="p.pdf", content=f.PDF
        )
        drafts.append((resident, application.pk))
    results = _race([lambda r=r, pk=pk: services.application_submit(user=r, application_id=pk) for r, pk in drafts])
    assert all(isinstance(r, Application) for r in results), results
    numbers = sorted(int(r.number[-6:]) for r in results)
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert Application.objects.filter(state=State.SUBMITTED).count() == 6
