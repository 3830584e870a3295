"""Two dispatchers acting on one case at the same moment, each on their own database connection: exactly one
wins, the other gets a conflict, and the case carries one dispatch. PostgreSQL only (SQLite serialises writers)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from rongcheng.audit.models import AuditRecord
from rongcheng.cases import services
from rongcheng.cases.errors import CaseTransitionNotAllowed
from rongcheng.cases.models import Case, CaseEvent, CaseUnit
from rongcheng.cases.tests import factories as f
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
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_dispatchers_at_once_exactly_one_wins():
    f.world()
    f.department("FZ-YL", "福州市园林中心")
    first, second = f.centre(), f.centre()
    case = services.case_transition(user=first, number=f.reported(f.resident()).number, name="register")
    results = _race(
        [
            lambda: services.case_transition(user=first, number=case.number, name="dispatch", unit_codes=["FZ-SZ"]),
            lambda: services.case_transition(user=second, number=case.number, name="dispatch", unit_codes=["FZ-YL"]),
        ]
    )
    winners = [r for r in results if isinstance(r, Case)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], CaseTransitionNotAllowed)
    stored = Case.objects.get(pk=case.pk)
    assert stored.state == "dispatched"
    assert stored.version == 2
    assert CaseUnit.objects.filter(case=case).count() == 1
    assert CaseEvent.objects.filter(case=case, transition="dispatch").count() == 1
    assert AuditRecord.objects.filter(action="cases.case.dispatch", outcome="success").count() == 1
