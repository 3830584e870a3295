"""The exchange statistics for monitoring systems and department dashboards: calls of department systems per
service × consumer, as X-Road's operational monitoring reports them. No person, no path, no body."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from rongcheng.accounts.api_auth import api_auth
from rongcheng.operations import selectors
from rongcheng.operations.permissions import VIEW_OPERATIONS

router = Router(tags=["operations"])

SCOPE = "operations:read"
MAX_HOURS = 24 * 90


class StatisticsQuery(Schema):
    hours: Annotated[int, Field(ge=1, le=MAX_HOURS, description="the period: the last this many hours")] = 24
    system: Annotated[
        str, Field(pattern=r"^[a-z]{0,20}$", max_length=20, description='one API ("registries", "licences", …)')
    ] = ""


class StatisticOut(Schema):
    system: str = Field(description='the API called ("registries", "licences", "exchange", …)')
    service: str = Field(description='the method and route template, e.g. "GET /api/v1/registries/persons/<int:id>"')
    consumer: str = Field(description="the department system's client (its account name)")
    consumer_name: str
    calls: int
    failures: int = Field(description="answers with a status of 400 or more")
    request_bytes: int
    response_bytes: int
    mean_service_ms: float = Field(description="mean time inside the service (handed over to answered)")
    mean_total_ms: float = Field(description="mean time at the platform (request in to answer out)")
    last_call_at: dt.datetime | None


class StatisticsOut(Schema):
    since: dt.datetime
    until: dt.datetime
    statistics: list[StatisticOut]


@router.get(
    "/exchange/statistics", response=StatisticsOut, summary="Exchange statistics per service and consumer",
    auth=api_auth("operations.exchange.statistics", scope=SCOPE, permission=VIEW_OPERATIONS),
)  # fmt: skip
def exchange_statistics(request: HttpRequest, query: Query[StatisticsQuery]) -> dict[str, Any]:
    until = timezone.now()
    since = until - dt.timedelta(hours=query.hours)
    rows = selectors.exchange_statistics(since=since, until=until, system=query.system)
    return {
        "since": since,
        "until": until,
        "statistics": [{**row.__dict__, "system": row.system, "consumer": row.client_id} for row in rows],
    }
