"""Working days on the city's holiday calendar (法定节假日 and 调休).

A day is a working day when it is Monday to Friday and not a listed holiday, or when it is a listed working weekend
day (调休上班). Deadlines count whole working days after the day the clock starts: accepted on a Friday with a limit
of one working day is due on the next working day, never on a holiday.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone

from rongcheng.hall.models import CalendarDay, DayKind

ONE_DAY = dt.timedelta(days=1)
# Enough for the longest statutory limit (60 working days) with the Spring Festival in between.
HORIZON_DAYS = 400


class WorkingCalendar:
    """The exceptions of a date range, loaded once; answers working-day questions without further queries."""

    def __init__(self, holidays: Iterable[dt.date], workdays: Iterable[dt.date]) -> None:
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)

    @classmethod
    def load(cls, start: dt.date, end: dt.date) -> WorkingCalendar:
        rows = CalendarDay.objects.filter(date__gte=start, date__lte=end).values_list("date", "kind")
        holidays: list[dt.date] = []
        workdays: list[dt.date] = []
        for date, kind in rows:
            (holidays if kind == DayKind.HOLIDAY else workdays).append(date)
        return cls(holidays, workdays)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add(self, start: dt.date, days: int) -> dt.date:
        """The date `days` working days after `start` (the start day itself does not count)."""
        day = start
        remaining = days
        while remaining > 0:
            day += ONE_DAY
            if self.is_working_day(day):
                remaining -= 1
        return day

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += ONE_DAY
            count += self.is_working_day(day)
        return count


def today() -> dt.date:
    """The city's current date (Asia/Shanghai); tests replace it to stand on a given day."""
    return timezone.localdate()


def calendar_around(day: dt.date) -> WorkingCalendar:
    return WorkingCalendar.load(day - dt.timedelta(days=HORIZON_DAYS), day + dt.timedelta(days=HORIZON_DAYS))


def working_days_add(start: dt.date, days: int) -> dt.date:
    return calendar_around(start).add(start, days)


def working_days_between(start: dt.date, end: dt.date) -> int:
    return calendar_around(start).between(start, end)
