"""Writes of operations: the exchange log, the worker's heartbeat, the metrics token, and security events (raised by
the rules, acknowledged and closed by the security administrator).

Security events never carry personal data: subjects are account ids, client ids, rule objects or address ranges,
evidence is counts and identifiers; the notifications (mail, webhook) carry less still: the rule, the severity, the
count and where to look, not the subject."""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import multiprocessing.util
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
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
    """One call of a department system, written now; whether it was written. Never raises: a lost statistic must not
    fail the call it describes. On PostgreSQL, outside a transaction, one statement that commits without waiting for
    the WAL flush (as the rate-limit counters do): a record lost in a database crash loses a statistic, while waiting
    for the disk cost each call a second flush after that of its audit record."""
    values = _exchange_values(
        client=client, service=service, purpose=purpose, request_id=request_id, request_in_at=request_in_at,
        request_out_at=request_out_at, response_in_at=response_in_at, response_out_at=response_out_at,
        request_bytes=request_bytes, response_bytes=response_bytes, status=status,
    )  # fmt: skip
    return _exchange_rows_write([values]) == 1


def exchange_record_later(**record: Any) -> None:
    """One call of a department system (exchange_record's arguments), written by this process's exchange-log writer
    with the calls around it (settings.EXCHANGE_LOG_WRITE == "background", PostgreSQL), else at once. Never raises,
    never waits for the database unless the writer is a whole queue behind (then it writes this row itself)."""
    if settings.EXCHANGE_LOG_WRITE != "background" or connection.vendor != "postgresql" or connection.in_atomic_block:
        exchange_record(**record)
        return
    _exchange_writer.add(_exchange_values(**record))


def exchange_log_flush() -> int:
    """Write what this process's exchange-log writer holds, now; how many rows were written."""
    return _exchange_writer.flush()


def exchange_log_stop() -> None:
    """Write what the writer holds, end its thread and close its connection (tests: no thread outlives its test, no
    connection keeps the test database from being dropped). The next row starts it again."""
    _exchange_writer.stop()


def _exchange_values(
    *, client: str, service: str, purpose: str, request_id: str, request_in_at: dt.datetime,
    request_out_at: dt.datetime, response_in_at: dt.datetime, response_out_at: dt.datetime, request_bytes: int,
    response_bytes: int, status: int,
) -> list[Any]:  # fmt: skip
    return [
        client[:100], service[:200], purpose[:100], request_id[:64], request_in_at, request_out_at, response_in_at,
        response_out_at, max(0, request_bytes), max(0, response_bytes), status, status < 400,
    ]  # fmt: skip


def _exchange_rows_write(rows: list[list[Any]]) -> int:
    """Append `rows` (values in _EXCHANGE_RECORD_FIELDS' order); how many were written. Never raises. On PostgreSQL,
    outside a transaction, one statement (EXCHANGE_BATCH rows at most) committed without waiting for the WAL flush."""
    written = 0
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                for start in range(0, len(rows), EXCHANGE_BATCH):
                    batch = rows[start : start + EXCHANGE_BATCH]
                    cursor.execute(_exchange_insert_sql(len(batch)), [value for row in batch for value in row])
                    written += len(batch)
        else:  # one INSERT a row (bulk_create would add a savepoint around them)
            for row in rows:
                ExchangeRecord.objects.create(**dict(zip(_EXCHANGE_RECORD_FIELDS, row, strict=True)))
                written += 1
    except Exception:
        logger.exception("%d exchange records not written", len(rows) - written)
    return written


_EXCHANGE_RECORD_FIELDS = (
    "client_id", "service", "purpose", "request_id", "request_in_at", "request_out_at", "response_in_at",
    "response_out_at", "request_bytes", "response_bytes", "status", "succeeded",
)  # fmt: skip
EXCHANGE_BATCH = 500  # rows appended by one statement at most
_EXCHANGE_ROW = "(" + ", ".join(["%s"] * len(_EXCHANGE_RECORD_FIELDS)) + ")"
_exchange_sql: dict[int, str] = {}


def _exchange_insert_sql(rows: int) -> str:
    """INSERT of `rows` rows, one statement that is its own transaction (autocommit), committed without waiting for
    the WAL flush: `set_config(..., true)` holds for that transaction, whose commit reads it."""
    sql = _exchange_sql.get(rows)
    if sql is None:
        columns = ", ".join(_EXCHANGE_RECORD_FIELDS)
        sql = (
            f"INSERT INTO {ExchangeRecord._meta.db_table} ({columns}) "  # noqa: S608 - the model's table and fields
            f"SELECT v.* FROM (VALUES {', '.join([_EXCHANGE_ROW] * rows)}) AS v ({columns}), "
            "(SELECT set_config('synchronous_commit', 'off', true)) AS a"
        )
        if len(_exchange_sql) < 64:
            _exchange_sql[rows] = sql
    return sql


EXCHANGE_GATHER_SECONDS = 0.05  # the writer waits this long after a row so the calls meanwhile share its statement
EXCHANGE_QUEUE_LIMIT = 20_000  # rows held at most; beyond, a call writes its own row (the writer is behind)
EXCHANGE_IDLE_CLOSE_SECONDS = 60.0  # an idle writer closes its database connection


class _ExchangeLogWriter:
    """One daemon thread per process (started on first use, and again in a forked child), asleep while idle.

    A call's row is appended to a list under a lock (a request pays that and setting an event); the thread waits
    EXCHANGE_GATHER_SECONDS, then appends everything held by one statement on its own connection. What it holds is
    written when the process exits normally: at interpreter exit (atexit) and at a multiprocessing child's end
    (granian's workers; multiprocessing does not run atexit there). A process killed outright (SIGKILL, out of
    memory) loses the rows it held: at most the calls of the last EXCHANGE_GATHER_SECONDS and of the statement in
    flight (ADR 0017)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()  # the list and the thread
        self._writing = threading.Lock()  # one writer at a time: the thread, or a flush
        self._rows: list[list[Any]] = []
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, row: list[Any]) -> None:
        with self._guard:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._start()
            behind = len(self._rows) >= EXCHANGE_QUEUE_LIMIT
            if not behind:
                self._rows.append(row)
        if behind:
            _exchange_rows_write([row])
        else:
            self._wakeup.set()

    def _start(self) -> None:
        if self._pid != os.getpid():
            self._rows = []  # a forked child's copy of its parent's rows: the parent writes them
            self._writing = threading.Lock()  # a lock held by a thread of the parent is never released here
            atexit.register(self.flush)
            multiprocessing.util.Finalize(None, self.flush, exitpriority=10)
            self._pid = os.getpid()
        self._wakeup = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exchange-log", daemon=True)
        self._thread.start()

    def flush(self) -> int:
        with self._writing:
            with self._guard:
                rows, self._rows = self._rows, []
            written = _exchange_rows_write(rows) if rows else 0
            if written < len(rows) and threading.current_thread().name == "exchange-log":
                connections.close_all()  # the writer's own connection, perhaps broken: the next rows open another
            return written

    def stop(self) -> None:
        with self._guard:
            thread, self._thread = self._thread, None
            wakeup = self._wakeup
        if thread is not None and thread.is_alive():
            thread.stopping = True  # type: ignore[attr-defined]
            wakeup.set()
            thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        wakeup = self._wakeup
        me = threading.current_thread()
        while not getattr(me, "stopping", False):
            if not wakeup.wait(timeout=EXCHANGE_IDLE_CLOSE_SECONDS):
                connections.close_all()  # this thread's connection only
                wakeup.wait()
            if not getattr(me, "stopping", False):
                time.sleep(EXCHANGE_GATHER_SECONDS)
            wakeup.clear()  # a row added from here on wakes the thread again
            try:
                self.flush()
            except Exception:  # _exchange_rows_write never raises; a lock or a list should not either
                logger.exception("the exchange-log writer failed")
        connections.close_all()


_exchange_writer = _ExchangeLogWriter()


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
