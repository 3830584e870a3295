"""Readiness checks, answered in the format of draft-inadarei-api-health-check (`application/health+json`).

Each check gives pass, warn or fail with an observed value and unit; the whole answer is the worst of them, and
only `fail` makes the probe answer 503 (a load balancer takes the instance out). A lagging sealer or a silent job
worker is a warning: the instance still serves requests correctly, an operator must look.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

Status = Literal["pass", "warn", "fail"]
_RANK: dict[Status, int] = {"pass": 0, "warn": 1, "fail": 2}
HEALTH_CONTENT_TYPE = "application/health+json"


@dataclass(frozen=True)
class Check:
    name: str  # "component:measurement", as the draft names its checks
    status: Status
    observed_value: Any = None
    observed_unit: str = ""
    component_type: str = "system"
    output: str = ""  # said only when not pass; never an internal detail a stranger could use
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self, *, verbose: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"componentType": self.component_type, "status": self.status}
        if verbose:
            if self.observed_value is not None:
                body["observedValue"] = self.observed_value
            if self.observed_unit:
                body["observedUnit"] = self.observed_unit
            body["time"] = timezone.now().isoformat()
            if self.output:
                body["output"] = self.output
        return body


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda status: _RANK[status], default="pass")


def _limits() -> dict[str, float]:
    return dict(settings.OPERATIONS_READINESS)


def _grade(value: float, warn: float, fail: float) -> Status:
    return "fail" if value >= fail else "warn" if value >= warn else "pass"


def check_database() -> Check:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return Check("database:responseTime", "fail", component_type="datastore", output="database unreachable")
    elapsed = round((time.monotonic() - started) * 1000, 1)
    return Check("database:responseTime", "pass", elapsed, "ms", "datastore")


_migrations_applied_at: list[float] = []  # once applied, rechecked every MIGRATIONS_RECHECK_SECONDS


MIGRATIONS_RECHECK_SECONDS = 300


def check_migrations() -> Check:
    now = time.monotonic()
    if _migrations_applied_at and now - _migrations_applied_at[0] < MIGRATIONS_RECHECK_SECONDS:
        return Check("database:migrations", "pass", 0, "pending", "datastore")
    try:
        executor = MigrationExecutor(connection)
        pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    except Exception:
        return Check("database:migrations", "fail", component_type="datastore", output="migrations unreadable")
    if pending:
        _migrations_applied_at.clear()
        return Check("database:migrations", "fail", pending, "pending", "datastore", output="migrations pending")
    _migrations_applied_at[:] = [now]
    return Check("database:migrations", "pass", 0, "pending", "datastore")


def check_keys() -> Check:
    """The data-at-rest keys decrypt what they encrypt, and the OpenID Connect signing keys can be read."""
    from rongcheng.kernel.crypto import data_keyring

    try:
        ring = data_keyring()
        if ring.decrypt(ring.encrypt(b"readiness")) != b"readiness":
            raise ValueError("round trip")
        keys_dir = settings.OIDC_KEYS_DIR
        if keys_dir.exists() and not os.access(keys_dir, os.R_OK | os.X_OK):
            raise PermissionError("oidc keys")
    except Exception:
        return Check("keys:readable", "fail", output="a key cannot be read")
    return Check("keys:readable", "pass", len(ring.key_ids), "data keys")


def check_sealer_lag() -> Check:
    """Seconds since the oldest audit record still waiting to be sealed into the chain was written."""
    lag = audit_sealer_lag()
    limits = _limits()
    status = _grade(lag, limits["sealer_lag_warn_seconds"], limits["sealer_lag_fail_seconds"])
    # The trail keeps every record whatever the lag: even a long lag is a warning, not a reason to stop serving.
    if status == "fail":
        status = "warn"
    return Check(
        "audit:sealerLag", status, round(lag, 1), "s", output="audit sealer behind" if status != "pass" else ""
    )


def audit_sealer_lag() -> float:
    from rongcheng.audit.models import AuditPending, AuditRecord

    oldest = (
        AuditRecord.objects.filter(pk__in=AuditPending.objects.order_by("record_id").values("record_id")[:1])
        .values_list("occurred_at", flat=True)
        .first()
    )
    return max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0


def check_worker() -> Check:
    from rongcheng.operations.models import WorkerHeartbeat

    seen = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    if seen is None:
        return Check("worker:heartbeat", "warn", component_type="component", output="no job worker has reported")
    age = max(0.0, (timezone.now() - seen).total_seconds())
    status: Status = "warn" if age >= _limits()["heartbeat_warn_seconds"] else "pass"
    return Check("worker:heartbeat", status, round(age, 1), "s", "component",
                 output="job worker silent" if status != "pass" else "")  # fmt: skip


def check_disk() -> Check:
    usage = shutil.disk_usage(settings.DATA_DIR)
    limits = _limits()
    free = usage.free
    status: Status = (
        "fail" if free < limits["disk_fail_bytes"] else "warn" if free < limits["disk_warn_bytes"] else "pass"
    )
    return Check("disk:free", status, free, "bytes", output="data directory nearly full" if status != "pass" else "")


def check_clock() -> Check:
    """The difference between this server's clock and the database's (PostgreSQL); the audit trail, tokens and TOTP
    codes all depend on clocks agreeing."""
    if connection.vendor != "postgresql":
        return Check("clock:offset", "pass", 0.0, "s")
    try:
        before = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
            row = cursor.fetchone()
        after = timezone.now()
    except Exception:
        return Check("clock:offset", "fail", output="database clock unreadable")
    database_now: dt.datetime = row[0]
    midpoint = before + (after - before) / 2
    # now() is the transaction's start: a value inside [before, after] is no offset at all.
    if before - dt.timedelta(seconds=1) <= database_now <= after:
        offset = 0.0
    else:
        offset = abs((database_now - midpoint).total_seconds())
    limits = _limits()
    status = _grade(offset, limits["clock_warn_seconds"], limits["clock_fail_seconds"])
    return Check("clock:offset", status, round(offset, 3), "s", output="clocks disagree" if status != "pass" else "")


READINESS_CHECKS: tuple[Callable[[], Check], ...] = (
    check_database,
    check_migrations,
    check_keys,
    check_sealer_lag,
    check_worker,
    check_disk,
    check_clock,
)


def readiness() -> list[Check]:
    database = check_database()
    if database.status == "fail":  # nothing else can be asked of a database that does not answer
        return [database, check_keys(), check_disk()]
    return [database, *(check() for check in READINESS_CHECKS[1:])]


def health_document(checks: list[Check], *, verbose: bool) -> dict[str, Any]:
    status = worst([check.status for check in checks])
    document: dict[str, Any] = {"status": status, "serviceId": "rongcheng", "description": "Rongcheng platform"}
    if verbose or status != "pass":
        grouped: dict[str, list[dict[str, Any]]] = {}
        for check in checks:
            grouped.setdefault(check.name, []).append(check.as_json(verbose=verbose))
        document["checks"] = grouped
    if verbose:
        from importlib.metadata import version

        document["version"] = version("rongcheng")
    return document
