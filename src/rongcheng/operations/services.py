"""Writes of operations: the exchange log, the worker's heartbeat, the metrics token, and security events (raised by
the rules, acknowledged and closed by the security administrator).

Security events never carry personal data: subjects are account ids, client ids, rule objects or address ranges,
evidence is counts and identifiers; the notifications (mail, webhook) carry less still: the rule, the severity, the
count and where to look, not the subject."""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from rongcheng.accounts.models import User
from rongcheng.audit.services import actor_from_user, audit_record
from rongcheng.kernel.crypto import sm3_digest
from rongcheng.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from rongcheng.operations import metrics
from rongcheng.operations.models import (
    EventState,
    ExchangeRecord,
    SecurityEvent,
    Severity,
    WorkerHeartbeat,
)
from rongcheng.operations.permissions import MANAGE_SECURITY_EVENTS

logger = logging.getLogger(__name__)

METRICS_TOKEN_FILE = "metrics-token.sm3"  # noqa: S105 - a file name


# --- exchange log -----------------------------------------------------------------------------------------------------


def exchange_record(
    *,
    client: str,
    service: str,
    purpose: str,
    request_id: str,
    request_in_at: dt.datetime,
    request_out_at: dt.datetime,
    response_in_at: dt.datetime,
    response_out_at: dt.datetime,
    request_bytes: int,
    response_bytes: int,
    status: int,
) -> bool:
    """One call of a department system; whether it was written. Never raises: a lost statistic must not fail the
    call it describes. On PostgreSQL, outside a transaction, one statement that commits without waiting for the WAL
    flush (as the rate-limit counters do): a record lost in a database crash loses a statistic, while waiting for
    the disk cost each call a second flush after that of its audit record."""
    values: list[Any] = [
        client[:100], service[:200], purpose[:100], request_id[:64], request_in_at, request_out_at, response_in_at,
        response_out_at, max(0, request_bytes), max(0, response_bytes), status, status < 400,
    ]  # fmt: skip
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute(_EXCHANGE_RECORD_SQL, values)
        else:
            ExchangeRecord.objects.create(**dict(zip(_EXCHANGE_RECORD_FIELDS, values, strict=True)))
    except Exception:
        logger.exception("exchange record not written")
        return False
    return True


_EXCHANGE_RECORD_FIELDS = (
    "client_id", "service", "purpose", "request_id", "request_in_at", "request_out_at", "response_in_at",
    "response_out_at", "request_bytes", "response_bytes", "status", "succeeded",
)  # fmt: skip
# `set_config(..., true)` holds for the statement's own transaction (autocommit), whose commit reads it.
_EXCHANGE_RECORD_SQL = (
    f"INSERT INTO {ExchangeRecord._meta.db_table} ({', '.join(_EXCHANGE_RECORD_FIELDS)}) "  # noqa: S608 - the model's table and fields
    f"SELECT {', '.join(['%s'] * len(_EXCHANGE_RECORD_FIELDS))} "
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS a"
)


# --- worker heartbeat and metrics token -------------------------------------------------------------------------------


def worker_heartbeat(name: str = "jobs") -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        name=name, defaults={"host": socket.gethostname()[:255], "pid": os.getpid(), "seen_at": timezone.now()}
    )
    return heartbeat


def metrics_token_issue(data_dir: Path | None = None) -> str:
    """A new bearer token for the scrapers: only its SM3 digest is kept (DATA_DIR/metrics-token.sm3); the token is
    returned once. Issuing again replaces the previous token."""
    token = secrets.token_urlsafe(32)
    path = Path(data_dir or settings.DATA_DIR) / METRICS_TOKEN_FILE
    partial = path.with_suffix(".partial")
    partial.write_text(sm3_digest(token.encode()).hex() + "\n", encoding="ascii")
    partial.chmod(0o600)
    partial.replace(path)
    return token


# --- security events --------------------------------------------------------------------------------------------------


def rule_setting(rule: str, key: str) -> int:
    return int(settings.OPERATIONS_SECURITY_RULES[rule][key])


def security_event_raise(
    *,
    rule: str,
    severity: Severity | str,
    subject_type: str,
    subject_id: str,
    evidence: dict[str, Any],
    window_seconds: int,
    now: dt.datetime | None = None,
) -> tuple[SecurityEvent, bool]:
    """Raise an event, or count one more occurrence of the event of the same rule and subject in the same window.
    Returns (event, created). A new event is announced (mail, webhook) by a background job after the commit."""
    now = now or timezone.now()
    window = int(now.timestamp()) // max(1, window_seconds)
    dedup_key = f"{rule}:{subject_type}:{subject_id}:{window}"[:255]
    created = False
    try:
        with transaction.atomic():
            event = SecurityEvent.objects.create(
                rule=rule, severity=str(severity), subject_type=subject_type, subject_id=str(subject_id)[:128],
                evidence=evidence, dedup_key=dedup_key, occurred_at=now, last_seen_at=now,
            )  # fmt: skip
            created = True
    except IntegrityError:
        SecurityEvent.objects.filter(dedup_key=dedup_key).update(
            occurrences=F("occurrences") + 1, last_seen_at=now, evidence=evidence
        )
        event = SecurityEvent.objects.get(dedup_key=dedup_key)
    if created:
        metrics.SECURITY_EVENTS.labels(rule, str(severity)).inc()
        from rongcheng.operations.jobs import job_enqueue

        event_id = event.pk
        transaction.on_commit(
            lambda: job_enqueue("security.notify", key=f"security.notify:{event_id}", event_id=event_id)
        )
    return event, created


def _require(user: User) -> None:
    if user is None or not user.is_authenticated or not user.has_perm(MANAGE_SECURITY_EVENTS):
        audit_record(action="operations.security_event.refused", actor=actor_from_user(user), outcome="denied",
                     target_type="operations.securityevent")  # fmt: skip
        raise PermissionDenied("Only the security administrator handles security events.")


def security_event_acknowledge(*, user: User, event_id: int) -> SecurityEvent:
    _require(user)
    with transaction.atomic():
        event = SecurityEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            raise NotFound(f"There is no security event {event_id}.")
        if event.state != EventState.OPEN:
            raise ValidationFailed("Only an open event can be acknowledged.",
                                   errors=[{"loc": ["state"], "rule": "state.open", "msg": event.state}])  # fmt: skip
        event.state = EventState.ACKNOWLEDGED
        event.acknowledged_by = user
        event.acknowledged_at = timezone.now()
        event.save(update_fields=["state", "acknowledged_by", "acknowledged_at"])
        audit_record(
            action="operations.security_event.acknowledge", actor=actor_from_user(user),
            target_type="operations.securityevent", target_id=event.pk, detail={"rule": event.rule},
        )  # fmt: skip
    return event


def security_event_close(*, user: User, event_id: int, resolution: str) -> SecurityEvent:
    _require(user)
    resolution = resolution.strip()
    if not resolution:
        raise ValidationFailed("Say how the event was resolved.",
                               errors=[{"loc": ["resolution"], "rule": "required", "msg": "required"}])  # fmt: skip
    with transaction.atomic():
        event = SecurityEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            raise NotFound(f"There is no security event {event_id}.")
        if event.state == EventState.CLOSED:
            raise ValidationFailed("The event is closed already.",
                                   errors=[{"loc": ["state"], "rule": "state.closed", "msg": event.state}])  # fmt: skip
        now = timezone.now()
        if event.acknowledged_at is None:
            event.acknowledged_by, event.acknowledged_at = user, now
        event.state = EventState.CLOSED
        event.closed_by = user
        event.closed_at = now
        event.resolution = resolution[:500]
        event.save(
            update_fields=["state", "acknowledged_by", "acknowledged_at", "closed_by", "closed_at", "resolution"]
        )
        audit_record(
            action="operations.security_event.close", actor=actor_from_user(user),
            target_type="operations.securityevent", target_id=event.pk, detail={"rule": event.rule},
        )  # fmt: skip
    return event
