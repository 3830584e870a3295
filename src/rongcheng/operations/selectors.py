"""Reads of operations: exchange statistics, the dashboards' figures, backups, jobs and security events."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rongcheng.accounts.models import AccountKind, User
from rongcheng.operations.models import EventState, ExchangeRecord, JobRun, MetricSample, SecurityEvent, WorkerHeartbeat

BACKUP_SUFFIX = ".rcbackup"


# The platform's APIs by the first segment after /api/v1/, named for people.
SYSTEM_LABELS = {
    "registries": _("基础数据库"), "licences": _("电子证照"), "exchange": _("数据共享交换"), "hall": _("网上办事大厅"),
    "card": _("市民卡"), "credit": _("公共信用"), "cases": _("城市管理"), "spatial": _("时空信息"),
    "staff": _("工作人员"), "oidc": _("统一身份认证"), "operations": _("运维监控"), "divisions": _("行政区划"),
}  # fmt: skip


def exchange_system_of(service: str) -> str:
    """The API ("registries") of a recorded service ("GET /api/v1/registries/persons/<int:id>")."""
    path = service.partition(" ")[2]
    parts = path.removeprefix("/api/v1/").split("/", 1)
    return parts[0] if path.startswith("/api/v1/") and parts[0] else ""


@dataclass(frozen=True)
class ExchangeStatistic:
    service: str
    client_id: str
    calls: int
    failures: int
    request_bytes: int
    response_bytes: int
    mean_service_ms: float
    mean_total_ms: float
    last_call_at: dt.datetime | None
    consumer_name: str = ""

    @property
    def system(self) -> str:
        return exchange_system_of(self.service)

    @property
    def system_label(self) -> str:
        return str(SYSTEM_LABELS.get(self.system, self.system))

    @property
    def failure_rate(self) -> float:
        return round(self.failures / self.calls * 100, 1) if self.calls else 0.0


def exchange_statistics(
    *, since: dt.datetime | None = None, until: dt.datetime | None = None, system: str = ""
) -> list[ExchangeStatistic]:
    """Calls of department systems per service × consumer since `since` (default: the last 24 hours), until `until`
    (default: now), of one API (`system`, e.g. "registries") or all. Consumers are named by their account's
    display name (a department system, never a person)."""
    since = since or timezone.now() - dt.timedelta(days=1)
    records = ExchangeRecord.objects.filter(request_in_at__gte=since)
    if until is not None:
        records = records.filter(request_in_at__lt=until)
    if system:
        records = records.filter(service__contains=f" /api/v1/{system}/")
    rows = list(
        records.values("service", "client_id")
        .annotate(
            calls=Count("id"),
            failures=Count("id", filter=Q(succeeded=False)),
            request_bytes_sum=Sum("request_bytes"),
            response_bytes_sum=Sum("response_bytes"),
            service_time=Avg(F("response_in_at") - F("request_out_at")),
            total_time=Avg(F("response_out_at") - F("request_in_at")),
            last=Max("request_in_at"),
        )
        .order_by("service", "client_id")
    )
    names = _consumer_names({row["client_id"] for row in rows})
    return [
        ExchangeStatistic(
            service=row["service"],
            client_id=row["client_id"],
            calls=row["calls"],
            failures=row["failures"],
            request_bytes=row["request_bytes_sum"] or 0,
            response_bytes=row["response_bytes_sum"] or 0,
            mean_service_ms=_ms(row["service_time"]),
            mean_total_ms=_ms(row["total_time"]),
            last_call_at=row["last"],
            consumer_name=names.get(row["client_id"], ""),
        )
        for row in rows
    ]


def _consumer_names(usernames: set[str]) -> dict[str, str]:
    return {
        username: display or username
        for username, display in User.objects.filter(username__in=usernames, kind=AccountKind.API_CLIENT).values_list(
            "username", "display_name"
        )
    }


def _ms(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, dt.timedelta):
        return round(value.total_seconds() * 1000, 1)
    return round(float(value) / 1000, 1)  # SQLite answers microseconds


# --- backups ----------------------------------------------------------------------------------------------------------


def backups_list() -> list[Path]:
    directory = Path(settings.OPERATIONS_BACKUP_DIR)
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"*{BACKUP_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)


def backup_latest_age_seconds() -> float | None:
    backups = backups_list()
    if not backups:
        return None
    return max(0.0, timezone.now().timestamp() - backups[0].stat().st_mtime)


# --- dashboards -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatePoint:
    at: dt.datetime
    requests_per_minute: float
    errors_per_minute: float
    mean_latency_ms: float


def request_rates(*, hours: int = 6) -> list[RatePoint]:
    """Per-minute rates between consecutive samples of the last `hours` (a restart of the server, where a counter
    falls, starts afresh rather than showing a negative rate)."""
    samples = list(MetricSample.objects.filter(taken_at__gte=timezone.now() - dt.timedelta(hours=hours))
                   .order_by("taken_at"))  # fmt: skip
    points = []
    for before, after in itertools.pairwise(samples):
        minutes = max((after.taken_at - before.taken_at).total_seconds() / 60, 1e-9)
        requests = after.requests - before.requests
        errors = after.errors - before.errors
        latency = after.latency_sum - before.latency_sum
        if requests < 0 or errors < 0:
            requests, errors, latency = after.requests, after.errors, after.latency_sum
        points.append(RatePoint(after.taken_at, requests / minutes, errors / minutes,
                                latency / requests * 1000 if requests else 0.0))  # fmt: skip
    return points


def jobs_recent(*, limit: int = 20) -> list[JobRun]:
    return list(JobRun.objects.order_by("-started_at")[:limit])


def worker_last_seen() -> dt.datetime | None:
    return WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()


def security_events(*, state: str | None = None, limit: int = 100) -> list[SecurityEvent]:
    qs = SecurityEvent.objects.order_by("-occurred_at")
    if state == "active":
        qs = qs.exclude(state=EventState.CLOSED)
    elif state:
        qs = qs.filter(state=state)
    return list(qs[:limit])


def account_names_for_events(events: list[SecurityEvent]) -> dict[str, str]:
    """User names of the accounts the events are about or name as actors (staff and system accounts: the
    administrators' own; residents' user names are chosen by them and no more personal than the event's subject)."""
    ids = {e.subject_id for e in events if e.subject_type == "accounts.user"}
    ids |= {
        str(e.evidence.get("by_account")) for e in events if isinstance(e.evidence, dict) and "by_account" in e.evidence
    }
    numbers = [int(i) for i in ids if i.isdigit()]
    return {str(pk): name for pk, name in User.objects.filter(pk__in=numbers).values_list("pk", "username")}


def security_event_get(event_id: int) -> SecurityEvent | None:
    return SecurityEvent.objects.filter(pk=event_id).first()
