"""The working-day calendar kept per process (hall.calendar): read again after any change, whichever process made
it, and only then. Another process is played here by putting back the copy this process held before the change,
as a job worker that did not make the change still holds its own."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rongcheng.hall import calendar as working
from rongcheng.hall import services
from rongcheng.hall.models import Application, CalendarDay
from rongcheng.hall.tests import factories as f

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def clerk():
    user = f.officer()
    user.user_permissions.add(Permission.objects.get(codename="change_calendarday"))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def on_day(monkeypatch):
    def stand(day: dt.date) -> None:
        monkeypatch.setattr(working, "today", lambda: day)

    return stand


def _elsewhere(change):
    """Run `change` as if another process made it: this process keeps the calendar it held before."""
    kept = working._kept
    change()
    working._kept = kept


def _calendar_reads(queries: CaptureQueriesContext) -> int:
    return sum('FROM "hall_calendarday"' in query["sql"] for query in queries.captured_queries)


def test_a_change_made_in_another_process_counts_at_the_next_computation_here(clerk):
    assert working.working_days_add(D(2027, 5, 19), 1) == D(2027, 5, 20)  # Wednesday + 1: Thursday
    _elsewhere(lambda: services.calendar_day_set(user=clerk, date=D(2027, 5, 20), kind="holiday", name="测试"))
    assert working.working_days_add(D(2027, 5, 19), 1) == D(2027, 5, 21)
    _elsewhere(lambda: services.calendar_day_remove(user=clerk, date=D(2027, 5, 20)))
    assert working.working_days_add(D(2027, 5, 19), 1) == D(2027, 5, 20)
    _elsewhere(lambda: services.calendar_day_set(user=clerk, date=D(2027, 5, 22), kind="workday", name="调休"))
    assert working.working_days_add(D(2027, 5, 21), 1) == D(2027, 5, 22)  # Friday + 1: the worked Saturday
    assert list(CalendarDay.objects.values_list("date", "kind")) == [(D(2027, 5, 22), "workday")]


def _escalate(capsys, day: dt.date) -> str:
    """The escalation as the job worker (operations' `hall.escalate` job) or the timer runs it, in this process."""
    call_command("hall_escalate", "--date", day.isoformat())
    return str(capsys.readouterr().out).strip()


def test_the_escalation_in_a_worker_counts_the_calendar_changed_by_a_web_worker(clerk, on_day, capsys):
    item = f.service(statutory_days=3, promised_days=1)
    resident, officer = f.applicant(), f.officer()
    on_day(D(2027, 5, 17))  # Monday: due Thursday 20 May
    application = f.walk(f.submitted(resident, item), officer, "accept")
    assert application.deadline == D(2027, 5, 20)
    # The worker's own run: two working days from Monday reach Wednesday, the deadline is not near.
    assert _escalate(capsys, D(2027, 5, 17)) == "overdue 0, near 0"
    # A web worker marks Tuesday a holiday; the worker's copy predates it. Two working days now reach Thursday.
    _elsewhere(lambda: services.calendar_day_set(user=clerk, date=D(2027, 5, 18), kind="holiday", name="测试"))
    assert _escalate(capsys, D(2027, 5, 17)) == "overdue 0, near 1"
    application.refresh_from_db()
    assert (application.flag, application.deadline) == ("near", D(2027, 5, 20))


def test_acceptance_reads_the_calendar_only_after_it_changed(clerk, on_day):
    item = f.service(statutory_days=3, promised_days=1)
    resident, officer = f.applicant(), f.officer()
    on_day(D(2027, 5, 17))
    first, second, third = (f.submitted(resident, item) for _ in range(3))
    f.walk(first, officer, "accept")  # the calendar is current in this process from here on
    with CaptureQueriesContext(connection) as queries:
        accepted = f.walk(second, officer, "accept")
    assert _calendar_reads(queries) == 0  # its stamp came with the locking read
    assert (accepted.deadline, accepted.promised_deadline) == (D(2027, 5, 20), D(2027, 5, 18))
    _elsewhere(lambda: services.calendar_day_set(user=clerk, date=D(2027, 5, 18), kind="holiday", name="测试"))
    with CaptureQueriesContext(connection) as queries:
        accepted = f.walk(third, officer, "accept")
    assert _calendar_reads(queries) == 1
    assert (accepted.deadline, accepted.promised_deadline) == (D(2027, 5, 21), D(2027, 5, 19))
    assert list(Application.objects.order_by("pk").values_list("deadline", flat=True)) == [
        D(2027, 5, 20), D(2027, 5, 20), D(2027, 5, 21),
    ]  # fmt: skip  # deadlines already computed stay as they were


def test_a_change_rolled_back_is_forgotten(clerk):
    assert working.working_days_add(D(2027, 5, 19), 1) == D(2027, 5, 20)
    seen = []

    def change_then_fail() -> None:
        with transaction.atomic():
            services.calendar_day_set(user=clerk, date=D(2027, 5, 20), kind="holiday", name="测试")
            seen.append(working.working_days_add(D(2027, 5, 19), 1))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert seen == [D(2027, 5, 21)]  # seen inside its transaction
    assert working.working_days_add(D(2027, 5, 19), 1) == D(2027, 5, 20)
    assert not CalendarDay.objects.exists()
