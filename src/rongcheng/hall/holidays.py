"""Public holidays of the People's Republic of China as published by the General Office of the State Council
(国务院办公厅关于…部分节假日安排的通知), the data the working-day calendar is seeded with. Staff edit the calendar
afterwards (a late notice, a local arrangement); seeding never overwrites an edited day.

2026: the notice of November 2025 (国办发明电〔2025〕7号), holidays and the weekend days worked in exchange (调休).
2027: the statutory holidays of 《全国年节及纪念日放假办法》 (2024 revision) on the 2027 dates; the exchange days are
added when the State Council publishes the 2027 notice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

HOLIDAY, WORKDAY = "holiday", "workday"


def _span(first: dt.date, last: dt.date, name: str) -> Iterator[tuple[dt.date, str, str]]:
    day = first
    while day <= last:
        yield day, HOLIDAY, name
        day += dt.timedelta(days=1)


def _d(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, day)


def china_2026() -> list[tuple[dt.date, str, str]]:
    days = [
        *_span(_d(2026, 1, 1), _d(2026, 1, 3), "元旦"),
        (_d(2026, 1, 4), WORKDAY, "元旦调休"),
        *_span(_d(2026, 2, 15), _d(2026, 2, 23), "春节"),
        (_d(2026, 2, 14), WORKDAY, "春节调休"),
        (_d(2026, 2, 28), WORKDAY, "春节调休"),
        *_span(_d(2026, 4, 4), _d(2026, 4, 6), "清明节"),
        *_span(_d(2026, 5, 1), _d(2026, 5, 5), "劳动节"),
        (_d(2026, 5, 9), WORKDAY, "劳动节调休"),
        *_span(_d(2026, 6, 19), _d(2026, 6, 21), "端午节"),
        *_span(_d(2026, 9, 25), _d(2026, 9, 27), "中秋节"),
        *_span(_d(2026, 10, 1), _d(2026, 10, 7), "国庆节"),
        (_d(2026, 9, 20), WORKDAY, "国庆节调休"),
        (_d(2026, 10, 10), WORKDAY, "国庆节调休"),
    ]
    return sorted(days)


def china_2027() -> list[tuple[dt.date, str, str]]:
    days = [
        (_d(2027, 1, 1), HOLIDAY, "元旦"),
        *_span(_d(2027, 2, 5), _d(2027, 2, 8), "春节"),  # 除夕 and 初一 to 初三 (春节 is 6 February 2027)
        (_d(2027, 4, 5), HOLIDAY, "清明节"),
        *_span(_d(2027, 5, 1), _d(2027, 5, 2), "劳动节"),
        (_d(2027, 6, 9), HOLIDAY, "端午节"),
        (_d(2027, 9, 15), HOLIDAY, "中秋节"),
        *_span(_d(2027, 10, 1), _d(2027, 10, 3), "国庆节"),
    ]
    return sorted(days)


def china() -> list[tuple[dt.date, str, str]]:
    return [*china_2026(), *china_2027()]
