"""The exchange API under /api/v1/exchange: department systems (OAuth 2.0 client credentials, scope
`catalogue:exchange`) read exactly what their department's grants allow, rows and fields, each call stating its
purpose and recorded (an `ExchangeUse` and an audit record) for the provider to see.

A grant expired or revoked, a resource without a grant, or a field the grant does not name: 403, a problem document.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import NinjaJSONEncoder

from rongcheng.accounts.api_auth import api_auth
from rongcheng.catalogue import selectors, services
from rongcheng.catalogue.permissions import REQUEST_SHARING
from rongcheng.hall.selectors import city_today
from rongcheng.kernel.errors import PermissionDenied

router = Router(tags=["exchange"])
SCOPE = "catalogue:exchange"
EXCHANGE_READ = api_auth("catalogue.exchange.read", scope=SCOPE, permission=REQUEST_SHARING)
MAX_LIMIT = 1000
FILE_LIMIT = 100_000
MAX_OFFSET = 100_000_000  # far beyond any resource, well inside PostgreSQL's integers


class GrantOut(Schema):
    request_number: str
    resource_code: str
    resource_name: str
    provider: str = Field(description="the providing department's code")
    items: list[str] = Field(description="the data items (fields) the grant names")
    clear_items: list[str] = Field(
        description="the personal data items granted in clear; the other personal items are masked"
    )
    expires_on: dt.date
    in_force: bool
    update_cycle_days: int = Field(description="更新周期 in days; 0 for irregular")
    next_update_due: dt.date | None = Field(description="when the provider's next update of the data is due")
    update_overdue: bool = Field(description="the provider's update is late (past next_update_due)")


class CatalogueEntry(Schema):
    code: str
    name: str
    provider: str = Field(description="the providing department's code")
    category: str = Field(description="base, thematic or departmental")
    sharing_type: str = Field(description="unconditional, conditional or not_shared")
    sharing_condition: str
    open_type: str
    items: list[str] = Field(description="the data items (fields)")
    personal_items: list[str] = Field(description="the data items that are personal data (masked unless granted)")
    update_cycle_days: int = Field(description="更新周期 in days; 0 for irregular")
    next_update_due: dt.date | None = Field(description="when the next update is due; platform data rolls over")
    update_overdue: bool = Field(description="the update is late (past next_update_due)")
    days_overdue: int


class CatalogueQuery(Schema):
    overdue: bool = Field(False, description="only the resources whose update is overdue")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


class CataloguePage(Schema):
    count: int = Field(description="resources matching (all of them, or the overdue ones)")
    overdue: int = Field(description="resources of the whole catalogue whose update is overdue")
    resources: list[CatalogueEntry]
    offset: int
    limit: int
    next_offset: int | None


class RowsQuery(Schema):
    purpose: str = Field(min_length=1, max_length=200, description="why the rows are read (recorded)")
    fields: str = Field("", max_length=2000, description="comma-separated data items; all granted items when empty")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


class FileQuery(Schema):
    purpose: str = Field(min_length=1, max_length=200, description="why the rows are read (recorded)")
    fields: str = Field("", max_length=2000, description="comma-separated data items; all granted items when empty")


class RowsPage(Schema):
    resource_code: str
    fields: list[str]
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    next_offset: int | None


def _consumer(request: HttpRequest) -> Any:
    user = request.auth  # type: ignore[attr-defined]
    if user.department_id is None:
        raise PermissionDenied("This client belongs to no department, so it holds no grants.")
    return user


@router.get("/grants", response=list[GrantOut], auth=EXCHANGE_READ, summary="The grants of the caller's department")
def grants(request: HttpRequest) -> list[dict[str, Any]]:
    user = _consumer(request)
    today = city_today()
    lines = []
    for g in selectors.grants_of(user.department).order_by("resource__code"):
        update = selectors.update_status(g.resource, today)
        lines.append({
            "request_number": g.request.number, "resource_code": g.resource.code, "resource_name": g.resource.name,
            "provider": g.resource.provider.code, "items": g.items, "clear_items": g.clear_items,
            "expires_on": g.expires_on, "in_force": g.revoked_at is None and g.expires_on >= today,
            "update_cycle_days": g.resource.update_cycle, "next_update_due": update.next_due,
            "update_overdue": update.overdue,
        })  # fmt: skip
    return lines


@router.get(
    "/catalogue", response=CataloguePage, auth=EXCHANGE_READ,
    summary="The catalogue's resources (metadata, never rows) with their update status; overdue ones counted",
)  # fmt: skip
def catalogue(request: HttpRequest, query: Query[CatalogueQuery]) -> dict[str, Any]:
    _consumer(request)
    today = city_today()
    qs = selectors.data_resources_search(overdue_on=today if query.overdue else None)
    page = list(qs[query.offset : query.offset + query.limit + 1])
    entries = []
    for r in page[: query.limit]:
        update = selectors.update_status(r, today)
        entries.append({
            "code": r.code, "name": r.name, "provider": r.provider.code, "category": r.category,
            "sharing_type": r.sharing_type, "sharing_condition": r.sharing_condition, "open_type": r.open_type,
            "items": r.item_names, "personal_items": r.personal_items, "update_cycle_days": r.update_cycle,
            "next_update_due": update.next_due, "update_overdue": update.overdue, "days_overdue": update.days_overdue,
        })  # fmt: skip
    return {
        "count": qs.count(), "overdue": selectors.data_resources_search(overdue_on=today).count(),
        "resources": entries, "offset": query.offset, "limit": query.limit,
        "next_offset": query.offset + query.limit if len(page) > query.limit else None,
    }  # fmt: skip


def _fields(text: str) -> list[str] | None:
    names = [name.strip() for name in text.split(",") if name.strip()]
    return names or None


@router.get(
    "/resources/{classification}/{sequence}/rows", response=RowsPage, auth=EXCHANGE_READ,
    summary="Rows of a shared resource, as the department's grant allows",
)  # fmt: skip
def rows(request: HttpRequest, classification: str, sequence: str, query: Query[RowsQuery]) -> HttpResponse:
    user = _consumer(request)
    page = services.exchange_read(
        resource_code=f"{classification}/{sequence}", fields=_fields(query.fields), purpose=query.purpose,
        offset=query.offset, limit=query.limit, user=user, as_json=True,
    )  # fmt: skip
    # A `RowsPage` written directly, its fields in its order, encoded as the API's renderer encodes them: ninja's
    # validation of a page of a thousand rows, each a dict checked value by value, and its second copy of them cost
    # more than reading them. Uploaded rows on PostgreSQL come as the JSON array the database built (projected and
    # masked there), put into the page as they are: never decoded nor encoded again here.
    rows_json = page.rows_json if page.rows_json is not None else json.dumps(page.rows, cls=NinjaJSONEncoder,
                                                                              ensure_ascii=False)  # fmt: skip
    head = json.dumps({"resource_code": page.resource.code, "fields": page.fields}, ensure_ascii=False)
    tail = json.dumps({"offset": page.offset, "limit": page.limit,
                       "next_offset": page.offset + page.limit if page.more else None})  # fmt: skip
    body = f'{head[:-1]}, "rows": {rows_json or "[]"}, {tail[1:]}'
    return HttpResponse(body, content_type="application/json; charset=utf-8")


@router.get(
    "/resources/{classification}/{sequence}/file", response={200: None}, auth=EXCHANGE_READ,
    summary="The granted rows and fields of a shared resource as one CSV file (bulk)",
    openapi_extra={"responses": {200: {"description": "CSV", "content": {"text/csv": {}}}}},
)  # fmt: skip
def bulk_file(request: HttpRequest, classification: str, sequence: str, query: Query[FileQuery]) -> HttpResponse:
    user = _consumer(request)
    page = services.exchange_read(
        resource_code=f"{classification}/{sequence}", fields=_fields(query.fields), purpose=query.purpose,
        offset=0, limit=FILE_LIMIT, user=user, kind="file",
    )  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(page.fields)
    for row in page.rows:
        writer.writerow(["" if row.get(name) is None else row.get(name) for name in page.fields])
    response = HttpResponse(buffer.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{classification}-{sequence}.csv"'
    return response
