"""The indicators of digital city management, per unit, grid cell, street or district over a period, computed
exactly from the cases (one aggregate query per table).

Over the cases reported in the period (merged duplicates left out):
- 立案率 = 立案数 ÷ 上报数 (a case closed under the simple procedure counts as registered);
- 结案率 = 结案数 ÷ (应结案数 − 缓办数), 应结案数 being the cases dispatched, 缓办数 those postponed now;
- 按期结案率 = 按期结案数 ÷ (结案数 + 超期未结案数): an open case past its deadline counts against it, not only
  the cases closed late;
- 返工率 = cases reworked at least once (核查不通过) ÷ 应结案数; 延期率 = cases extended ÷ 应结案数;
- 综合指标 = 100 × (0.2 结案率 + 0.4 按期结案率 + 0.2 (1 − 返工率) + 0.2 (1 − 延期率)).
A ratio with a zero denominator is shown as none (—), never as 0 or 100 %.

For whole months (the bulletin's periods) the counts are read from `Tally`, which the database keeps exact in the
same transaction as every write of a case; only the open cases past their deadline are counted live (the clock moves
them, not a write), from the running cases through their partial index. Other periods, and the tests that prove the
tally, count the cases themselves (`indicators_recount`, `hot_spots_recount`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rongcheng.accounts.models import Department
from rongcheng.cases.models import Case, Category, State, Tally
from rongcheng.cases.workflow import DONE, RUNNING
from rongcheng.divisions.models import Division, GridCell

GROUPS = {"unit": "unit_id", "cell": "cell_code", "street": "street_code", "district": "district_code"}
UNASSIGNED = {
    "unit": _("（未派遣）"),
    "cell": _("（无网格）"),
    "street": _("（无街道）"),
    "district": _("（无区县）"),
}


RATES = ("registration_rate", "closing_rate", "on_time_rate", "rework_rate", "extension_rate")


def _scaled(num: int, den: int) -> int | None:
    """num ÷ den in ten-thousandths, rounded half up (as `Decimal.quantize(Decimal("0.0001"), ROUND_HALF_UP)` of the
    quotient), in integers; None when the denominator is zero."""
    if den <= 0:
        return None
    return (20000 * num + den) // (2 * den)


@dataclass(slots=True)
class Row:
    """One line of the statistics. The rates are worked out once, when the row is made, in integers: each rate in
    ten-thousandths and the composite in hundredths (`scaled`), exactly the Decimal values the properties give. A
    bulletin of a thousand grid cells spent more time in Decimal arithmetic and in a frozen dataclass's set-up than
    the database took to give the counts; the page and the API write the rates from these integers."""

    key: str
    name: str
    reported: int
    registered: int
    simple: int
    due: int
    postponed: int
    closed: int
    on_time: int
    overdue_open: int
    reworked: int
    extended: int
    # (立案率, 结案率, 按期结案率, 返工率, 延期率) in ten-thousandths, then 综合指标 in hundredths; None: no denominator
    scaled: tuple[int | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        closing = _scaled(self.closed, self.due - self.postponed)
        on_time = _scaled(self.on_time, self.closed + self.overdue_open)
        rework = _scaled(self.reworked, self.due)
        extension = _scaled(self.extended, self.due)
        composite = None
        if closing is not None and on_time is not None and rework is not None and extension is not None:
            # 100 × (0.2 c + 0.4 t + 0.2 (1 − r) + 0.2 (1 − e)) with the rates in ten-thousandths is this sum in
            # thousandths; rounded half up to hundredths.
            thousandths = 2 * closing + 4 * on_time + 2 * (10000 - rework) + 2 * (10000 - extension)
            composite = (thousandths + 5) // 10
        self.scaled = (_scaled(self.registered, self.reported), closing, on_time, rework, extension, composite)

    @staticmethod
    def _decimal(value: int | None, places: int) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-places)

    @property
    def registration_rate(self) -> Decimal | None:
        return self._decimal(self.scaled[0], 4)

    @property
    def closing_rate(self) -> Decimal | None:
        return self._decimal(self.scaled[1], 4)

    @property
    def on_time_rate(self) -> Decimal | None:
        return self._decimal(self.scaled[2], 4)

    @property
    def rework_rate(self) -> Decimal | None:
        return self._decimal(self.scaled[3], 4)

    @property
    def extension_rate(self) -> Decimal | None:
        return self._decimal(self.scaled[4], 4)

    @property
    def composite(self) -> Decimal | None:
        return self._decimal(self.scaled[5], 2)


COUNTED = tuple(f.name for f in fields(Row) if f.init and f.name not in ("key", "name"))
TALLIED = tuple(f for f in COUNTED if f != "overdue_open")


def _whole_months(start: dt.date, end: dt.date) -> bool:
    return start.day == 1 and start <= end and (end + dt.timedelta(days=1)).day == 1


def _span(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    begin = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    return begin, dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def indicators(*, group: str, start: dt.date, end: dt.date, now: dt.datetime | None = None) -> list[Row]:
    """One row per unit / cell / street / district for the cases reported from `start` to `end` (inclusive): from
    the tally for whole months, else counted from the cases."""
    if not _whole_months(start, end):
        return indicators_recount(group=group, start=start, end=end, now=now)
    now = now or timezone.now()
    begin, finish = _span(start, end)
    ops = connections[Tally.objects.db].ops
    sql = _tallied_sql(group)
    params = [group, ops.adapt_datefield_value(start), ops.adapt_datefield_value(end), *sorted(RUNNING),
              *(ops.adapt_datetimefield_value(t) for t in (now, begin, finish))]  # fmt: skip
    with connections[Tally.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        return _rows(group, cursor.fetchall())


@functools.cache
def _tallied_sql(group: str) -> str:
    """The whole month's rows in one statement, for both databases: the tally's sums per key (the counts of every
    case of the period), the live count of its open cases past their deadline, and the key's name, joined on the key
    (the tally's text: a unit's id as text, '' for none). A statement per part, and the names read into a dict,
    cost a bulletin of a thousand grid cells more than the database's work; the figures are the same."""
    q = connections[Tally.objects.db].ops.quote_name
    tally, case = q(Tally._meta.db_table), q(Case._meta.db_table)
    column = q(GROUPS[group])  # the case's column, as Django names it
    named = {"unit": Department, "cell": GridCell, "street": Division, "district": Division}[group]
    names = q(named._meta.db_table)
    code = f"CAST({q('id')} AS varchar(40))" if group == "unit" else q("code")
    sums = ", ".join(f"SUM({q(f)}) AS {q(f)}" for f in TALLIED)
    counted = ", ".join("COALESCE(o.n, 0)" if f == "overdue_open" else f"t.{q(f)}" for f in COUNTED)
    running = ", ".join(["%s"] * len(RUNNING))
    return (
        f"SELECT t.{q('key')}, m.{q('name')}, {counted} "  # noqa: S608 - the models' tables and columns
        f"FROM (SELECT {q('key')}, {sums} FROM {tally} WHERE {q('dimension')} = %s AND {q('month')} >= %s "
        f"AND {q('month')} <= %s GROUP BY {q('key')} HAVING SUM({q('reported')}) > 0) t "
        f"LEFT JOIN (SELECT COALESCE(CAST({column} AS varchar(40)), '') AS k, COUNT(*) AS n FROM {case} "
        f"WHERE {q('state')} IN ({running}) AND {q('deadline')} < %s AND {q('created_at')} >= %s "
        f"AND {q('created_at')} < %s GROUP BY 1) o ON o.k = t.{q('key')} "
        f"LEFT JOIN (SELECT {code} AS k, {q('name')} FROM {names}) m ON m.k = t.{q('key')}"
    )


def _rows(group: str, rows: list[tuple[Any, ...]]) -> list[Row]:
    """Rows from (key, name, *COUNTED) tuples, in key order (the unassigned last); a key without a name is its own
    name."""
    unassigned = str(UNASSIGNED[group])
    result = [Row(key, unassigned if not key else key if name is None else name, *counts)
              for key, name, *counts in rows]  # fmt: skip
    result.sort(key=lambda row: (row.key == "", row.key))
    return result


def indicators_recount(*, group: str, start: dt.date, end: dt.date, now: dt.datetime | None = None) -> list[Row]:
    """The same rows counted from the cases themselves: any period, and the proof of the tally."""
    column = GROUPS[group]
    now = now or timezone.now()
    begin, finish = _span(start, end)
    rows = (
        Case.objects.filter(created_at__gte=begin, created_at__lt=finish)
        .exclude(state=State.MERGED)
        .values(column)
        .annotate(
            reported=Count("id"),
            registered=Count("id", filter=Q(registered_at__isnull=False)),
            simple=Count("id", filter=Q(simple_procedure=True)),
            due=Count("id", filter=Q(dispatched_at__isnull=False)),
            postponed=Count("id", filter=Q(state=State.POSTPONED)),
            closed=Count("id", filter=Q(state__in=DONE, dispatched_at__isnull=False)),
            on_time=Count("id", filter=Q(state__in=DONE, closed_on_time=True, dispatched_at__isnull=False)),
            overdue_open=Count("id", filter=Q(state__in=RUNNING, deadline__lt=now)),
            reworked=Count("id", filter=Q(rework_count__gt=0)),
            extended=Count("id", filter=Q(extension_count__gt=0)),
        )
        .order_by(column)
        .values_list(column, *COUNTED)
    )
    counted = [("" if key is None else str(key), *counts) for key, *counts in rows]
    names = _names(group, [r[0] for r in counted if r[0]])
    return _rows(group, [(key, names.get(key), *counts) for key, *counts in counted])


NAMES_BY_KEY = 200  # more keys than this: every name of the table is read (no query of thousands of parameters)


def _names(group: str, keys: list[str]) -> dict[str, str]:
    many = len(keys) > NAMES_BY_KEY
    if group == "unit":
        units = Department.objects.all() if many else Department.objects.filter(pk__in=keys)
        return {str(pk): name for pk, name in units.values_list("pk", "name")}
    if group in ("street", "district"):
        divisions = Division.objects.all() if many else Division.objects.filter(code__in=keys)
        return dict(divisions.values_list("code", "name"))
    cells = GridCell.objects.all() if many else GridCell.objects.filter(code__in=keys)
    return dict(cells.values_list("code", "name"))


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2026-11' → the first and last day of that month."""
    year, number = (int(x) for x in month.split("-", 1))
    first = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


@dataclass(frozen=True)
class HotSpot:
    street_code: str
    street_name: str
    category_code: str
    category_name: str
    reported: int


def hot_spots(*, start: dt.date, end: dt.date, limit: int = 10, category: str = "") -> list[HotSpot]:
    """The streets and categories with the most cases reported from `start` to `end` (merged duplicates left out),
    most first: where the same problem keeps coming back; of one category when `category` (its code) is given. From
    the tally for whole months."""
    if not _whole_months(start, end):
        return hot_spots_recount(start=start, end=end, limit=limit, category=category)
    if category:
        pk = Category.objects.filter(code=category).values_list("pk", flat=True).first()
        if pk is None:
            return []
    ops = connections[Tally.objects.db].ops
    params = ["hotspot", ops.adapt_datefield_value(start), ops.adapt_datefield_value(end)]
    if category:
        params.append(f"%|{pk}")
    with connections[Tally.objects.db].cursor() as cursor:
        cursor.execute(_hot_spots_sql(bool(category)), [*params, limit])
        sums = cursor.fetchall()
    categories = {str(pk): (code, name) for pk, code, name in Category.objects.values_list("pk", "code", "name")}
    counted: list[dict[str, Any]] = []
    for key, reported in sums:
        street, _, category = key.partition("|")
        code, name = categories.get(category, (category, category))
        counted.append({"street_code": street, "category__code": code, "category__name": name, "reported": reported})
    counted.sort(key=lambda r: (-r["reported"], r["street_code"], r["category__code"]))
    return _hot_spots(counted[:limit])


@functools.cache
def _hot_spots_sql(of_category: bool) -> str:
    """The month's (street|category, reported) of the tally ranked most first, only those tied with the `limit`-th
    or above (RANK ≤ limit: fewer than `limit` keys have more), which are all the rows that can be shown; the ties
    are ordered by street and category code after. One statement instead of every street × category of the month."""
    q = connections[Tally.objects.db].ops.quote_name
    key, reported = q("key"), q("reported")
    only = f" AND {key} LIKE %s" if of_category else ""
    return (
        f"SELECT {key}, {reported} FROM (SELECT {key}, SUM({reported}) AS {reported}, "  # noqa: S608 - the model's table
        f"RANK() OVER (ORDER BY SUM({reported}) DESC) AS place FROM {q(Tally._meta.db_table)} "
        f"WHERE {q('dimension')} = %s AND {q('month')} >= %s AND {q('month')} <= %s{only} "
        f"GROUP BY {key} HAVING SUM({reported}) > 0) ranked WHERE place <= %s"
    )


def hot_spots_recount(*, start: dt.date, end: dt.date, limit: int = 10, category: str = "") -> list[HotSpot]:
    begin, finish = _span(start, end)
    cases = Case.objects.filter(created_at__gte=begin, created_at__lt=finish)
    if category:
        cases = cases.filter(category__code=category)
    rows = list(
        cases.exclude(state=State.MERGED)
        .values("street_code", "category__code", "category__name")
        .annotate(reported=Count("id"))
        .order_by("-reported", "street_code", "category__code")[:limit]
    )
    return _hot_spots(rows)


def _hot_spots(rows: Sequence[Mapping[str, Any]]) -> list[HotSpot]:
    names = _names("street", [r["street_code"] for r in rows if r["street_code"]])
    return [
        HotSpot(
            street_code=r["street_code"],
            street_name=names.get(r["street_code"], r["street_code"]) or str(UNASSIGNED["street"]),
            category_code=r["category__code"],
            category_name=r["category__name"],
            reported=int(r["reported"]),
        )
        for r in rows
    ]
