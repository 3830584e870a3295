"""The operations dashboard (operators) and the security dashboard (the security administrator): server-drawn SVG
charts, no script, readable on a phone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from rongcheng.accounts.selectors import account_signed_in
from rongcheng.kernel.errors import DomainError, PermissionDenied
from rongcheng.operations import selectors, services
from rongcheng.operations.health import readiness
from rongcheng.operations.metrics import PlatformCollector
from rongcheng.operations.models import EventState
from rongcheng.operations.permissions import MANAGE_SECURITY_EVENTS, VIEW_OPERATIONS

CHART_WIDTH, CHART_HEIGHT = 600, 140
CHECK_LABELS = {
    "database:responseTime": (gettext_lazy("数据库响应"), gettext_lazy("毫秒")),
    "database:migrations": (gettext_lazy("待执行的数据库迁移"), ""),
    "keys:readable": (gettext_lazy("密钥可读"), gettext_lazy("把数据密钥")),
    "audit:sealerLag": (gettext_lazy("审计封存延迟"), gettext_lazy("秒")),
    "worker:heartbeat": (gettext_lazy("作业进程心跳"), gettext_lazy("秒前")),
    "disk:free": (gettext_lazy("数据目录剩余空间"), "GiB"),
    "clock:offset": (gettext_lazy("时钟偏差"), gettext_lazy("秒")),
}
CLOCK_LABELS = {
    "rongcheng_hall_applications_deadline": gettext_lazy("临近或超过期限的在办办件"),
    "rongcheng_audit_sealer_lag_seconds": gettext_lazy("审计封存延迟（秒）"),
    "rongcheng_security_events_open": gettext_lazy("未关闭的安全事件"),
    "rongcheng_backup_age_seconds": gettext_lazy("最近备份距今（秒）"),
    "rongcheng_jobs_failed": gettext_lazy("重试后仍失败的作业"),
    "rongcheng_city_cases_deadline": gettext_lazy("临近或超过处置时限的城市管理案件"),
    "rongcheng_sharing_requests_overdue": gettext_lazy("超过答复期限的数据共享申请"),
    "rongcheng_ledger_imbalance_fen": gettext_lazy("市民卡账务余额合计（分，应为零）"),
    "rongcheng_scrape_errors": gettext_lazy("读取失败的时钟"),
    "rongcheng_scrape_duration_seconds": gettext_lazy("计算耗时（秒）"),
}
LABEL_VALUES = {
    "near": gettext_lazy("临近期限"), "overdue": gettext_lazy("已超期"), "low": gettext_lazy("低"),
    "medium": gettext_lazy("中"), "high": gettext_lazy("高"), "critical": gettext_lazy("严重"),
}  # fmt: skip


@dataclass(frozen=True)
class CheckRow:
    label: str
    status: str
    value: str


def _check_rows() -> list[CheckRow]:
    rows = []
    for check in readiness():
        label, unit = CHECK_LABELS.get(check.name, (check.name, check.observed_unit))
        value = check.observed_value
        if check.name == "disk:free" and value is not None:
            value = round(value / 2**30, 1)
        rows.append(CheckRow(str(label), check.status, "" if value is None else f"{value} {unit}"))
    return rows


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    points: str  # the SVG polyline's points
    latest: float
    peak: float
    empty: bool


def _chart(title: str, unit: str, values: list[float]) -> Chart:
    if not values:
        return Chart(title, unit, "", 0.0, 0.0, True)
    peak = max(values) or 1.0
    step = CHART_WIDTH / max(len(values) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{CHART_HEIGHT - value / peak * (CHART_HEIGHT - 10):.1f}"
        for index, value in enumerate(values)
    )
    return Chart(title, unit, points, round(values[-1], 2), round(max(values), 2), False)


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied("This page is for the platform's operators.")


# Clocks whose non-zero value needs someone now: work past its deadline, money that does not balance, a clock that
# could not be read.
ALARMING = {"rongcheng_ledger_imbalance_fen", "rongcheng_scrape_errors", "rongcheng_jobs_failed",
            "rongcheng_sharing_requests_overdue"}  # fmt: skip


def _clocks() -> list[tuple[str, str, float, bool]]:
    rows = []
    for family in PlatformCollector().collect():
        for sample in family.samples:
            labels = _("、").join(str(LABEL_VALUES.get(v, v)) for _k, v in sorted(sample.labels.items()))
            alarm = bool(sample.value) and (
                sample.name in ALARMING or sample.labels.get("state") == "overdue"
                or sample.labels.get("severity") in ("high", "critical")
            )  # fmt: skip
            rows.append((str(CLOCK_LABELS.get(sample.name, sample.name)), labels, sample.value, alarm))
    return rows


def _key_expiry() -> list[dict[str, Any]]:
    from rongcheng.licences.models import DepartmentKey

    now = timezone.now()
    return [
        {
            "kind": _("%(department)s证照签名密钥") % {"department": key.department},
            "key_id": key.key_id,
            "not_after": key.not_after,
            "days": (key.not_after - now).days,
        }
        for key in DepartmentKey.objects.filter(retired_at__isnull=True)
        .select_related("department")
        .order_by("not_after")[:20]
    ]


def _audit_chain() -> dict[str, Any]:
    from rongcheng.audit.selectors import chain_head
    from rongcheng.operations.health import audit_sealer_lag
    from rongcheng.operations.models import JobRun

    last_verify = JobRun.objects.filter(job="audit.verify").order_by("-started_at").first()
    return {"head": chain_head().sequence, "lag": round(audit_sealer_lag(), 1), "last_verify": last_verify}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_OPERATIONS)
    rates = selectors.request_rates(hours=6)
    backup_age = selectors.backup_latest_age_seconds()
    return render(request, "operations/dashboard.html", {
        "charts": [
            _chart(_("请求速率"), _("次/分钟"), [p.requests_per_minute for p in rates]),
            _chart(_("错误速率（5xx）"), _("次/分钟"), [p.errors_per_minute for p in rates]),
            _chart(_("平均耗时"), _("毫秒"), [p.mean_latency_ms for p in rates]),
        ],
        "chart_width": CHART_WIDTH, "chart_height": CHART_HEIGHT,
        "checks": _check_rows(),
        "clocks": _clocks(),
        "backup_age_hours": None if backup_age is None else round(backup_age / 3600, 1),
        "keys": _key_expiry(),
        "audit": _audit_chain(),
        "jobs": selectors.jobs_recent(limit=15),
        "worker_seen": selectors.worker_last_seen(),
        "exchange": selectors.exchange_statistics(since=timezone.now() - dt.timedelta(days=1)),
    })  # fmt: skip


EXCHANGE_PERIODS = {"1": 24, "7": 24 * 7, "30": 24 * 30}


@login_required
def exchange(request: HttpRequest) -> HttpResponse:
    """Calls of department systems per service × consumer over a chosen period, with totals per API."""
    _require(request, VIEW_OPERATIONS)
    days = request.GET.get("days", "1")
    if days not in EXCHANGE_PERIODS:
        days = "1"
    system = request.GET.get("system", "")
    if system not in selectors.SYSTEM_LABELS:
        system = ""
    rows = selectors.exchange_statistics(
        since=timezone.now() - dt.timedelta(hours=EXCHANGE_PERIODS[days]), system=system
    )
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        total = totals.setdefault(
            row.system, {"label": row.system_label, "calls": 0, "failures": 0, "consumers": set()}
        )
        total["calls"] += row.calls
        total["failures"] += row.failures
        total["consumers"].add(row.client_id)
    return render(request, "operations/exchange.html", {
        "rows": rows, "days": days, "system": system,
        "periods": [("1", _("24 小时")), ("7", _("7 天")), ("30", _("30 天"))],
        "systems": [(code, str(label)) for code, label in selectors.SYSTEM_LABELS.items()],
        "totals": [{**t, "consumers": len(t["consumers"])} for t in totals.values()],
    })  # fmt: skip


def security(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    _require(request, MANAGE_SECURITY_EVENTS)
    state = request.GET.get("state", "active")
    if state not in ("active", *EventState.values):
        state = "active"
    events = selectors.security_events(state=state)
    names = selectors.account_names_for_events(events)
    for event in events:
        event.subject_shown = event.subject_label_named(names)  # type: ignore[attr-defined]
        event.evidence_shown = event.evidence_items_named(names)  # type: ignore[attr-defined]
    return render(request, "operations/security.html", {
        "events": events, "state": state,
        "states": [("active", _("未关闭")), *EventState.choices],
    })  # fmt: skip


@require_POST
@login_required
def security_event_act(request: HttpRequest, event_id: int, action: str) -> HttpResponse:
    try:
        if action == "acknowledge":
            services.security_event_acknowledge(user=account_signed_in(request.user), event_id=event_id)
        else:
            services.security_event_close(user=account_signed_in(request.user), event_id=event_id,
                                          resolution=str(request.POST.get("resolution", "")))  # fmt: skip
    except PermissionDenied:
        raise
    except DomainError as exc:
        from django.contrib import messages

        messages.error(request, exc.detail)
    return HttpResponseRedirect(reverse("operations:security"))


app_urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("exchange/", exchange, name="exchange"),
    path("security/", security, name="security"),
    path("security/<int:event_id>/acknowledge/", security_event_act, {"action": "acknowledge"}, name="acknowledge"),
    path("security/<int:event_id>/close/", security_event_act, {"action": "close"}, name="close"),
]
