"""Working days on the city's holiday calendar (法定节假日 and 调休).

A day is a working day when it is Monday to Friday and not a listed holiday, or when it is a listed working weekend
day (调休上班). Deadlines count whole working days after the day the clock starts: accepted on a Friday with a limit
of one working day is due on the next working day, never on a holiday.

The calendar is a few dozen rows a year, read by every acceptance, every resumed clock and every 双公示 record's
publication deadline. Each process keeps the whole table as one `WorkingCalendar` under the *stamp* it read with it:
the token of the calendar's last change (`CalendarStamp`, rewritten by every change through the services, in the
change's own transaction) with the table's row count and highest id (which also move with a row added or deleted by
other means). A computation reads the stamp (one short statement, or a column of the transition's locking read)
and reads the table again only when the stamp differs: a change made in any process (a web worker, the job worker,
a shell) shows at the next computation there, and a change rolled back leaves a stamp no process kept.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.db import connection
from django.utils import timezone

from rongcheng.hall.models import CalendarDay, CalendarStamp, DayKind

ONE_DAY = dt.timedelta(days=1)
# Enough for the longest statutory limit (60 working days) with the Spring Festival in between.
HORIZON_DAYS = 400


class WorkingCalendar:
    """The exceptions of a date range, loaded once; answers working-day questions without further queries."""

    def __init__(self, holidays: Iterable[dt.date], workdays: Iterable[dt.date]) -> None:
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)

    @classmethod
    def load(cls, start: dt.date | None = None, end: dt.date | None = None) -> WorkingCalendar:
        """The exceptions between `start` and `end` (both included), or all of them."""
        rows = CalendarDay.objects.values_list("date", "kind")
        if start is not None:
            rows = rows.filter(date__gte=start)
        if end is not None:
            rows = rows.filter(date__lte=end)
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


_DAYS = CalendarDay._meta.db_table
_STAMPS = CalendarStamp._meta.db_table
# The stamp as one text value (`||` concatenates on PostgreSQL and SQLite alike), so that it can also be read as a
# column of another statement (hall.workflow's locking read of a transition that starts or resumes the clock).
STAMP_SQL = (
    f"COALESCE((SELECT token FROM {_STAMPS} WHERE id = 1), '') || ':' || "  # noqa: S608 - the models' tables
    f"(SELECT COUNT(*) FROM {_DAYS}) || ':' || COALESCE((SELECT MAX(id) FROM {_DAYS}), 0)"
)
_CHANGED_SQL = (
    f"INSERT INTO {_STAMPS} (id, token) VALUES (1, %s) "  # noqa: S608 - the model's table
    "ON CONFLICT (id) DO UPDATE SET token = excluded.token"
)

_kept: tuple[str, WorkingCalendar] | None = None  # this process's calendar, under the stamp read before it


def calendar_changed() -> None:
    """Called in the transaction of every change of the calendar (hall.services' calendar services): a new token,
    committed with the change; this process forgets its calendar at once."""
    global _kept
    with connection.cursor() as cursor:
        cursor.execute(_CHANGED_SQL, [uuid.uuid4().hex])
    _kept = None


def calendar_stamp() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {STAMP_SQL}")
        (stamp,) = cursor.fetchone()
    return str(stamp)


def calendar_current(stamp: str | None = None) -> WorkingCalendar:
    """The whole calendar as of `stamp` (read now when not given): this process's copy when it was read under the
    same stamp, else the table read again. The stamp is read before the table, so a copy is never older than its
    stamp says."""
    global _kept
    stamp = calendar_stamp() if stamp is None else stamp
    kept = _kept
    if kept is not None and kept[0] == stamp:
        return kept[1]
    calendar = WorkingCalendar.load()
    _kept = (stamp, calendar)
    return calendar


def calendar_around(day: dt.date) -> WorkingCalendar:
    """The calendar for computations around `day` (the whole table, kept per process: see calendar_current)."""
    return calendar_current()


def working_days_add(start: dt.date, days: int) -> dt.date:
    return calendar_current().add(start, days)


def working_days_between(start: dt.date, end: dt.date) -> int:
    return calendar_current().between(start, end)
