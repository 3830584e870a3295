"""GB/T 2260 administrative division codes for the whole country, with their history.

The national table is python-stdnum's `stdnum/cn/loc.dat` (built from Wikipedia's lists of division codes, with the
years each name was in force), read once on first use. It is not copied here: a newer python-stdnum brings a newer
table. Facts of standards.md §3 that the table states less precisely are overlaid on it (`_OVERLAY`).

Codes are never forgotten once retired, because ID numbers and old records keep the code in force when they were
made: validation asks "did this code ever exist", and only history-aware callers ask "was it in force in year Y".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal, overload

DivisionLevel = Literal["province", "prefecture", "county"]

# Codes that group divisions for statistics (a city's 市辖区, 市区 in the tables before 1983, the 县 of Beijing and
# Tianjin); they are not divisions a person or a company belongs to, so lists offered to users leave them out, and a
# county under one has no prefecture.
STATISTICAL_GROUPING_NAMES: Final = frozenset({"市辖区", "市区", "县"})

# The platform starts with the 2017 work plan; divisions retired before then do not appear in its city lists.
PLATFORM_EPOCH_YEAR: Final = 2017
FUZHOU_PREFIX: Final = "3501"


@dataclass(frozen=True, slots=True)
class Division:
    """One name of one code over one period of years.

    Years are inclusive and come from the table, which records only years: in a year of change the old and the new
    code are both in force. `None` as `valid_from_year` means "since before the table's first edition (1980)", as
    `valid_to_year` "still in force". The revision fields carry the MCA list (YYYYMM) of a change where it is known.
    """

    code: str
    name: str
    province: str
    prefecture: str
    county: str
    level: DivisionLevel
    valid_from_year: int | None
    valid_to_year: int | None
    valid_from_revision: str | None = None
    valid_to_revision: str | None = None

    def in_force(self, year: int) -> bool:
        return (self.valid_from_year is None or year >= self.valid_from_year) and (
            self.valid_to_year is None or year <= self.valid_to_year
        )

    @property
    def is_statistical_grouping(self) -> bool:
        return self.name in STATISTICAL_GROUPING_NAMES


@dataclass(frozen=True, slots=True)
class DivisionRecord:
    """Everything the table knows about one code: its periods in chronological order, possibly under several names
    (350111 was 郊区 until 1994, then 晋安区)."""

    code: str
    level: DivisionLevel
    periods: tuple[Division, ...]

    @property
    def current(self) -> Division:
        """The latest period: the name in force now, or the last name a retired code had."""
        return self.periods[-1]

    @property
    def name(self) -> str:
        return self.current.name

    def in_force(self, year: int) -> bool:
        return any(period.in_force(year) for period in self.periods)

    def period_in(self, year: int) -> Division | None:
        for period in reversed(self.periods):
            if period.in_force(year):
                return period
        return None


@dataclass(frozen=True, slots=True)
class _Period:
    name: str
    valid_from_year: int | None
    valid_to_year: int | None


@dataclass(frozen=True, slots=True)
class _OverlayFact:
    code: str
    name: str
    valid_from_year: int | None
    valid_to_year: int | None
    valid_from_revision: str | None
    valid_to_revision: str | None


# Fuzhou facts of standards.md §3. loc.dat agrees on the years (长乐区 from 2017, 长乐市 1994-2017, checked by
# test_divisions), but it records years only, and the change fell inside 2017: the MCA lists switch from 350182 to
# 350112 between revisions 201709 and 201710. A fact here replaces the table's period of the same name, or is added.
_OVERLAY: Final = (
    _OverlayFact("350112", "长乐区", 2017, None, "201710", None),
    _OverlayFact("350182", "长乐市", 1994, 2017, None, "201709"),
)

_LINE: Final = re.compile(r'^(?P<indent> *)(?P<digits>\d+) (?P<key>province|county)="(?P<value>[^"]*)"$')
_PERIOD: Final = re.compile(r"^(?:\[(?P<start>\d{4})?-(?P<end>\d{4})?\])?(?P<name>[^\[\],]+)$")


def _parse_periods(value: str) -> tuple[_Period, ...]:
    periods = []
    for part in value.split(","):
        match = _PERIOD.match(part)
        if match is None:
            raise RuntimeError(f"stdnum cn/loc.dat: unexpected period {part!r}; has the table's format changed?")
        start, end = match["start"], match["end"]
        periods.append(_Period(match["name"], int(start) if start else None, int(end) if end else None))
    return tuple(periods)


def _read_loc_dat() -> str:
    return resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")


def _parse_loc_dat(text: str) -> tuple[dict[str, str], dict[str, tuple[_Period, ...]]]:
    """Province names by 2-digit prefix, and the periods of every 6-digit code, as loc.dat states them."""
    provinces: dict[str, str] = {}
    codes: dict[str, tuple[_Period, ...]] = {}
    province = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise RuntimeError(f"stdnum cn/loc.dat line {number}: unexpected {line!r}; has the table's format changed?")
        digits = match["digits"]
        if match["key"] == "province" and not match["indent"] and len(digits) == 2:
            province = digits
            provinces[province] = match["value"]
        elif match["key"] == "county" and match["indent"] and len(digits) == 4 and province:
            codes[province + digits] = _parse_periods(match["value"])
        else:
            raise RuntimeError(f"stdnum cn/loc.dat line {number}: unexpected {line!r}; has the table's format changed?")
    return provinces, codes


def _level(code: str) -> DivisionLevel:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def _overlapping_name(periods: tuple[_Period, ...], start: int | None, end: int | None) -> str:
    """The name of the latest of `periods` that overlaps [start, end] (the latest name when none does), or "" for a
    statistical grouping."""
    name = periods[-1].name if periods else ""
    for period in reversed(periods):
        if (period.valid_to_year is None or start is None or period.valid_to_year >= start) and (
            period.valid_from_year is None or end is None or period.valid_from_year <= end
        ):
            name = period.name
            break
    return "" if name in STATISTICAL_GROUPING_NAMES else name


def _apply_overlay(codes: dict[str, tuple[_Period, ...]]) -> dict[str, dict[str, tuple[str | None, str | None]]]:
    """Merge `_OVERLAY` into `codes` in place; return the MCA revisions it knows, by code and name."""
    revisions: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    for fact in _OVERLAY:
        period = _Period(fact.name, fact.valid_from_year, fact.valid_to_year)
        existing = codes.get(fact.code, ())
        if any(known.name == fact.name for known in existing):
            codes[fact.code] = tuple(period if known.name == fact.name else known for known in existing)
        else:
            codes[fact.code] = (*existing, period)
        revisions.setdefault(fact.code, {})[fact.name] = (fact.valid_from_revision, fact.valid_to_revision)
    return revisions


def _chronological(period: _Period) -> tuple[int, int]:
    return (
        period.valid_from_year if period.valid_from_year is not None else -1,
        period.valid_to_year if period.valid_to_year is not None else 10_000,
    )


@dataclass(frozen=True, slots=True)
class _Table:
    records: dict[str, DivisionRecord]
    codes: frozenset[str]


@functools.cache
def _table() -> _Table:
    provinces, codes = _parse_loc_dat(_read_loc_dat())
    revisions = _apply_overlay(codes)
    records: dict[str, DivisionRecord] = {}
    for code, raw_periods in sorted(codes.items()):
        level = _level(code)
        prefecture_periods = codes.get(code[:4] + "00", ()) if level == "county" else ()
        periods = []
        for raw in sorted(raw_periods, key=_chronological):
            from_revision, to_revision = revisions.get(code, {}).get(raw.name, (None, None))
            periods.append(
                Division(
                    code=code,
                    name=raw.name,
                    province=provinces.get(code[:2], ""),
                    prefecture=(
                        raw.name
                        if level == "prefecture"
                        else _overlapping_name(prefecture_periods, raw.valid_from_year, raw.valid_to_year)
                    ),
                    county=raw.name if level == "county" else "",
                    level=level,
                    valid_from_year=raw.valid_from_year,
                    valid_to_year=raw.valid_to_year,
                    valid_from_revision=from_revision,
                    valid_to_revision=to_revision,
                )
            )
        records[code] = DivisionRecord(code=code, level=level, periods=tuple(periods))
    return _Table(records=records, codes=frozenset(records))


def division_get(code: str) -> DivisionRecord | None:
    return _table().records.get(code)


def division_ever_existed(code: str) -> bool:
    return code in _table().codes


def division_codes_ever_existed() -> frozenset[str]:
    """Every code the table knows, for hot loops that cannot afford a function call per lookup."""
    return _table().codes


def division_in_force(code: str, year: int) -> bool:
    record = _table().records.get(code)
    return record is not None and record.in_force(year)


def divisions_under(
    prefix: str, *, in_force_year: int | None = None, include_statistical_groupings: bool = False
) -> list[DivisionRecord]:
    """County-level codes whose code starts with `prefix` ("35" for Fujian, "3501" for Fuzhou), in code order.

    Retired codes are included unless `in_force_year` asks for the codes of one year.
    """
    found = []
    for code, record in _table().records.items():
        if not code.startswith(prefix) or record.level != "county":
            continue
        if in_force_year is not None and not record.in_force(in_force_year):
            continue
        if not include_statistical_groupings and all(period.is_statistical_grouping for period in record.periods):
            continue
        found.append(record)
    return found


def _fuzhou_counties() -> tuple[Division, ...]:
    """The county-level divisions of 福州市 since the platform's epoch, one period per code (the latest)."""
    counties = []
    for record in divisions_under(FUZHOU_PREFIX):
        period = record.current
        if period.valid_to_year is None or period.valid_to_year >= PLATFORM_EPOCH_YEAR:
            counties.append(period)
    return tuple(counties)


class _LazyDivisions(Sequence[Division]):
    """A tuple computed on first use, so that importing this module does not read the national table."""

    def __init__(self, compute: Callable[[], tuple[Division, ...]]) -> None:
        self._compute = functools.cache(compute)

    @overload
    def __getitem__(self, index: int) -> Division: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Division, ...]: ...

    def __getitem__(self, index: int | slice) -> Division | tuple[Division, ...]:
        return self._compute()[index]

    def __len__(self) -> int:
        return len(self._compute())

    def __iter__(self) -> Iterator[Division]:
        return iter(self._compute())

    def __repr__(self) -> str:
        return repr(self._compute())


# 鼓楼 台江 仓山 马尾 晋安 长乐区 闽侯 连江 罗源 闽清 永泰 平潭 福清 and the retired 长乐市 (standards.md §3).
FUZHOU_COUNTIES: Final[Sequence[Division]] = _LazyDivisions(_fuzhou_counties)
