"""What operations listens to: identity's events (security rules), every database query (metrics), every audit
record committed (metrics), and the business clocks it registers for the scrape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.db.backends.signals import connection_created
from django.db.models.signals import post_save

from rongcheng.audit.models import AuditRecord
from rongcheng.identity.events import AccountLocked, SignInFailed
from rongcheng.kernel.events import subscribe
from rongcheng.licences.events import LicenceVerificationFailed
from rongcheng.operations import metrics


def _count_queries(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    alias = context["connection"].alias
    try:
        result = execute(sql, params, many, context)
    except Exception:
        metrics.DB_ERRORS.labels(alias).inc()
        raise
    metrics.DB_QUERIES.labels(alias).inc()
    return result


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _count_queries not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_queries)


_OIDC_FAILURES = {"oidc.code.replay": "code_replay", "oidc.refresh_token.reuse": "refresh_token_reuse"}


def _on_audit_record(sender: Any, instance: AuditRecord, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    outcome, action = instance.outcome, instance.action
    detail = instance.detail or {}

    def count() -> None:
        metrics.AUDIT_RECORDS.labels(outcome).inc()
        if action == "oidc.token.issue" and outcome == "success":
            metrics.OIDC_GRANTS.labels(str(detail.get("grant_type", "unknown"))[:40]).inc()
        elif action.startswith(("oidc.token", "oidc.authorize")) and outcome != "success":
            metrics.OIDC_FAILURES.labels(str(detail.get("error", "refused"))[:40]).inc()
        elif action in _OIDC_FAILURES:
            metrics.OIDC_FAILURES.labels(_OIDC_FAILURES[action]).inc()

    transaction.on_commit(count)


def _sign_in_failed(event: SignInFailed) -> None:
    from rongcheng.operations.security import on_sign_in_failed

    on_sign_in_failed(event)


def _account_locked(event: AccountLocked) -> None:
    from rongcheng.operations.security import on_account_locked

    on_account_locked(event)


def _licence_verification_failed(event: LicenceVerificationFailed) -> None:
    from rongcheng.operations.security import on_licence_verification_failed

    on_licence_verification_failed(event)


def _hall_deadlines() -> Iterable[tuple[dict[str, str], float]]:
    from rongcheng.hall.models import Application, State
    from rongcheng.hall.selectors import city_today, working_days_add

    # The states whose deadline clock runs (hall.workflow.RUNNING; correction and suspension stop it).
    running_states = (State.ACCEPTED, State.UNDER_REVIEW, State.COUNTERSIGNING)

    today = city_today()
    near_limit = working_days_add(today, 2)
    running = Application.objects.filter(state__in=running_states, deadline__isnull=False)
    yield {"state": "overdue"}, float(running.filter(deadline__lt=today).count())
    yield {"state": "near"}, float(running.filter(deadline__gte=today, deadline__lte=near_limit).count())


def _cases_deadlines() -> Iterable[tuple[dict[str, str], float]]:
    from django.utils import timezone

    from rongcheng.cases.models import Case, State

    # The states whose handling clock runs (dispatched to a unit until verified; 缓办 and disputes stop it).
    running = Case.objects.filter(
        state__in=(State.DISPATCHED, State.HANDLING, State.REPORTED_BACK, State.VERIFIED), deadline__isnull=False
    )
    now = timezone.now()
    yield {"state": "overdue"}, float(running.filter(deadline__lt=now).count())
    soon = now + dt.timedelta(hours=24)
    yield {"state": "near"}, float(running.filter(deadline__gte=now, deadline__lte=soon).count())


def _sharing_requests_overdue() -> Iterable[tuple[dict[str, str], float]]:
    from rongcheng.catalogue.models import SharingRequest, SharingState
    from rongcheng.hall.selectors import city_today

    waiting = SharingRequest.objects.filter(state=SharingState.SUBMITTED, deadline__lt=city_today())
    yield {}, float(waiting.count())


def _ledger_imbalance() -> Iterable[tuple[dict[str, str], float]]:
    from django.db.models import Sum

    from rongcheng.card.models import LedgerAccount

    # Double entry: the balances of every account sum to zero. Anything else is money created or lost.
    yield {}, float(LedgerAccount.objects.aggregate(total=Sum("balance"))["total"] or 0)


def _sealer_lag() -> Iterable[tuple[dict[str, str], float]]:
    from rongcheng.operations.health import audit_sealer_lag

    yield {}, audit_sealer_lag()


def _security_events_open() -> Iterable[tuple[dict[str, str], float]]:
    from django.db.models import Count

    from rongcheng.operations.models import EventState, SecurityEvent

    counts = dict(
        SecurityEvent.objects.exclude(state=EventState.CLOSED).values_list("severity").annotate(n=Count("id"))
    )
    for severity in ("low", "medium", "high", "critical"):
        yield {"severity": severity}, float(counts.get(severity, 0))


def _backup_age() -> Iterable[tuple[dict[str, str], float]]:
    from rongcheng.operations.selectors import backup_latest_age_seconds

    age = backup_latest_age_seconds()
    if age is not None:
        yield {}, age


def _jobs_failed() -> Iterable[tuple[dict[str, str], float]]:
    from rongcheng.operations.models import JobRun, JobState

    yield {}, float(JobRun.objects.filter(state=JobState.FAILED).count())


def observers_install() -> None:
    connection_created.connect(_on_connection, dispatch_uid="operations.count_queries")
    post_save.connect(_on_audit_record, sender=AuditRecord, dispatch_uid="operations.audit_records")
    subscribe(SignInFailed, _sign_in_failed, name="operations.sign_in_failed")
    subscribe(AccountLocked, _account_locked, name="operations.account_locked")
    subscribe(LicenceVerificationFailed, _licence_verification_failed, name="operations.licence_verification_failed")
    metrics.clock_register(
        "rongcheng_hall_applications_deadline",
        "Running applications of the service hall past (overdue) or within two working days of (near) their deadline.",
        _hall_deadlines,
    )
    metrics.clock_register(
        "rongcheng_audit_sealer_lag_seconds",
        "Age of the oldest audit record not yet sealed into the chain.",
        _sealer_lag,
    )
    metrics.clock_register(
        "rongcheng_security_events_open", "Security events not yet closed, by severity.", _security_events_open
    )
    metrics.clock_register(
        "rongcheng_backup_age_seconds", "Age of the newest backup in the backup directory.", _backup_age
    )
    metrics.clock_register("rongcheng_jobs_failed", "Job runs that failed after every retry.", _jobs_failed)
    metrics.clock_register(
        "rongcheng_city_cases_deadline",
        "City cases being handled past (overdue) or within 24 hours of (near) their deadline.",
        _cases_deadlines,
    )
    metrics.clock_register(
        "rongcheng_sharing_requests_overdue",
        "Conditional sharing requests the providing department has not answered by their deadline.",
        _sharing_requests_overdue,
    )
    metrics.clock_register(
        "rongcheng_ledger_imbalance_fen", "Sum of all the city card ledger's balances: must be zero.", _ledger_imbalance
    )
