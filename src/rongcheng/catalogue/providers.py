"""Providers: where the rows of a resource come from on the platform.

A `Provider` names its columns (the data dictionary) and yields rows, as dicts, for its parameters. Each app whose
data the catalogue publishes has its providers registered here with `provider_register` (later apps, such as city
cases and credit records, add theirs the same way); a resource names its provider by key in `backing`.

A provider whose rows are derived from personal data (`personal_derived`) yields aggregates only; `rows_for`
then suppresses every count below settings.CATALOGUE_SMALL_CELL_THRESHOLD (the cell is published empty, and its
`suppressed` column says so), so no small group of people can be singled out of an open dataset.

A published value is one a reader understands (the data dictionary says which it is): where a national code list
exists the row carries the code and, in a `<column>_name` column beside it, its name (sex: GB/T 2261.1-2003, 1 男性,
2 女性); where the platform's own code list is all there is (states, kinds, channels, levels) the row carries the
name the platform's pages show in Chinese, and the dictionary lists the names. No row carries the platform's internal
English codes.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count
from django.utils import translation

from rongcheng.accounts.models import Department
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.hall.models import Application, ServiceItem, ServiceKind
from rongcheng.hall.models import State as ApplicationState
from rongcheng.licences.models import HolderKind, Licence
from rongcheng.registries.models import Address, EntityStatus, LegalEntity, Person, Sex

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # catalogue.models.ItemType
    description: str
    personal: bool = False
    count: bool = False  # a count of people: suppressed below the threshold when the provider is personal-derived


@dataclass(frozen=True)
class Provider:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: Callable[[dict[str, Any]], Iterable[Row]]
    personal_derived: bool = False
    params: tuple[str, ...] = field(default=())
    # Individual records of people: never published nor copied; read only through the exchange, page by page, by
    # the owning registry's audited selector (masking, "who read my data"); `rows` is then never called.
    records: Callable[..., tuple[list[Row], bool]] | None = None
    # A page of rows read by the database from `offset` (at most `limit`), for providers of many rows: the
    # exchange asks for its page here instead of skipping through `rows` from the start.
    page: Callable[[dict[str, Any], int, int], list[Row]] | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


REGISTRY: dict[str, Provider] = {}


def provider_register(provider: Provider) -> Provider:
    if provider.key in REGISTRY:
        raise ValueError(f"provider {provider.key!r} is registered twice")
    REGISTRY[provider.key] = provider
    return provider


def provider_get(key: str) -> Provider | None:
    return REGISTRY.get(key)


def small_cell_threshold() -> int:
    return int(getattr(settings, "CATALOGUE_SMALL_CELL_THRESHOLD", 5))


def rows_for(key: str, params: dict[str, Any] | None = None) -> Iterator[Row]:
    """The provider's rows, suppressed where they count fewer people than the threshold."""
    provider = REGISTRY[key]
    if provider.records is not None:
        raise ValueError(f"provider {key!r} holds individual records: read them through the exchange only")
    rows = provider.rows(dict(params or {}))
    if not provider.personal_derived:
        yield from rows
        return
    threshold = small_cell_threshold()
    counts = [c.name for c in provider.columns if c.count]
    for row in rows:
        suppressed = any(isinstance(row.get(name), int) and 0 < row[name] < threshold for name in counts)
        if suppressed:
            row = {**row, **{name: None for name in counts if isinstance(row.get(name), int) and row[name] < threshold}}
        yield {**row, "suppressed": suppressed}


def page_for(key: str, params: dict[str, Any] | None, offset: int, limit: int) -> list[Row]:
    """Rows `offset` to `offset + limit` of a provider (not personal-derived: aggregates are read whole)."""
    provider = REGISTRY[key]
    if provider.page is not None and not provider.personal_derived:
        return provider.page(dict(params or {}), offset, limit)
    return list(itertools.islice(rows_for(key, params), offset, offset + limit))


def columns_for(key: str) -> list[Column]:
    provider = REGISTRY[key]
    columns = list(provider.columns)
    if provider.personal_derived:
        columns.append(Column("suppressed", "boolean", "小于阈值的计数已隐去"))
    return columns


# --- the platform's own data ---------------------------------------------------------------------------------------


def _names(choices: type[models.TextChoices]) -> dict[str, str]:
    """A code list's names as published: the Chinese the pages show, whatever the language of the request."""
    with translation.override("zh-hans"):
        return {value: str(label) for value, label in choices.choices}


def _named(choices: type[models.TextChoices]) -> str:
    """The names of a code list, for the data dictionary."""
    return "、".join(_names(choices).values())


# GB/T 2261.1-2003 人的性别代码: 0 未知的性别, 1 男性, 2 女性, 9 未说明的性别.
_SEX_CODES: dict[str, tuple[str, str]] = {Sex.MALE.value: ("1", "男性"), Sex.FEMALE.value: ("2", "女性")}


def _division_names() -> dict[str, str]:
    return dict(Division.objects.values_list("code", "name"))


def _divisions(params: dict[str, Any]) -> Iterator[Row]:
    qs = Division.objects.order_by("code").values_list(
        "code", "name", "level", "parent__code", "valid_from", "valid_to"
    )
    if params.get("level"):
        qs = qs.filter(level=params["level"])
    levels = _names(DivisionLevel)
    for code, name, level, parent, valid_from, valid_to in qs.iterator(chunk_size=2000):
        yield {
            "code": code, "name": name, "level": levels.get(level, level), "parent_code": parent or "",
            "valid_from": valid_from.isoformat() if valid_from else "",
            "valid_to": valid_to.isoformat() if valid_to else "",
        }  # fmt: skip


def _grid_cells(params: dict[str, Any]) -> Iterator[Row]:
    qs = GridCell.objects.order_by("code").values_list("code", "name", "community__code", "polygon")
    for code, name, community, polygon in qs.iterator(chunk_size=2000):
        yield {"code": code, "name": name, "community_code": community, "geometry": polygon}


def _addresses_by_division(params: dict[str, Any]) -> Iterator[Row]:
    names = _division_names()
    qs = Address.objects.values("division_code").annotate(n=Count("id")).order_by("division_code")
    for row in qs:
        yield {"division_code": row["division_code"], "division_name": names.get(row["division_code"], ""),
               "addresses": row["n"]}  # fmt: skip


def _population_by_division(params: dict[str, Any]) -> Iterator[Row]:
    names = _division_names()
    qs = (
        Person.objects.filter(status="living")
        .values("division_code", "sex")
        .annotate(n=Count("id"))
        .order_by("division_code", "sex")
    )
    for row in sorted(qs, key=lambda r: (r["division_code"], _SEX_CODES.get(r["sex"], ("9",))[0])):
        code, name = _SEX_CODES.get(row["sex"], ("9", "未说明的性别"))
        yield {"division_code": row["division_code"], "division_name": names.get(row["division_code"], ""),
               "sex": code, "sex_name": name, "persons": row["n"]}  # fmt: skip


def _population_by_birth_decade(params: dict[str, Any]) -> Iterator[Row]:
    counts: dict[tuple[str, int], int] = {}
    for division, born in (
        Person.objects.filter(status="living").values_list("division_code", "birth_date").iterator(chunk_size=5000)
    ):
        key = (division, born.year // 10 * 10)
        counts[key] = counts.get(key, 0) + 1
    for (division, decade), n in sorted(counts.items()):
        yield {"division_code": division, "birth_decade": f"{decade}年代", "persons": n}


def _entities_by_division(params: dict[str, Any]) -> Iterator[Row]:
    names = _division_names()
    qs = (
        LegalEntity.objects.values("division_code", "entity_type", "status")
        .annotate(n=Count("id"))
        .order_by("division_code", "entity_type", "status")
    )
    statuses = _names(EntityStatus)
    for row in qs:
        yield {"division_code": row["division_code"], "division_name": names.get(row["division_code"], ""),
               "entity_type": row["entity_type"], "status": statuses.get(row["status"], row["status"]),
               "entities": row["n"]}  # fmt: skip


def _indicators(params: dict[str, Any]) -> Iterator[Row]:
    from rongcheng.registries.models import Indicator

    qs = Indicator.objects.order_by("code", "division_code", "period")
    if params.get("code"):
        qs = qs.filter(code=params["code"])
    for indicator in qs:
        yield {"code": indicator.code, "name": indicator.name, "period": indicator.period,
               "value": float(indicator.value), "unit": indicator.unit,
               "division_code": indicator.division_code}  # fmt: skip


def _service_items(params: dict[str, Any]) -> Iterator[Row]:
    qs = ServiceItem.objects.filter(active=True).select_related("department").order_by("code")
    if params.get("department"):
        qs = qs.filter(department__code=params["department"])
    kinds = _names(ServiceKind)
    for item in qs:
        yield {"code": item.code, "name": item.name, "department": item.department.name,
               "kind": kinds.get(item.kind, item.kind),
               "statutory_days": item.statutory_days, "promised_days": item.promised_days, "fees": item.fees,
               "online_only": item.online_only}  # fmt: skip


def _applications_by_service(params: dict[str, Any]) -> Iterator[Row]:
    qs = (
        Application.objects.exclude(state="draft")
        .values("service__code", "service__name", "department__name", "state")
        .annotate(n=Count("id"))
        .order_by("service__code", "state")
    )
    states = _names(ApplicationState)
    for row in qs:
        yield {"service_code": row["service__code"], "service_name": row["service__name"],
               "department": row["department__name"], "state": states.get(row["state"], row["state"]),
               "applications": row["n"]}  # fmt: skip


def _licences_by_type(params: dict[str, Any]) -> Iterator[Row]:
    qs = (
        Licence.objects.values("licence_type__code", "licence_type__name", "department__name", "holder_kind")
        .annotate(n=Count("id"))
        .order_by("licence_type__code", "holder_kind")
    )
    kinds = _names(HolderKind)
    for row in qs:
        yield {"type_code": row["licence_type__code"], "type_name": row["licence_type__name"],
               "department": row["department__name"], "holder_kind": kinds.get(row["holder_kind"], row["holder_kind"]),
               "licences": row["n"]}  # fmt: skip


def _departments(params: dict[str, Any]) -> Iterator[Row]:
    for code, name, short in Department.objects.order_by("code").values_list("code", "name", "short_name"):
        yield {"code": code, "name": name, "short_name": short}


_DIVISION = Column("division_code", "text", "行政区划代码（GB/T 2260）")
_DIVISION_NAME = Column("division_name", "text", "行政区划名称")

provider_register(Provider("divisions.divisions", "行政区划", (
    Column("code", "text", "区划代码"), Column("name", "text", "区划名称"),
    Column("level", "text", f"层级（{_named(DivisionLevel)}）"),
    Column("parent_code", "text", "上级区划代码"), Column("valid_from", "date", "启用日期"),
    Column("valid_to", "date", "停用日期"),
), _divisions, params=("level",)))  # fmt: skip
provider_register(Provider("divisions.grid_cells", "单元网格", (
    Column("code", "text", "网格编码（CJ/T 213）"), Column("name", "text", "网格名称"),
    Column("community_code", "text", "所属社区代码"), Column("geometry", "geometry", "网格范围（WGS84 多边形）"),
), _grid_cells))  # fmt: skip
provider_register(Provider("registries.addresses_by_division", "标准地址数量", (
    _DIVISION, _DIVISION_NAME, Column("addresses", "integer", "标准地址数"),
), _addresses_by_division))  # fmt: skip
provider_register(Provider("registries.population_by_division", "分区县分性别户籍人口", (
    _DIVISION, _DIVISION_NAME, Column("sex", "text", "性别代码（GB/T 2261.1：1 男性，2 女性）"),
    Column("sex_name", "text", "性别"), Column("persons", "integer", "人数", count=True),
), _population_by_division, personal_derived=True))  # fmt: skip
provider_register(Provider("registries.population_by_birth_decade", "分区县分出生年代户籍人口", (
    _DIVISION, Column("birth_decade", "text", "出生年代（如 1980年代：1980—1989 年出生）"),
    Column("persons", "integer", "人数", count=True),
), _population_by_birth_decade, personal_derived=True))  # fmt: skip
provider_register(Provider("registries.entities_by_division", "分区县分类型市场主体", (
    _DIVISION, _DIVISION_NAME, Column("entity_type", "text", "主体类型"),
    Column("status", "text", f"登记状态（{_named(EntityStatus)}）"), Column("entities", "integer", "主体数"),
), _entities_by_division))  # fmt: skip
provider_register(Provider("registries.indicators", "宏观经济指标", (
    Column("code", "text", "指标代码"), Column("name", "text", "指标名称"), Column("period", "text", "统计期"),
    Column("value", "number", "数值"), Column("unit", "text", "计量单位"), _DIVISION,
), _indicators, params=("code",)))  # fmt: skip
provider_register(Provider("hall.service_items", "政务服务事项目录", (
    Column("code", "text", "事项编码"), Column("name", "text", "事项名称"), Column("department", "text", "实施部门"),
    Column("kind", "text", f"事项类型（{_named(ServiceKind)}）"),
    Column("statutory_days", "integer", "法定办结时限（工作日）"),
    Column("promised_days", "integer", "承诺办结时限（工作日）"), Column("fees", "text", "收费标准"),
    Column("online_only", "boolean", "是否全程网办"),
), _service_items, params=("department",)))  # fmt: skip
provider_register(Provider("hall.applications_by_service", "分事项办件量", (
    Column("service_code", "text", "事项编码"), Column("service_name", "text", "事项名称"),
    Column("department", "text", "实施部门"), Column("state", "text", "办件状态（如已受理、审查中、办结）"),
    Column("applications", "integer", "办件数", count=True),
), _applications_by_service, personal_derived=True))  # fmt: skip
provider_register(Provider("licences.licences_by_type", "分类型电子证照签发量", (
    Column("type_code", "text", "证照类型代码"), Column("type_name", "text", "证照类型名称"),
    Column("department", "text", "签发部门"), Column("holder_kind", "text", f"持证主体类型（{_named(HolderKind)}）"),
    Column("licences", "integer", "证照数", count=True),
), _licences_by_type, personal_derived=True))  # fmt: skip
provider_register(Provider("accounts.departments", "政务部门名录", (
    Column("code", "text", "部门编码"), Column("name", "text", "部门名称"), Column("short_name", "text", "简称"),
), _departments))  # fmt: skip


def _catalogue(params: dict[str, Any]) -> Iterator[Row]:
    """The catalogue itself: the metadata of every government data resource (never its rows)."""
    from rongcheng.catalogue.models import DataResource

    for resource in DataResource.objects.select_related("provider").order_by("code"):
        yield {"code": resource.code, "name": resource.name, "provider": resource.provider.name,
               "category": resource.get_category_display(), "sharing_type": resource.get_sharing_type_display(),
               "open_type": resource.get_open_type_display(), "update_cycle": resource.get_update_cycle_display(),
               "published_on": resource.published_on.isoformat()}  # fmt: skip


provider_register(Provider("catalogue.resources", "政务信息资源目录", (
    Column("code", "text", "资源代码"), Column("name", "text", "资源名称"), Column("provider", "text", "提供方"),
    Column("category", "text", "资源分类"), Column("sharing_type", "text", "共享类型"),
    Column("open_type", "text", "开放类型"), Column("update_cycle", "text", "更新周期"),
    Column("published_on", "date", "发布日期"),
), _catalogue))  # fmt: skip


# --- city cases (城市管理案卷) -------------------------------------------------------------------------------------
# A case is a problem at a place, not a person: its reporter, the reporter's label and the caller's number are never
# read here. A case of a sensitive category keeps its place as the public sees it (the place name, the point rounded
# to ~100 m, rongcheng.cases.selectors.public_location); its description, free text a reporter wrote that may name
# people, is a personal data item, masked unless a grant names it in clear, and never published.

_CASE_COLUMNS = ("number", "category__code", "category__name", "category__sensitive", "channel", "state", "urgency",
                 "district_code", "street_code", "community_code", "cell_code", "place_name", "address", "longitude",
                 "latitude", "description", "unit__name", "created_at", "deadline", "closed_at",
                 "closed_on_time")  # fmt: skip


# The cases app's FINAL states: a report rejected or merged into another is not a case of its own (the public list
# leaves them out too).
_CASES_NOT_KEPT = ("rejected", "merged")
_CASES_DONE = ("closed", "evaluated")  # and its DONE: closed, then perhaps evaluated


def _case_names() -> dict[str, dict[str, str]]:
    from rongcheng.cases.models import Channel, Urgency
    from rongcheng.cases.models import State as CaseState

    return {"channel": _names(Channel), "state": _names(CaseState), "urgency": _names(Urgency)}


_CASE_NAMES = functools.cache(_case_names)


def _case_row(values: tuple[Any, ...]) -> Row:
    from rongcheng.cases.selectors import PUBLIC_ROUNDING

    case = dict(zip(_CASE_COLUMNS, values, strict=True))
    names = _CASE_NAMES()
    sensitive = case["category__sensitive"]
    lon, lat = case["longitude"], case["latitude"]
    if sensitive:
        lon, lat = round(lon, PUBLIC_ROUNDING), round(lat, PUBLIC_ROUNDING)
    return {
        "number": case["number"], "category_code": case["category__code"], "category": case["category__name"],
        **{name: names[name].get(case[name], case[name]) for name in ("channel", "state", "urgency")},
        "district_code": case["district_code"], "street_code": case["street_code"],
        "community_code": case["community_code"], "cell_code": case["cell_code"],
        "place": case["place_name"] if sensitive else (case["address"] or case["place_name"]),
        "longitude": lon, "latitude": lat, "description": case["description"], "unit": case["unit__name"] or "",
        "reported_at": case["created_at"].isoformat() if case["created_at"] else None,
        "deadline": case["deadline"].isoformat() if case["deadline"] else None,
        "closed_at": case["closed_at"].isoformat() if case["closed_at"] else None,
        "closed_on_time": case["closed_on_time"],
    }  # fmt: skip


def _cases_query() -> Any:
    from rongcheng.cases.models import Case

    return Case.objects.exclude(state__in=_CASES_NOT_KEPT).order_by("id").values_list(*_CASE_COLUMNS)


def _cases(params: dict[str, Any]) -> Iterator[Row]:
    for values in _cases_query().iterator(chunk_size=2000):
        yield _case_row(values)


def _cases_page(params: dict[str, Any], offset: int, limit: int) -> list[Row]:
    return [_case_row(values) for values in _cases_query()[offset : offset + limit]]


def _cases_by_category(params: dict[str, Any]) -> Iterator[Row]:
    """Cases per month of report, district and category: reported, closed, closed on time."""
    from django.db.models import Q
    from django.db.models.functions import TruncMonth

    from rongcheng.cases.models import Case

    names = _division_names()
    qs = (
        Case.objects.exclude(state__in=_CASES_NOT_KEPT)
        .annotate(month=TruncMonth("created_at"))
        .values("month", "district_code", "category__code", "category__name")
        .annotate(reported=Count("id"), closed=Count("id", filter=Q(state__in=_CASES_DONE)),
                  on_time=Count("id", filter=Q(state__in=_CASES_DONE, closed_on_time=True)))
        .order_by("month", "district_code", "category__code")
    )  # fmt: skip
    for row in qs:
        yield {"month": row["month"].strftime("%Y-%m") if row["month"] else "", "district_code": row["district_code"],
               "district_name": names.get(row["district_code"], ""), "category_code": row["category__code"],
               "category": row["category__name"], "reported": row["reported"], "closed": row["closed"],
               "closed_on_time": row["on_time"]}  # fmt: skip


provider_register(Provider("cases.cases", "城市管理案卷", (
    Column("number", "text", "案卷编号"), Column("category_code", "text", "问题类别代码"),
    Column("category", "text", "问题类别"), Column("channel", "text", "来源渠道（如市民上报、12345热线）"),
    Column("state", "text", "办理状态（如已立案、处置中、已结案）"),
    Column("urgency", "text", "紧急程度（一般、紧急）"),
    Column("district_code", "text", "区县代码"),
    Column("street_code", "text", "街道代码"), Column("community_code", "text", "社区代码"),
    Column("cell_code", "text", "单元网格编码"), Column("place", "text", "位置（敏感类别只到地名）"),
    Column("longitude", "number", "经度（敏感类别约 100 米精度）"),
    Column("latitude", "number", "纬度（敏感类别约 100 米精度）"),
    Column("description", "text", "问题描述（上报人所写，可能含个人信息）", personal=True),
    Column("unit", "text", "处置单位"), Column("reported_at", "date", "上报时间"),
    Column("deadline", "date", "处置时限"),
    Column("closed_at", "date", "结案时间"), Column("closed_on_time", "boolean", "是否按时结案"),
), _cases, page=_cases_page))  # fmt: skip
provider_register(Provider("cases.cases_by_category", "城市管理案卷数量（分月分区县分类别）", (
    Column("month", "text", "上报月份"), Column("district_code", "text", "区县代码"),
    Column("district_name", "text", "区县名称"), Column("category_code", "text", "问题类别代码"),
    Column("category", "text", "问题类别"), Column("reported", "integer", "上报数"),
    Column("closed", "integer", "结案数"),
    Column("closed_on_time", "integer", "按时结案数"),
), _cases_by_category))  # fmt: skip


# --- public credit (公共信用): the 双公示 records as the public sees them -------------------------------------------
# Only records on public display (not repaired, before their public_until). A person's name is masked and their ID
# number shown only in its masked form, as the credit portal shows them; the legal representative's ID number (even
# its blind index) is never read here.

_CREDIT_COLUMNS = ("id", "kind", "subject__kind", "subject__name", "subject__code_masked", "department__name",
                   "document_number", "category", "content", "decided_on", "valid_until", "authority",
                   "status", "published_on", "public_until")  # fmt: skip


def _credit_names() -> dict[str, dict[str, str]]:
    from rongcheng.credit.models import RecordKind, RecordStatus, SubjectKind

    return {"kind": _names(RecordKind), "subject_kind": _names(SubjectKind), "status": _names(RecordStatus)}


_CREDIT_NAMES = functools.cache(_credit_names)


def _credit_row(values: tuple[Any, ...]) -> Row:
    from rongcheng.credit.models import SubjectKind
    from rongcheng.kernel.masking import mask_name

    record = dict(zip(_CREDIT_COLUMNS, values, strict=True))
    person = record["subject__kind"] == SubjectKind.PERSON
    names = _CREDIT_NAMES()
    return {
        "kind": names["kind"].get(record["kind"], record["kind"]),
        "subject_kind": names["subject_kind"].get(record["subject__kind"], record["subject__kind"]),
        "subject_name": mask_name(record["subject__name"]) if person else record["subject__name"],
        "subject_code": record["subject__code_masked"], "department": record["department__name"],
        "document_number": record["document_number"], "category": record["category"], "content": record["content"],
        "decided_on": record["decided_on"].isoformat(),
        "valid_until": record["valid_until"].isoformat() if record["valid_until"] else None,
        "authority": record["authority"], "status": names["status"].get(record["status"], record["status"]),
        "published_on": record["published_on"].isoformat(), "public_until": record["public_until"].isoformat(),
    }  # fmt: skip


def _credit_query() -> Any:
    from rongcheng.credit.models import Record
    from rongcheng.credit.selectors import public_records_filter
    from rongcheng.hall.selectors import city_today

    return Record.objects.filter(public_records_filter(city_today())).order_by("id").values_list(*_CREDIT_COLUMNS)


def _credit_records(params: dict[str, Any]) -> Iterator[Row]:
    for values in _credit_query().iterator(chunk_size=2000):
        yield _credit_row(values)


def _credit_page(params: dict[str, Any], offset: int, limit: int) -> list[Row]:
    return [_credit_row(values) for values in _credit_query()[offset : offset + limit]]


def _credit_by_department(params: dict[str, Any]) -> Iterator[Row]:
    from rongcheng.credit.models import Record
    from rongcheng.credit.selectors import public_records_filter
    from rongcheng.hall.selectors import city_today

    qs = (
        Record.objects.filter(public_records_filter(city_today()))
        .values("department__name", "kind", "subject__kind")
        .annotate(n=Count("id"))
        .order_by("department__name", "kind", "subject__kind")
    )
    names = _CREDIT_NAMES()
    for row in qs:
        yield {"department": row["department__name"], "kind": names["kind"].get(row["kind"], row["kind"]),
               "subject_kind": names["subject_kind"].get(row["subject__kind"], row["subject__kind"]),
               "records": row["n"]}  # fmt: skip


provider_register(Provider("credit.public_records", "信用信息双公示", (
    Column("kind", "text", "信息类别（如行政许可、行政处罚）"),
    Column("subject_kind", "text", "主体类型（法人和其他组织、自然人）"),
    Column("subject_name", "text", "主体名称（自然人姓名已脱敏）"),
    Column("subject_code", "text", "统一社会信用代码或脱敏身份证号"),
    Column("department", "text", "报送部门"), Column("document_number", "text", "决定文书号"),
    Column("category", "text", "类别"), Column("content", "text", "内容"), Column("decided_on", "date", "决定日期"),
    Column("valid_until", "date", "有效期至"), Column("authority", "text", "决定机关"),
    Column("status", "text", "当前状态（有效、无效）"),
    Column("published_on", "date", "公示日期"), Column("public_until", "date", "公示截止日期"),
), _credit_records, page=_credit_page))  # fmt: skip
provider_register(Provider("credit.records_by_department", "信用信息双公示数量（分部门分类别）", (
    Column("department", "text", "报送部门"), Column("kind", "text", "信息类别（如行政许可、行政处罚）"),
    Column("subject_kind", "text", "主体类型（法人和其他组织、自然人）"),
    Column("records", "integer", "记录数", count=True),
), _credit_by_department, personal_derived=True))  # fmt: skip


# --- individual records (the exchange only) --------------------------------------------------------------------------


def _records_only(params: dict[str, Any]) -> Iterator[Row]:
    raise ValueError("individual records are read through the exchange only")


def _persons_page(**kwargs: Any) -> tuple[list[Row], bool]:
    from rongcheng.registries.selectors import persons_read_for_sharing

    return persons_read_for_sharing(**kwargs)


provider_register(Provider("registries.persons", "户籍人口个人信息", (
    Column("id_number", "text", "公民身份号码", personal=True), Column("name", "text", "姓名", personal=True),
    Column("sex", "text", "性别"), Column("birth_date", "date", "出生日期", personal=True),
    Column("ethnicity", "text", "民族（GB/T 3304 代码）"), _DIVISION,
    Column("address", "text", "住址", personal=True), Column("phone", "text", "联系电话", personal=True),
    Column("status", "text", "登记状态"),
), _records_only, records=_persons_page))  # fmt: skip
