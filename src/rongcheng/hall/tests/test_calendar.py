"""Working days on the holiday calendar, and the clock of an application: it starts at acceptance and stops during
correction (补正) and suspension (挂起)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import calendar as working
from rongcheng.hall import services
from rongcheng.hall.calendar import WorkingCalendar
from rongcheng.hall.errors import CalendarInvalid
from rongcheng.hall.holidays import china
from rongcheng.hall.models import CalendarDay, DayKind
from rongcheng.hall.tests import factories as f
from rongcheng.kernel.errors import PermissionDenied

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def holidays():
    services.calendar_seed(china(), actor=f.SYSTEM)


@pytest.fixture
def on_day(monkeypatch):
    def stand(day: dt.date) -> None:
        monkeypatch.setattr(working, "today", lambda: day)

    return stand


def test_plain_weeks_skip_the_weekend():
    calendar = WorkingCalendar([], [])
    assert calendar.add(D(2026, 11, 27), 1) == D(2026, 11, 30)  # Friday + 1 → Monday
    assert calendar.add(D(2026, 11, 23), 5) == D(2026, 11, 30)
    assert calendar.between(D(2026, 11, 27), D(2026, 11, 30)) == 1


def test_national_day_and_its_exchange_days(holidays):
    # Accepted on Wednesday 30 September 2026, 3 working days: 1-7 October off, Saturday 10 October worked.
    assert working.working_days_add(D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert working.working_days_add(D(2026, 9, 30), 1) == D(2026, 10, 8)
    # Sunday 20 September 2026 is a working day (调休), Friday 25 September (中秋) is not.
    assert working.working_days_add(D(2026, 9, 19), 1) == D(2026, 9, 20)
    assert working.working_days_add(D(2026, 9, 24), 1) == D(2026, 9, 28)


def test_spring_festival_2026(holidays):
    # Friday 13 Feb + 1 → Saturday 14 Feb (worked); + 2 → Tuesday 24 Feb after nine days off.
    assert working.working_days_add(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert working.working_days_add(D(2026, 2, 13), 2) == D(2026, 2, 24)
    assert working.working_days_between(D(2026, 2, 13), D(2026, 2, 28)) == 6  # 14, 24, 25, 26, 27, 28


def test_a_deadline_never_lands_on_a_holiday(holidays):
    calendar = working.calendar_around(D(2026, 6, 1))
    off = {day for day, kind, _ in china() if kind == DayKind.HOLIDAY}
    for start in (D(2026, 1, 1) + dt.timedelta(days=n) for n in range(0, 365, 3)):
        for days in (1, 3, 5, 15, 20):
            due = calendar.add(start, days)
            assert due not in off
            assert calendar.is_working_day(due)


@given(st.dates(D(2026, 1, 1), D(2027, 10, 1)), st.integers(0, 40))
def test_add_and_between_agree(start, days):
    calendar = WorkingCalendar(
        [d for d, k, _ in china() if k == "holiday"], [d for d, k, _ in china() if k == "workday"]
    )
    assert calendar.between(start, calendar.add(start, days)) == days


def test_the_clock_starts_at_acceptance_and_stops_during_correction(holidays, on_day):
    item = f.service(statutory_days=10, promised_days=5)
    resident, officer = f.applicant(), f.officer()
    on_day(D(2026, 9, 28))  # Monday
    application = f.walk(f.submitted(resident, item), officer, "accept", "review")
    # 29, 30 Sep, 8, 9, 10 (Sat, 调休), 12, 13, 14, 15, 16 Oct
    assert application.deadline == D(2026, 10, 16)
    assert application.promised_deadline == D(2026, 10, 10)
    on_day(D(2026, 10, 9))
    application = f.walk(application, officer, "return_for_correction")
    assert application.clock_stopped_on == D(2026, 10, 9)
    on_day(D(2026, 10, 14))  # Wednesday: stopped for 10 (Sat, worked), 12, 13, 14 → four working days
    application = f.walk(application, officer, "resubmit")
    assert application.clock_stopped_on is None
    assert application.deadline == D(2026, 10, 22)
    assert application.promised_deadline == D(2026, 10, 15)


def test_suspension_stops_the_clock_too(holidays, on_day):
    item = f.service(statutory_days=5, promised_days=5)
    resident, officer = f.applicant(), f.officer()
    on_day(D(2026, 12, 1))
    application = f.walk(f.submitted(resident, item), officer, "accept", "review", "suspend")
    assert application.deadline == D(2026, 12, 8)
    on_day(D(2026, 12, 31))  # 22 working days later; 1 January 2027 is a holiday
    application = f.walk(application, officer, "resume")
    assert application.deadline == working.working_days_add(D(2026, 12, 8), 22)
    assert application.deadline == D(2027, 1, 8)  # 9 Dec … 31 Dec is 17, 1 Jan off, 4 … 8 Jan is 5 more


def test_escalation_flags_near_and_overdue_once(holidays, on_day):
    item = f.service(statutory_days=3, promised_days=1)
    resident, officer = f.applicant(), f.officer()
    on_day(D(2026, 11, 23))
    late = f.walk(f.submitted(resident, item), officer, "accept")
    parked = f.walk(f.submitted(resident, item), officer, "accept", "review", "return_for_correction")
    assert late.deadline == D(2026, 11, 26)
    assert services.applications_escalate(today=D(2026, 11, 24)) == {"overdue": 0, "near": 1}
    assert services.applications_escalate(today=D(2026, 11, 27)) == {"overdue": 1, "near": 0}
    assert services.applications_escalate(today=D(2026, 11, 27)) == {"overdue": 0, "near": 0}
    late.refresh_from_db()
    parked.refresh_from_db()
    assert (late.flag, parked.flag) == ("overdue", "")
    assert AuditRecord.objects.filter(action="hall.application.escalate").count() == 2


def test_the_escalation_command(holidays, on_day, capsys):
    from django.core.management import call_command

    call_command("hall_escalate", "--date", "2026-11-27")
    assert "overdue 0, near 0" in capsys.readouterr().out


def test_staff_edit_the_calendar_and_others_cannot(holidays):
    from django.contrib.auth.models import Permission
    from django.core.cache import cache

    clerk = f.officer()
    with pytest.raises(PermissionDenied):
        services.calendar_day_set(user=clerk, date=D(2027, 2, 9), kind="holiday", name="春节")
    assert not CalendarDay.objects.filter(date=D(2027, 2, 9)).exists()
    clerk.user_permissions.add(Permission.objects.get(codename="change_calendarday"))
    cache.clear()  # the account's grants are cached; a granted role drops them on commit, a bare grant does not
    clerk = type(clerk).objects.get(pk=clerk.pk)
    services.calendar_day_set(user=clerk, date=D(2027, 2, 9), kind="holiday", name="春节")
    assert working.working_days_add(D(2027, 2, 4), 1) == D(2027, 2, 10)
    with pytest.raises(CalendarInvalid):
        services.calendar_day_set(user=clerk, date=D(2027, 2, 10), kind="workday")
    services.calendar_day_remove(user=clerk, date=D(2027, 2, 9))
    assert working.working_days_add(D(2027, 2, 4), 1) == D(2027, 2, 9)
    assert AuditRecord.objects.filter(action__startswith="hall.calendar.", outcome="success").count() == 3


@pytest.mark.django_db
def test_the_calendar_the_apps_above_the_hall_count_on_skips_the_national_day_holiday():
    from rongcheng.hall import selectors

    services.calendar_seed(china(), actor=f.SYSTEM)
    # Wednesday 30 September 2026: 1–7 October are the National Day holiday and Saturday 10 October is worked in
    # exchange, so the third working day after it is that Saturday, and Monday 12 October is the fourth.
    assert selectors.working_days_add(dt.date(2026, 9, 30), 3) == dt.date(2026, 10, 10)
    assert selectors.working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 12)) == 4
    assert selectors.city_today() == working.today()
