"""Case deadlines on the city's working-day calendar (the hall's `CalendarDay` table, through hall.selectors).

Limits in working days end at the close of the working day (17:30) so many working days after the day the clock
starts; limits in working hours count only the office hours (08:30–17:30) of working days. A stopped clock (缓办)
moves the deadline on by the time it stood still.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from rongcheng.hall.selectors import working_days_add

DAY_START = dt.time(8, 30)
DAY_END = dt.time(17, 30)
ONE_DAY = dt.timedelta(days=1)


def _is_working(day: dt.date, known: dict[dt.date, bool]) -> bool:
    if day not in known:
        known[day] = working_days_add(day - ONE_DAY, 1) == day
    return known[day]


def deadline_after(start: dt.datetime, amount: int, unit: str) -> dt.datetime:
    local = timezone.localtime(start)
    tz = local.tzinfo
    if unit == "days":
        day = working_days_add(local.date(), amount)
        return dt.datetime.combine(day, DAY_END, tzinfo=tz)
    remaining = dt.timedelta(hours=amount)
    known: dict[dt.date, bool] = {}
    cursor = local
    for _ in range(400):
        day = cursor.date()
        opens = dt.datetime.combine(day, DAY_START, tzinfo=tz)
        closes = dt.datetime.combine(day, DAY_END, tzinfo=tz)
        if _is_working(day, known) and cursor < closes:
            cursor = max(cursor, opens)
            available = closes - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        cursor = dt.datetime.combine(day + ONE_DAY, DAY_START, tzinfo=tz)
    return cursor
