"""Two grants of different administrator duties to one account at the same time: exactly one succeeds.

Real concurrency needs real connections and row locks: PostgreSQL only (SQLite serialises every writer anyway).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from rongcheng.staff.errors import DutyConflict
from rongcheng.staff.models import Duty, RoleAssignment
from rongcheng.staff.services import role_grant
from rongcheng.staff.tests.factories import administrator, audit_role, bare_staff, system_role

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between connections need PostgreSQL"),
]


def _in_thread(work, results: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(work())
        except Exception as exc:  # the outcome under test
            results.append(exc)
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def test_a_grant_waits_for_the_other_on_the_accounts_lock():
    """The first grant holds its transaction open after granting; without the lock the second would read no duty
    yet and succeed too."""
    first_admin = administrator(Duty.SECURITY, "secadmin1")
    second_admin = administrator(Duty.SECURITY, "secadmin2")
    target = bare_staff("target")
    system, audit = system_role(), audit_role()
    granted = threading.Event()
    results: list[object] = []

    def slow_first() -> object:
        with transaction.atomic():
            assignment = role_grant(user_id=target.pk, role_id=system.pk, department_id=None, actor=first_admin)
            granted.set()
            time.sleep(0.5)
            return assignment

    def second() -> object:
        granted.wait(5)
        return role_grant(user_id=target.pk, role_id=audit.pk, department_id=None, actor=second_admin)

    first_results: list[object] = []
    threads = [_in_thread(slow_first, first_results), _in_thread(second, results)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [type(r).__name__ for r in first_results + results] == ["RoleAssignment", "DutyConflict"]
    assert list(RoleAssignment.objects.filter(user=target).values_list("role__duty", flat=True)) == ["system"]


def test_simultaneous_grants_leave_one_duty():
    admins = [administrator(Duty.SECURITY, f"secadmin{i}") for i in range(2)]
    for attempt in range(5):
        target = bare_staff(f"target{attempt}")
        roles = [system_role(), audit_role()]
        barrier = threading.Barrier(2)
        results: list[object] = []

        def grant(index: int, target=target, roles=roles, barrier=barrier) -> object:
            barrier.wait(5)
            return role_grant(user_id=target.pk, role_id=roles[index].pk, department_id=None, actor=admins[index])

        threads = [_in_thread(lambda i=i: grant(i), results) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(type(r).__name__ for r in results) == ["DutyConflict", "RoleAssignment"]
        assert RoleAssignment.objects.filter(user=target, revoked_at__isnull=True).count() == 1
        assert any(isinstance(r, DutyConflict) for r in results)
