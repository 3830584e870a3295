"""City cases over HTTP: /api/v1/cases/.

The categories are public. Residents (scope `cases:report`, or signed in) report and follow their reports; the
hotline's telephony system, department systems and sensors (scope `cases:work`, with their account's permission)
report through their channel, take the steps of the lifecycle and read the queues. Every call goes through the same
services and selectors as the pages; errors are problem documents, a step that lost a race is 409.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from json.encoder import encode_basestring as json_string
from operator import attrgetter
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.responses import NinjaJSONEncoder

from rongcheng.accounts.api_auth import api_auth
from rongcheng.cases import permissions as perms
from rongcheng.cases import selectors, services
from rongcheng.cases.errors import CaseDenied, PhotoInvalid
from rongcheng.cases.models import Case, CaseEvent, Category, ClockRequest, Open311Key
from rongcheng.cases.statistics import COUNTED, GROUPS, RATES, Row, hot_spots, indicators, month_bounds
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.ratelimit import OPENAPI_RATE_LIMITED, rate_limit_request

router = Router(tags=["cases"])


def _caller(request: HttpRequest) -> Any:
    user = request.auth  # type: ignore[attr-defined]
    note_actor(user)
    return user


def _report_auth(action: str) -> Any:
    return api_auth(f"cases.case.{action}", scope=perms.SCOPE_REPORT)


def _work_auth(action: str, permission: str | None = None) -> Any:
    return api_auth(f"cases.case.{action}", scope=perms.SCOPE_WORK, permission=permission)


class CaseCategoryOut(Schema):
    code: str = Field(description="Open311 service code: C (部件) or E (事件) + 2-digit major + 2-digit minor class")
    kind: str
    major_code: str
    major_name: str
    minor_code: str
    name: str
    anonymous_allowed: bool
    duplicate_radius_m: int
    normal_limit: int
    normal_unit: str
    urgent_limit: int
    urgent_unit: str
    photos_to_close: int


class CaseOut(Schema):
    number: str
    category: str = Field(description="category code")
    category_name: str
    channel: str
    hotline_kind: str
    state: str
    urgency: str
    description: str
    address: str
    longitude: float
    latitude: float
    cell_code: str
    street_code: str
    district_code: str
    place_name: str
    unit: str | None = Field(None, description="main unit's department code")
    deadline: dt.datetime | None
    simple_procedure: bool
    rework_count: int
    escalation_level: int
    rating: int | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_category(case: Case) -> str:
        return case.category.code

    @staticmethod
    def resolve_category_name(case: Case) -> str:
        return case.category.name

    @staticmethod
    def resolve_unit(case: Case) -> str | None:
        return case.unit.code if case.unit else None


class CaseEventOut(Schema):
    transition: str
    from_state: str
    to_state: str
    at: dt.datetime
    actor_label: str
    reason: str


class CaseDetailOut(CaseOut):
    timeline: list[CaseEventOut]

    @staticmethod
    def resolve_timeline(case: Case) -> list[CaseEvent]:
        return selectors.case_timeline(case)


class CaseReportIn(Schema):
    channel: str = Field("resident", description="resident, grid_worker, hotline or api")
    category: str = Field(max_length=8)
    description: str = Field(max_length=4000)
    lon: float
    lat: float
    address: str = Field("", max_length=200)
    urgency: str = "normal"
    hotline_kind: str = Field("", description="hotline: consult, help, complaint, report, suggestion")
    caller_phone: str = Field("", max_length=20, description="hotline: kept masked only")
    simple_procedure: bool = Field(False, description="grid worker: fixed on the spot (简易程序)")
    photos: list[str] = Field(default_factory=list, description="base64 JPEG/PNG/WebP, at most 6", max_length=7)


class CaseTransitionIn(Schema):
    name: str = Field(max_length=32)
    reason: str = Field("", max_length=500)
    units: list[str] = Field(default_factory=list, description="dispatch: department codes, the first is 主办")
    rating: int | None = None
    merge_into: str = Field("", max_length=24)
    photos: list[str] = Field(default_factory=list, max_length=7)


class CaseClockRequestIn(Schema):
    kind: str = Field(description="extension (延期) or postponement (缓办)")
    days: int = 0
    reason: str = Field(max_length=500)


class CaseClockRequestOut(Schema):
    kind: str
    days: int
    reason: str
    state: str


class CaseStatisticsRow(Schema):
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
    registration_rate: float | None
    closing_rate: float | None
    on_time_rate: float | None
    rework_rate: float | None
    extension_rate: float | None
    composite: float | None


class CaseHotSpotOut(Schema):
    street_code: str
    street_name: str
    category: str = Field(description="category code")
    category_name: str
    reported: int = Field(description="cases reported in the month, merged duplicates left out")


class CaseHotSpotsQuery(Schema):
    month: str = Field(description="YYYY-MM", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    category: str = Field("", max_length=8, description="a category code (C0101, E0102 …); empty: every category")
    limit: int = Field(20, ge=1, le=200)


class RouteIn(Schema):
    category: str = Field(max_length=20, description="category code, e.g. C0121")
    unit: str = Field(max_length=50, description="department code of the unit")
    role: str = Field("main", description="main (主办) or assist (协办)", max_length=8)
    cell_code: str = Field(
        "", max_length=20, description="a grid cell's code; blank for a street, district or the city"
    )
    street_code: str = Field("", max_length=12, description="a 9-digit street or 6-digit district code; blank: city")


class RouteOut(Schema):
    id: int
    category: str
    category_name: str
    cell_code: str
    street_code: str
    unit: str
    unit_name: str
    role: str


def _route_out(route: Any) -> dict[str, Any]:
    return {"id": route.pk, "category": route.category.code, "category_name": route.category.name,
            "cell_code": route.cell_code, "street_code": route.street_code, "unit": route.unit.code,
            "unit_name": route.unit.name, "role": route.role}  # fmt: skip


class GridAssignmentIn(Schema):
    worker: str = Field(max_length=150, description="the grid worker's username")
    cell_code: str = Field(max_length=20, description="the grid cell's code")
    theme: str = Field("city_management", max_length=20, description="city_management, public_security, environment")


class GridAssignmentOut(Schema):
    id: int
    worker: str
    cell_code: str
    theme: str


class Open311KeyIn(Schema):
    name: str = Field(max_length=100)


class Open311KeyOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class Open311IssuedKeyOut(Open311KeyOut):
    key: str = Field(description="shown once; only its hash is kept")


def _decode(photos: list[str]) -> list[bytes]:
    decoded = []
    for index, value in enumerate(photos):
        try:
            decoded.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise PhotoInvalid(
                "A photo is not valid base64.",
                errors=[{"loc": ["photos", index], "rule": "photo.base64", "msg": "not base64"}],
            ) from exc
    return decoded


@router.get(
    "/categories", response=list[CaseCategoryOut], auth=None, summary="The case categories (GB/T 30428 classes)"
)
def category_list(request: HttpRequest) -> list[Category]:
    return list(selectors.categories_active())


@router.post(
    "/reports", response={201: CaseOut}, auth=_report_auth("report"), summary="Report a problem (any channel)",
    openapi_extra=OPENAPI_RATE_LIMITED,
)  # fmt: skip
def case_report(request: HttpRequest, payload: CaseReportIn) -> Status[Case]:
    rate_limit_request("cases.report", request)
    case = services.case_report(
        channel=payload.channel, category_code=payload.category, description=payload.description, lon=payload.lon,
        lat=payload.lat, user=_caller(request), address=payload.address, urgency=payload.urgency,
        photos=_decode(payload.photos), hotline_kind=payload.hotline_kind, caller_phone=payload.caller_phone,
        simple_procedure=payload.simple_procedure,
    )  # fmt: skip
    return Status(201, case)


@router.get("/reports", response=list[CaseOut], auth=_report_auth("list"), summary="My reports (and those I follow)")
def report_list(request: HttpRequest) -> list[Case]:
    return selectors.reports_of(user=_caller(request))


@router.get(
    "/duplicates", response=list[CaseOut], auth=_report_auth("duplicates"),
    summary="Open cases of a category near a point (within the category's duplicate radius)",
)  # fmt: skip
def duplicate_list(request: HttpRequest, category: str, lon: float, lat: float) -> list[Case]:
    return services.duplicates_near(category=services.category_get(category), lon=lon, lat=lat)


@router.post(
    "/reports/{number}/follow", response=CaseOut, auth=_report_auth("join"),
    summary="Follow an open case instead of reporting it twice (并单)",
)  # fmt: skip
def case_join(request: HttpRequest, number: str) -> Case:
    return services.case_join(user=_caller(request), number=number)


@router.get("/cases/{number}", response=CaseDetailOut, auth=_report_auth("view"), summary="One case with its timeline")
def case_get(request: HttpRequest, number: str) -> Case:
    return selectors.case_get(user=_caller(request), number=number)


@router.post(
    "/cases/{number}/transitions", response=CaseDetailOut, auth=_report_auth("transition"),
    summary="Take a step of the lifecycle (the table in cases.workflow); 409 when the case moved meanwhile",
)  # fmt: skip
def case_transition(request: HttpRequest, number: str, payload: CaseTransitionIn) -> Case:
    user = _caller(request)
    services.case_transition(
        user=user, number=number, name=payload.name, reason=payload.reason, unit_codes=payload.units,
        photos=_decode(payload.photos), rating=payload.rating, merge_into=payload.merge_into,
    )  # fmt: skip
    return selectors.case_get(user=user, number=number)


@router.get(
    "/work/{number}", response=CaseDetailOut, auth=_work_auth("view"),
    summary="One case with its timeline, for the staff concerned (scope cases:work)",
)  # fmt: skip
def work_case_get(request: HttpRequest, number: str) -> Case:
    return selectors.case_get(user=_caller(request), number=number)


@router.post(
    "/work/{number}/transitions", response=CaseDetailOut, auth=_work_auth("transition"),
    summary="Take a step of the lifecycle as the staff (scope cases:work); 409 when the case moved meanwhile",
)  # fmt: skip
def work_case_transition(request: HttpRequest, number: str, payload: CaseTransitionIn) -> Case:
    return case_transition(request, number, payload)


@router.post(
    "/work-reports", response={201: CaseOut}, auth=_work_auth("report"),
    summary="Report through the staff's channels: grid worker, hotline, department systems and sensors",
    openapi_extra=OPENAPI_RATE_LIMITED,
)  # fmt: skip
def work_case_report(request: HttpRequest, payload: CaseReportIn) -> Status[Case]:
    return case_report(request, payload)


@router.post(
    "/cases/{number}/requests", response={201: CaseClockRequestOut}, auth=_work_auth("request", perms.HANDLE),
    summary="The main unit asks for an extension (延期) or a postponement (缓办)",
)  # fmt: skip
def clock_request(request: HttpRequest, number: str, payload: CaseClockRequestIn) -> Status[ClockRequest]:
    return Status(
        201,
        services.clock_request_submit(
            user=_caller(request), number=number, kind=payload.kind, days=payload.days, reason=payload.reason,
        ),
    )  # fmt: skip


@router.get(
    "/queues/{queue}", response=list[CaseOut], auth=_work_auth("queue"),
    summary="The command centre's queues: register, dispatch, overdue, disputed, requests, verified",
)  # fmt: skip
def centre_queue(request: HttpRequest, queue: str) -> HttpResponse:
    return _cases_response(selectors.centre_queue(user=_caller(request), queue=queue))


@router.get("/unit-queue", response=list[CaseOut], auth=_work_auth("unit_queue"), summary="My units' open cases")
def unit_queue(request: HttpRequest) -> HttpResponse:
    return _cases_response(selectors.unit_queue(user=_caller(request)))


def _cases_response(cases: list[Case]) -> HttpResponse:
    """A queue as `list[CaseOut]`, written directly (the values `CaseOut` gives, encoded as the API's renderer does):
    ninja's field-by-field validation of a hundred cases cost more than reading them."""
    rows = [
        {name: getattr(case, name) for name in CASE_FIELDS}
        | {"category": case.category.code, "category_name": case.category.name,
           "unit": case.unit.code if case.unit else None}
        for case in cases
    ]  # fmt: skip
    ordered = [{name: row[name] for name in CaseOut.model_fields} for row in rows]
    return HttpResponse(json.dumps(ordered, cls=NinjaJSONEncoder), content_type="application/json; charset=utf-8")


CASE_FIELDS = tuple(name for name in CaseOut.model_fields if name not in ("category", "category_name", "unit"))


@router.get("/verify-queue", response=list[CaseOut], auth=_work_auth("verify_queue"), summary="Cases to verify")
def verify_queue(request: HttpRequest) -> list[Case]:
    return selectors.worker_queue(user=_caller(request))


class CaseStatisticsQuery(Schema):
    group: str = Field("unit", description="unit, cell, street or district")
    month: str = Field(description="YYYY-MM", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")


@router.get(
    "/statistics", response=list[CaseStatisticsRow], auth=_work_auth("statistics", perms.STATISTICS),
    summary="立案率, 结案率, 按期结案率, 返工率, 延期率 and 综合指标 per unit, grid cell, street or district",
)  # fmt: skip
def statistics(request: HttpRequest, query: Query[CaseStatisticsQuery]) -> HttpResponse:
    if not perms.is_staff_with(_caller(request), perms.STATISTICS):
        raise CaseDenied("The statistics are for those who may read them.")
    if query.group not in GROUPS:
        raise ValidationFailed("Unknown group.", errors=[{"loc": ["group"], "rule": "group.choice", "msg": "unknown"}])
    start, end = month_bounds(query.month)
    rows = indicators(group=query.group, start=start, end=end)
    return HttpResponse(_statistics_json(rows), content_type="application/json; charset=utf-8")


_STATISTICS_FIELDS = ("key", "name", *COUNTED, *RATES, "composite")
# One row of `list[CaseStatisticsRow]` as `json.dumps` writes it, its values formatted in: the rows are built here to
# the declared schema, and a bulletin of a thousand grid cells validated field by field, or even turned into dicts
# of floats for `json.dumps`, cost more than computing it.
_STATISTICS_ROW = "{{" + ", ".join(f'"{name}": {{{i}}}' for i, name in enumerate(_STATISTICS_FIELDS)) + "}}"


# The texts of the rates as json.dumps writes their floats (the float nearest the exact Decimal rate): 0 to 100 %
# in ten-thousandths, and the composite 0 to 100 in hundredths, looked up instead of formatted six times a row.
_RATE_TEXTS: dict[int | None, str] = {None: "null"} | {n: repr(n / 10000) for n in range(10001)}
_COMPOSITE_TEXTS: dict[int | None, str] = {None: "null"} | {n: repr(n / 100) for n in range(10001)}


def _float_text(scaled: int | None, scale: int) -> str:
    return "null" if scaled is None else repr(scaled / scale)


def _statistics_json(rows: list[Row]) -> str:
    rate, composite = _RATE_TEXTS.get, _COMPOSITE_TEXTS.get
    text, counts = json_string, attrgetter(*COUNTED)
    return "[" + ", ".join(
        _STATISTICS_ROW.format(text(r.key), text(r.name), *counts(r),
                               *(rate(v) or _float_text(v, 10000) for v in r.scaled[:5]),
                               composite(r.scaled[5]) or _float_text(r.scaled[5], 100))
        for r in rows
    ) + "]"  # fmt: skip


@router.get(
    "/hot-spots", response=list[CaseHotSpotOut], auth=_work_auth("hot_spots", perms.STATISTICS),
    summary="Hot spots: the streets with the most cases of a category (or of any) in a month, most first",
)  # fmt: skip
def hot_spots_list(request: HttpRequest, query: Query[CaseHotSpotsQuery]) -> list[dict[str, Any]]:
    if not perms.is_staff_with(_caller(request), perms.STATISTICS):
        raise CaseDenied("The statistics are for those who may read them.")
    start, end = month_bounds(query.month)
    spots = hot_spots(start=start, end=end, limit=query.limit, category=query.category)
    return [{"street_code": h.street_code, "street_name": h.street_name, "category": h.category_code,
             "category_name": h.category_name, "reported": h.reported} for h in spots]  # fmt: skip


@router.get(
    "/routes", response=list[RouteOut], auth=_work_auth("routes"),
    summary="The routing table (派遣规则): the unit for a category in a grid cell, street, district or the city",
)  # fmt: skip
def routes(request: HttpRequest) -> list[dict[str, Any]]:
    return [_route_out(r) for r in selectors.routes_list(user=_caller(request))]


@router.post(
    "/routes", response={201: RouteOut}, auth=_work_auth("route_set", perms.ROUTING),
    summary="Add a row to the routing table, or change the role of the row for that category, place and unit",
)  # fmt: skip
def route_set(request: HttpRequest, payload: RouteIn) -> Status[dict[str, Any]]:
    route = services.route_set(
        user=_caller(request), category_code=payload.category, unit_code=payload.unit, role=payload.role,
        cell_code=payload.cell_code, street_code=payload.street_code,
    )  # fmt: skip
    return Status(201, _route_out(route))


@router.delete(
    "/routes/{route_id}", response={204: None}, auth=_work_auth("route_delete", perms.ROUTING),
    summary="Remove a row of the routing table",
)  # fmt: skip
def route_delete(request: HttpRequest, route_id: int) -> Status[None]:
    services.route_delete(user=_caller(request), route_id=route_id)
    return Status(204, None)


@router.post(
    "/grid-assignments", response={201: GridAssignmentOut}, auth=_work_auth("grid_assign", perms.ROUTING),
    summary="Make a grid worker responsible for a grid cell in a thematic grid (数字城管, 综治, 环保)",
)  # fmt: skip
def grid_assign(request: HttpRequest, payload: GridAssignmentIn) -> Status[dict[str, Any]]:
    user = _caller(request)
    worker = selectors.staff_account(username=payload.worker)
    row = services.grid_assign(
        user=user, worker=worker, cell_code=payload.cell_code, theme=payload.theme,
    )  # fmt: skip
    return Status(201, {"id": row.pk, "worker": payload.worker, "cell_code": row.cell_code, "theme": row.theme})


@router.get(
    "/grid-assignments", response=list[GridAssignmentOut], auth=_work_auth("grid_assignments"),
    summary="Who works which grid cell in which thematic grid (the command centre and those who keep it)",
)  # fmt: skip
def grid_assignments(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"id": r.pk, "worker": r.worker.username, "cell_code": r.cell_code, "theme": r.theme}
            for r in selectors.grid_assignments(user=_caller(request))]  # fmt: skip


@router.delete(
    "/grid-assignments/{assignment_id}", response={204: None}, auth=_work_auth("grid_unassign", perms.ROUTING),
    summary="Take a grid worker off a grid cell",
)  # fmt: skip
def grid_unassign(request: HttpRequest, assignment_id: int) -> Status[None]:
    services.grid_unassign(user=_caller(request), assignment_id=assignment_id)
    return Status(204, None)


@router.post(
    "/open311-keys", response={201: Open311IssuedKeyOut}, auth=_work_auth("open311key_issue", perms.OPEN311_KEYS),
    summary="Issue an Open311 API key to a department system (shown once)",
)  # fmt: skip
def open311_key_issue(request: HttpRequest, payload: Open311KeyIn) -> Status[dict[str, Any]]:
    row, key = services.open311_key_issue(user=_caller(request), name=payload.name)
    return Status(201, {"id": row.pk, "name": row.name, "prefix": row.prefix, "created_at": row.created_at,
                        "revoked_at": None, "key": key})  # fmt: skip


@router.delete(
    "/open311-keys/{key_id}", response=Open311KeyOut, auth=_work_auth("open311key_revoke", perms.OPEN311_KEYS),
    summary="Revoke an Open311 API key",
)  # fmt: skip
def open311_key_revoke(request: HttpRequest, key_id: int) -> Open311Key:
    return services.open311_key_revoke(user=_caller(request), key_id=key_id)
