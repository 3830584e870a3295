"""Open311 GeoReport v2 at /open311/v2/ with Service Discovery at /open311/discovery.json: the city's case
categories as services, cases as service requests, in JSON and XML.

Reads are public and show no personal data (a sensitive category's location is rounded). Writes (POST requests)
need an `api_key` issued by an administrator to a department system; the case goes through the same intake service
as every other channel (channel `api`). Internal states map to `open`/`closed`, the state's name in `status_notes`;
times are ISO 8601 with +08:00; errors are `[{"code", "description"}]` (or `<errors>` in XML). A POST's personal
fields (`email`, `first_name`, `last_name`, `phone`, `device_id`, `account_id`) are not kept: the case's reporter is
the system holding the key, and its own records keep who called.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from xml.etree import ElementTree as ET

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rongcheng.cases import selectors, services
from rongcheng.cases.models import Case, CaseEvent, Category, Channel, State, Urgency
from rongcheng.cases.workflow import DONE
from rongcheng.kernel.errors import DomainError, RateLimited
from rongcheng.kernel.ratelimit import rate_limit_request

JURISDICTION = "fuzhou.gov.cn"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
MAX_SPAN = dt.timedelta(days=90)
# The deepest row a page may reach: a deeper page must skip that many rows on every request (a harvester narrows the
# period with start_date/end_date or updated_after instead, as search APIs cap their result windows).
MAX_WINDOW = 10_000
MEDIA_MAX = 8 * 1024 * 1024 + 1
STATE_NOTES = {s.value: str(s.label) for s in State}


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def iso(value: dt.datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def _render(fmt: str, root: str, item: str, rows: list[dict[str, Any]], status: int = 200) -> HttpResponse:
    if fmt == "json":
        body = json.dumps(rows, ensure_ascii=False)
    else:
        top = ET.Element(root)
        for row in rows:
            element = ET.SubElement(top, item)
            _xml_fill(element, row)
        body = '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="unicode")
    return HttpResponse(body, content_type=FORMATS[fmt], status=status)


def _xml_fill(element: ET.Element, row: dict[str, Any]) -> None:
    for key, value in row.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):
            singular = {"attributes": "attribute", "values": "value", "keywords": "keyword"}.get(key, "item")
            for entry in value:
                sub = ET.SubElement(child, singular)
                if isinstance(entry, dict):
                    _xml_fill(sub, entry)
                else:
                    sub.text = str(entry)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)


def _error(fmt: str, code: int, description: str) -> HttpResponse:
    return _render(
        fmt if fmt in FORMATS else "json", "errors", "error", [{"code": code, "description": description}], status=code
    )


def _endpoint(view: Any) -> Any:
    """Format check, rate limit and the mapping of errors to Open311 error lists, for every endpoint."""

    def wrapped(request: HttpRequest, fmt: str, **kwargs: Any) -> HttpResponse:
        if fmt not in FORMATS:
            return _error("json", 404, "Unknown format: use .json or .xml.")
        try:
            rate_limit_request("cases.open311", request)
            jurisdiction = request.GET.get("jurisdiction_id") or request.POST.get("jurisdiction_id")
            if jurisdiction and jurisdiction != JURISDICTION:
                raise Open311Error(404, f"Unknown jurisdiction_id; this endpoint serves {JURISDICTION}.")
            response: HttpResponse = view(request, fmt, **kwargs)
            return response
        except Open311Error as exc:
            return _error(fmt, exc.code, exc.description)
        except RateLimited:
            return _error(fmt, 429, "Too many requests; slow down.")
        except DomainError as exc:
            return _error(fmt, exc.status if exc.status in (403, 404) else 400, _describe(exc))

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return csrf_exempt(require_http_methods(["GET", "HEAD", "POST"])(wrapped))


def _describe(exc: DomainError) -> str:
    fields = ", ".join(str(e["loc"][0]) for e in exc.errors if e.get("loc"))
    return f"{exc.detail}{f' ({fields})' if fields else ''}"


def _service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description or f"{category.get_kind_display()} · {category.major_name}",
        "metadata": True,
        "type": "realtime",
        "keywords": f"{category.get_kind_display()},{category.major_name},{category.name}",
        "group": f"{category.get_kind_display()} · {category.major_name}",
    }


def discovery(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri(reverse("open311:services", args=["json"])).rsplit("services", 1)[0]
    body = {
        "changeset": "2026-12-05T00:00:00+08:00",
        "contact": "榕城数字城管指挥中心 12319",
        "key_service": "API keys are issued to department systems by the city's administrators.",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base,
                "changeset": "2026-12-05T00:00:00+08:00",
                "type": "production",
                "formats": list(FORMATS.values()),
            }
        ],
    }
    return HttpResponse(json.dumps(body, ensure_ascii=False), content_type=FORMATS["json"])


def services_list(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        raise Open311Error(400, "services is read-only.")
    return _render(fmt, "services", "service", [_service(c) for c in selectors.categories_active()])


def service_definition(request: HttpRequest, fmt: str, code: str) -> HttpResponse:
    category = Category.objects.filter(code=code, active=True).first()
    if category is None:
        raise Open311Error(404, "No service with this service_code.")
    attributes = [
        {
            "variable": True,
            "code": "urgency",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "normal or urgent",
            "order": 1,
            "description": "紧急程度",
            "values": [{"key": value, "name": str(label)} for value, label in Urgency.choices],
        }
    ]
    body = {"service_code": category.code, "attributes": attributes}
    if fmt == "json":
        return HttpResponse(json.dumps(body, ensure_ascii=False), content_type=FORMATS[fmt])
    top = ET.Element("service_definition")
    _xml_fill(top, body)
    return HttpResponse(
        '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="unicode"), content_type=FORMATS[fmt]
    )


def _request_row(case: Case) -> dict[str, Any]:
    lon, lat = selectors.public_location(case)
    return {
        "service_request_id": case.number,
        "status": "closed" if case.state in DONE else "open",
        "status_notes": STATE_NOTES.get(case.state, case.state),
        "service_name": case.category.name,
        "service_code": case.category.code,
        "description": case.description,
        "agency_responsible": case.unit.name if case.unit else "",
        "service_notice": "",
        "requested_datetime": iso(case.created_at),
        "updated_datetime": iso(case.updated_at),
        "expected_datetime": iso(case.deadline),
        "address": case.place_name if case.category.sensitive else (case.address or case.place_name),
        "address_id": "",
        "zipcode": "",
        "lat": lat,
        "long": lon,
        "media_url": "",
    }


def _date(request: HttpRequest, name: str) -> dt.datetime | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be an ISO 8601 date-time (2026-12-01T00:00:00+08:00).") from exc
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


def _int(request: HttpRequest, name: str, default: int, high: int) -> int:
    value = request.GET.get(name, "")
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= high:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {high}.")
    return int(value)


def requests_endpoint(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _create(request, fmt)
    numbers = tuple(n.strip() for n in request.GET.get("service_request_id", "").split(",") if n.strip())[:100]
    status = request.GET.get("status", "")
    if status not in ("", "open", "closed"):
        raise Open311Error(400, "status must be open or closed.")
    start, end, updated_after = (
        _date(request, "start_date"),
        _date(request, "end_date"),
        _date(request, "updated_after"),
    )
    if start and end and end - start > MAX_SPAN:
        raise Open311Error(400, "start_date and end_date may be at most 90 days apart.")
    if not numbers and not start and not end and not updated_after:
        start = timezone.now() - MAX_SPAN  # the default window: the last 90 days
    filters = selectors.PublicFilter(
        numbers=numbers,
        service_code=request.GET.get("service_code", "")[:8],
        status=status,
        start=start,
        end=end,
        updated_after=updated_after,
        page=_int(request, "page", 1, MAX_WINDOW),
        page_size=_int(request, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    )
    if filters.page * filters.page_size > MAX_WINDOW:
        raise Open311Error(
            400,
            f"page × page_size may reach the {MAX_WINDOW}th request at most; "
            "narrow the period with start_date and end_date (or updated_after).",
        )
    return _render(fmt, "service_requests", "request", [_request_row(c) for c in selectors.public_cases(filters)])


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    key = services.open311_key_check(request.POST.get("api_key"))
    code = request.POST.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required.")
    lat, lon = request.POST.get("lat", "").strip(), request.POST.get("long", "").strip()
    if not lat or not lon:
        raise Open311Error(400, "lat and long are required (this city has no address_id lookup).")
    try:
        latitude, longitude = float(lat), float(lon)
    except ValueError as exc:
        raise Open311Error(400, "lat and long must be decimal degrees (WGS84).") from exc
    urgency = request.POST.get("attribute[urgency]", Urgency.NORMAL) or Urgency.NORMAL
    media = [f.read(MEDIA_MAX) for name in ("media", "media[]") for f in request.FILES.getlist(name)]
    case = services.case_report(
        channel=Channel.API,
        category_code=code,
        description=request.POST.get("description", ""),
        lon=longitude,
        lat=latitude,
        address=request.POST.get("address_string", ""),
        urgency=urgency,
        photos=media,
        system_label=f"open311:{key.name}",
    )
    row = {
        "service_request_id": case.number,
        "service_notice": "已受理，将在立案后派遣责任单位处置。",
        "account_id": "",
    }
    return _render(fmt, "service_requests", "request", [row], status=201)


def request_one(request: HttpRequest, fmt: str, number: str) -> HttpResponse:
    case = (
        Case.objects.select_related("category", "unit")
        .filter(number=number)
        .exclude(state__in=(State.REJECTED, State.MERGED))
        .first()
    )
    if case is None:
        raise Open311Error(404, "No service request with this id.")
    return _render(fmt, "service_requests", "request", [_request_row(case)])


def token(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    number = Case.objects.filter(token=token).values_list("number", flat=True).first()
    if number is None:
        raise Open311Error(404, "No request with this token.")
    return _render(fmt, "service_requests", "request", [{"service_request_id": number, "token": token}])


def request_updates(request: HttpRequest, fmt: str) -> HttpResponse:
    """The widely used `servicerequestupdates` extension: each step of public requests in a period."""
    start, end = _date(request, "start_date"), _date(request, "end_date")
    if start is None and end is None:
        start = timezone.now() - dt.timedelta(days=1)
    rows = [_update_row(e) for e in selectors.case_updates(start=start, end=end)]
    return _render(fmt, "service_request_updates", "request_update", rows)


def _update_row(event: CaseEvent) -> dict[str, Any]:
    return {
        "update_id": str(event.pk),
        "service_request_id": event.case.number,
        "status": "closed" if event.to_state in DONE else "open",
        "status_notes": STATE_NOTES.get(event.to_state, event.to_state),
        "updated_datetime": iso(event.at),
        "description": STATE_NOTES.get(event.to_state, event.to_state),
        "media_url": "",
    }


app_name = "open311"
urlpatterns: list[URLPattern] = [
    path("discovery.json", require_http_methods(["GET", "HEAD"])(discovery), name="discovery"),
    path("v2/services.<str:fmt>", _endpoint(services_list), name="services"),
    path("v2/services/<str:code>.<str:fmt>", _endpoint(service_definition), name="service"),
    path("v2/requests.<str:fmt>", _endpoint(requests_endpoint), name="requests"),
    path("v2/requests/<str:number>.<str:fmt>", _endpoint(request_one), name="request"),
    path("v2/tokens/<str:token>.<str:fmt>", _endpoint(token), name="token"),
    path("v2/servicerequestupdates.<str:fmt>", _endpoint(request_updates), name="updates"),
]
