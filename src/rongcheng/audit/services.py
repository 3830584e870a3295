"""Writing the audit trail: append, seal into the chain, export, purge.

`audit_record` is what every domain service calls, inside its own transaction, so the record commits or rolls back
with the change it describes. It only INSERTs (a trigger adds the work-queue entry) and takes no lock; chaining
happens after commit in `audit_seal`, which one sealer at a time runs over whatever has been committed so far, in a
background thread of each process (see `seal_mode`). A caller never waits for the chain.

Records written before an exception rolls back the caller's transaction are rolled back with it. A service that must
keep a trace of a refused or failed attempt writes that record after leaving the atomic block that failed.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Literal, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_ipv46_address
from django.db import connection, connections, router, transaction
from django.db.models import BooleanField, QuerySet, Subquery, TextChoices
from django.db.models.expressions import DatabaseDefault, RawSQL
from django.db.models.sql import InsertQuery
from django.utils import timezone

from rongcheng.audit.errors import AuditChainBroken, AuditExportExists, AuditRecordInvalid, AuditRetentionNotReached
from rongcheng.audit.models import ActorKind, AuditAnchor, AuditChainLink, AuditPending, AuditRecord, Outcome
from rongcheng.audit.selectors import (
    RECORD_FIELDS,
    TARGETS,
    AuditSearch,
    ChainHead,
    ChainRow,
    anchor_mac,
    audit_record_search,
    chain_head,
    chain_key,
    chain_mac,
    chain_rows,
    chain_start,
    detail_canonical,
    read_snapshot,
    record_canonical_dict,
    record_canonical_text,
)
from rongcheng.audit.selectors import VerifyResult as VerifyResult  # re-exported: `rongcheng check` imports it here
from rongcheng.audit.selectors import audit_verify as audit_verify
from rongcheng.kernel.context import Account, current, current_address, running, system
from rongcheng.kernel.crypto import constant_time_equal, hmac_sm3
from rongcheng.kernel.pagination import Page
from rongcheng.kernel.prepared import kept_plan
from rongcheng.kernel.ratelimit import RefusalSummary

logger = logging.getLogger(__name__)

ActorKindName = Literal["user", "api_client", "system", "anonymous"]
OutcomeName = Literal["success", "denied", "failure"]

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
SEAL_BATCH = 1000
# Inline mode: bounds the work one request does after its commit while records keep arriving; the background thread
# takes over beyond it.
SEAL_SOON_ROUNDS = 10
# pg_try_advisory_xact_lock key of the one sealer ("rcaudit" in ASCII); the purge takes the same lock.
SEALER_LOCK_ID = 0x72636175646974
EXPORT_FORMAT = "rongcheng-audit-export/1"


@dataclass(frozen=True)
class Actor:
    """Who acted, as plain values: the trail must outlive, and not import, the accounts it mentions."""

    kind: ActorKindName
    id: str
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", "", label)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous", "", "")


def actor_from_user(user: Account | None) -> Actor:
    """Duck-typed on `pk`, `get_username()` and an optional `kind`, so the audit app never imports accounts."""
    if user is None or not user.is_authenticated:
        return Actor.anonymous()
    kind: ActorKindName = "api_client" if getattr(user, "kind", None) == "api_client" else "user"
    return Actor(kind, str(user.pk), user.get_username())


def _invalid(field: str, rule: str, message: str) -> AuditRecordInvalid:
    return AuditRecordInvalid(message, errors=[{"loc": [field], "rule": rule, "msg": message}])


@functools.cache
def _max_length(field: str) -> int | None:
    return getattr(AuditRecord._meta.get_field(field), "max_length", None)


@functools.cache
def _choices(kind: type[TextChoices]) -> frozenset[str]:
    """A choices class's values, taken once (Django lists them again at every access)."""
    return frozenset(kind.values)


def _check_length(field: str, value: str) -> None:
    max_length = _max_length(field)
    if max_length is not None and len(value) > max_length:
        raise _invalid(field, "max_length", f"{field} is longer than {max_length} characters.")


def _checked(
    *, action: str, actor: Actor, outcome: str, target_type: str, target_id: str, purpose: str,
    source_address: str | None, detail: Mapping[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """The arguments of a record checked; returns its detail as it will be stored."""
    if not ACTION_PATTERN.fullmatch(action):
        raise _invalid(
            "action", "action.format", "action must be a dotted lowercase name, e.g. registries.person.read."
        )
    if actor.kind not in _choices(ActorKind):
        raise _invalid("actor", "actor.kind", f"actor kind must be one of {', '.join(ActorKind.values)}.")
    if outcome not in _choices(Outcome):
        raise _invalid("outcome", "outcome.choice", f"outcome must be one of {', '.join(Outcome.values)}.")
    for field, value in (
        ("action", action),
        ("actor_id", actor.id),
        ("actor_label", actor.label),
        ("target_type", target_type),
        ("target_id", target_id),
        ("purpose", purpose),
    ):
        _check_length(field, value)
    if source_address:
        try:
            validate_ipv46_address(source_address)
        except ValidationError as exc:
            raise _invalid("source_address", "ip_address", "source_address must be an IPv4 or IPv6 address.") from exc
    try:
        stored_detail: dict[str, Any] = json.loads(json.dumps(dict(detail or {}), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise _invalid("detail", "json", "detail must be a JSON object.") from exc
    return stored_detail


def _request_id() -> str:
    """The id of the request or job running now; empty outside any (a test or a script calling a service)."""
    context = current()
    return context.request_id if context is not None else ""


def audit_record(
    *,
    action: str,
    actor: Actor,
    target_type: str = "",
    target_id: str | int = "",
    outcome: OutcomeName = "success",
    purpose: str = "",
    source_address: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Append one record in the caller's transaction; it is sealed into the chain after that transaction commits.

    `action` is a dotted lowercase verb ("registries.person.read"). `detail` must be JSON; it is stored as given, so
    it must not carry personal data the trail has no need for (mask or omit it: PIPL 第6条 minimisation). The record
    carries the id of the request or job running now (`kernel.context`), so all records of one request are found
    together.
    """
    mode = seal_mode()
    unsaved = _record_unsaved(action=action, actor=actor, target_type=target_type, target_id=target_id,
                              outcome=outcome, purpose=purpose, source_address=source_address,
                              detail=detail)  # fmt: skip
    record = _record_insert(unsaved)
    _record_written(outcome, mode)
    return record


def audit_record_row(
    *,
    action: str,
    actor: Actor,
    target_type: str = "",
    target_id: str | int = "",
    outcome: OutcomeName = "success",
    purpose: str = "",
    source_address: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """The record `audit_record` would append, checked the same way but not written: for a service that writes it
    in the same statement as the change it describes (hall.workflow.state_written: the guarded UPDATE, its timeline
    event, message and audit record in one round trip). The caller must write it in its current transaction, or
    raise; its sealing is scheduled for that transaction's commit as `audit_record` schedules it (and dropped with a
    rollback). Its id and time are the database's, not set on the returned instance."""
    mode = seal_mode()
    record = _record_unsaved(action=action, actor=actor, target_type=target_type, target_id=target_id,
                             outcome=outcome, purpose=purpose, source_address=source_address,
                             detail=detail)  # fmt: skip
    _record_written(outcome, mode)
    return record


def audit_records_write(records: Sequence[AuditRecord]) -> None:
    """Write records made by `audit_record_row` in one INSERT, in their order, in the caller's transaction (a
    service whose one change is described by several records: a person's record read and what was filled from it).
    Their ids and times are set on them; they are sealed after commit as `audit_record_row` scheduled."""
    if any(not record._state.adding or record.pk is not None for record in records):
        raise ValueError("Only records made by audit_record_row and not yet written are written here.")
    AuditRecord.objects.bulk_create(list(records))


def _record_unsaved(
    *, action: str, actor: Actor, target_type: str, target_id: str | int, outcome: str, purpose: str,
    source_address: str | None, detail: Mapping[str, Any] | None,
) -> AuditRecord:  # fmt: skip
    target_id = str(target_id)
    stored_detail = _checked(action=action, actor=actor, outcome=outcome, target_type=target_type,
                             target_id=target_id, purpose=purpose, source_address=source_address,
                             detail=detail)  # fmt: skip
    # The database queues the record for sealing (trigger in migration 0002): no statement of its own.
    return AuditRecord(
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        purpose=purpose,
        source_address=source_address or None,
        detail=stored_detail,
        request_id=_request_id(),
    )


def _record_written(outcome: str, mode: SealMode) -> None:
    """What follows a record's INSERT in the caller's transaction: its seal after commit, a refusal counted."""
    if mode != "manual":
        transaction.on_commit(audit_seal_soon, robust=True)
    if outcome == "denied":
        _refusals.set(_refusals.get() + 1)


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    fields: tuple[Any, ...]  # the fields whose values are the parameters, in their order
    returning: tuple[str, ...]  # the attributes the database fills in (id, occurred_at)
    compiler: Any
    converters: dict[int, Any]


def _insert_compiled(alias: str) -> _CompiledInsert:
    """The ORM's own INSERT of one record (what `AuditRecord.objects.create` sends, its database defaults and
    RETURNING included), compiled once per connection: each record then costs its parameters, not a compilation."""
    connection = connections[alias]
    compiled: _CompiledInsert | None = connection.__dict__.get("_rongcheng_audit_insert")
    if compiled is not None:
        return compiled
    meta = AuditRecord._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
    # Every field given a value, as `audit_record` gives them, but the time, which the database fills in.
    template = AuditRecord(actor_kind="system", outcome="success", detail={}, source_address=None, request_id="")
    query = InsertQuery(AuditRecord)
    query.insert_values(fields, [template])
    compiler = query.get_compiler(using=alias, connection=connection)
    returning = list(meta.db_returning_fields)
    compiler.returning_fields = returning
    ((sql, params),) = compiler.as_sql()
    valued = tuple(f for f in fields if not isinstance(getattr(template, f.attname), DatabaseDefault))
    if len(params) != len(valued) or not connection.features.can_return_columns_from_insert:
        raise ImproperlyConfigured("The audit record's INSERT did not compile as expected.")
    compiled = _CompiledInsert(
        sql=sql, fields=valued, returning=tuple(f.attname for f in returning), compiler=compiler,
        converters=compiler.get_converters([f.get_col(meta.db_table) for f in returning]),
    )  # fmt: skip
    connection.__dict__["_rongcheng_audit_insert"] = compiled
    return compiled


def _record_insert(record: AuditRecord) -> AuditRecord:
    """`record.save(force_insert=True)` through the INSERT compiled once per connection: the same SQL and
    parameters, the database's id and time set on the record as `save` sets them."""
    alias = router.db_for_write(AuditRecord)
    connection = connections[alias]
    compiled = _insert_compiled(alias)
    params = [field.get_db_prep_save(getattr(record, field.attname), connection) for field in compiled.fields]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    if compiled.converters:
        row = next(iter(compiled.compiler.apply_converters([row], compiled.converters)))
    for name, value in zip(compiled.returning, row, strict=True):
        setattr(record, name, value)
    record._state.adding = False
    record._state.db = alias
    return record


def audit_record_many(
    *,
    action: str,
    actor: Actor,
    target_type: str,
    target_ids: Sequence[str | int],
    purpose: str = "",
    source_address: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """One record per target, all alike but for the target, appended by one multi-row INSERT in the caller's
    transaction (a page of persons read at once: one record for each person, so each sees it in "who read my
    data", at the cost of one round trip for the page). The arguments are checked once, as `audit_record` checks
    them; the records are queued for sealing by the same statement-level trigger and sealed after commit, each a
    link of its own. Returns how many were written."""
    if not target_ids:
        return 0
    targets = [str(target_id) for target_id in target_ids]
    stored_detail = _checked(action=action, actor=actor, outcome="success", target_type=target_type,
                             target_id=max(targets, key=len), purpose=purpose, source_address=source_address,
                             detail=detail)  # fmt: skip
    mode = seal_mode()
    request_id = _request_id()
    if connection.vendor == "postgresql":
        _records_insert(
            action=action, actor=actor, target_type=target_type, targets=targets, purpose=purpose,
            source_address=source_address, detail=stored_detail, request_id=request_id, unflushed=False,
        )  # fmt: skip
    else:
        AuditRecord.objects.bulk_create(
            [
                AuditRecord(
                    actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label, action=action,
                    target_type=target_type, target_id=target, outcome="success", purpose=purpose,
                    source_address=source_address or None, detail=stored_detail, request_id=request_id,
                )
                for target in targets
            ],
            batch_size=500,
        )  # fmt: skip
    if mode != "manual":
        transaction.on_commit(audit_seal_soon, robust=True)
    return len(targets)


# One statement whatever the number of targets: the targets travel as one array parameter, so neither the SQL nor its
# parameters grow with the page (the ORM's bulk_create compiles eleven placeholders a row).
_RECORDS_INSERT_SQL = (
    f"INSERT INTO {AuditRecord._meta.db_table} (actor_kind, actor_id, actor_label, action, target_type, target_id, "  # noqa: S608 - the model's table
    "outcome, source_address, purpose, detail, request_id) "
    "SELECT %s, %s, %s, %s, %s, target, 'success', %s::inet, %s, %s::jsonb, %s "
    "FROM unnest(%s::text[]) WITH ORDINALITY AS targets(target, position){unflushed} ORDER BY position"
)
# `set_config(..., true)` holds until the end of the statement's own transaction (autocommit), whose commit reads it:
# that commit, and no other, does not wait for the WAL flush (ADR 0011, RONGCHENG_AUDIT_READ_COMMIT=async).
_RECORDS_INSERT_DURABLE = _RECORDS_INSERT_SQL.format(unflushed="")
_RECORDS_INSERT_UNFLUSHED = _RECORDS_INSERT_SQL.format(
    unflushed=", (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"
)


def _records_insert(
    *, action: str, actor: Actor, target_type: str, targets: Sequence[str], purpose: str, source_address: str | None,
    detail: Mapping[str, Any], request_id: str, unflushed: bool, alongside: RowsAlongside | None = None,
) -> None:  # fmt: skip
    sql = _RECORDS_INSERT_UNFLUSHED if unflushed else _RECORDS_INSERT_DURABLE
    params = [actor.kind, actor.id, actor.label, action, target_type, source_address or None, purpose,
              json.dumps(detail), request_id, list(targets)]  # fmt: skip
    if alongside is not None:
        # A data-modifying WITH runs exactly once, referenced or not, in the statement's own transaction.
        sql = f"WITH alongside AS ({alongside.sql}) {sql}"
        params = [*alongside.params, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def audit_record_counted_sql(
    *,
    action: str,
    actor: Actor,
    target_type: str,
    target_id: str,
    count_key: str,
    purpose: str = "",
    source_address: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> tuple[str, list[Any]]:
    """An ``INSERT … SELECT`` of one record, as `audit_record` writes it (checked alike, queued for sealing by the
    same trigger), whose detail also holds under `count_key` the number of rows of a page read: for the `alongside`
    of `audit_record_page`, where `page_read(n)` gives it. Returns the SQL and its parameters. The caller schedules
    nothing: `audit_record_page` has the chain sealed after the commit."""
    if detail is not None and count_key in detail:
        raise _invalid("detail", "detail.count", f"detail must not carry {count_key!r}: the count goes there.")
    stored_detail = _checked(action=action, actor=actor, outcome="success", target_type=target_type,
                             target_id=target_id, purpose=purpose, source_address=source_address,
                             detail={**(detail or {}), count_key: 0})  # fmt: skip
    sql = (
        f"INSERT INTO {AuditRecord._meta.db_table} (actor_kind, actor_id, actor_label, action, target_type, "  # noqa: S608 - the model's table
        "target_id, outcome, source_address, purpose, detail, request_id) "
        "SELECT %s, %s, %s, %s, %s, %s, 'success', %s::inet, %s, jsonb_set(%s::jsonb, %s::text[], to_jsonb(n)), %s "
        "FROM page_read"
    )
    return sql, [actor.kind, actor.id, actor.label, action, target_type, target_id, source_address or None, purpose,
                 json.dumps(stored_detail), [count_key], _request_id()]  # fmt: skip


@dataclass(frozen=True)
class PageAlongside:
    """Rows recording the same read as a page of persons' record (the exchange's use of its grant and its own audit
    record), written with it: on PostgreSQL, where the page and its record are one statement (`audit_record_page`),
    by `sql` (each an ``INSERT … SELECT`` reading `page_read(n)`, the number of rows read) in that statement; elsewhere
    by `write(n)` in the caller's transaction, after the page's records. Both must write the same rows."""

    sql: Sequence[tuple[str, Sequence[Any]]]
    write: Callable[[int], object]


@dataclass(frozen=True)
class PageGate:
    """A condition the database checks in the very statement that reads a page and writes its records
    (`audit_record_page`): `sql`, a boolean expression with %s placeholders filled by `params`. When it is false
    nothing of the page is read and nothing is written (its records, the rows alongside), and `audit_record_page`
    raises `PageGateClosed`. The exchange gates a page on the grant it judged in Python still being, row for row, the
    grant in force (ADR 0011, amended 2026-12-07, fourth)."""

    sql: str
    params: Sequence[Any]


class PageGateClosed(Exception):
    """The gate of a page (`PageGate`) was false: nothing was read, nothing written, nothing committed."""


@dataclass(frozen=True)
class RowsAlongside:
    """Other rows that record the same read (a licence's fetch records), written with its audit records and committed
    with them: by `read_records_write`'s one statement, `sql` (an ``INSERT … SELECT`` with %s placeholders, filled by
    `params`) as a data-modifying WITH of the records' INSERT; wherever the records go in a transaction instead
    (SQLite, inside a caller's transaction), by `write()` in that transaction, before them. Both must write the same
    rows."""

    sql: str
    params: Sequence[Any]
    write: Callable[[], object]


def audit_record_page(
    *,
    action: str,
    actor: Actor,
    target_type: str,
    page_sql: str,
    page_params: Sequence[Any],
    width: int,
    limit: int,
    purpose: str = "",
    source_address: str | None = None,
    detail: Mapping[str, Any] | None = None,
    alongside: Sequence[tuple[str, Sequence[Any]]] = (),
    gate: PageGate | None = None,
) -> list[tuple[Any, ...]]:
    """PostgreSQL, inside the caller's transaction (or, with a `gate`, as a statement that is its own transaction):
    the rows of a page query (`page_sql`, `width` columns, ordered by
    its first column ascending, an integer key that names each row's target) and one record of the page read, by one
    statement.

    The record names no single target (`target_id` empty): its detail lists the targets of the page's first `limit`
    rows under `TARGETS` (as text, ascending), so the chain seals the list itself (ADR 0004, amended 2026-12-07), and
    a GiST index over the list's span, first to last (migration 0005), finds the records that may list any one of
    them, the list tested on those (`target_condition`: "who read my data", the auditors' search by target). A first
    column that is not an integer fails the statement (cast to bigint), nothing written. The record is driven by the
    very rows read (one snapshot), the
    targets never travel back, and the page and its record are one statement; no row, no record. Returns the page's
    rows.

    `alongside`: other rows recording the same read (the caller's own, `PageAlongside.sql`), each an ``INSERT …
    SELECT`` with its parameters, run as data-modifying WITHs of the same statement (exactly once, in the caller's
    transaction, ADR 0011 amended 2026-12-07); each may read `page_read(n)`, one row: how many rows of the page were
    read (at most `limit`; 0 for an empty page).

    `gate`: the page is read, and every row written, only if the gate's condition holds in the statement's own
    snapshot; else nothing is (`PageGateClosed`). Outside a transaction the statement is then its own transaction,
    committed as a read's records are (durable, or with settings.AUDIT_READ_COMMIT == "async" not waiting for the
    flush, by `set_config(..., true)` in the statement: ADR 0011), and the chain is sealed after it."""
    own = gate is not None and not connection.in_atomic_block
    if connection.vendor != "postgresql" or not (connection.in_atomic_block or own):
        raise ImproperlyConfigured("audit_record_page runs on PostgreSQL inside the caller's transaction")
    if detail is not None and TARGETS in detail:
        raise _invalid("detail", "detail.targets", f"detail must not carry {TARGETS!r}: the page's targets go there.")
    stored_detail = _checked(action=action, actor=actor, outcome="success", target_type=target_type,
                             target_id="", purpose=purpose, source_address=source_address,
                             detail=detail)  # fmt: skip
    names = ", ".join(f"c{n}" for n in range(width))
    opened: list[Any] = []
    if gate is not None:
        # One boolean, taken once (a CTE referenced more than once is computed once), gating the page itself: no
        # person is read, so no record lists any and nothing alongside counts any (page_read has no row then).
        unflushed = ", set_config('synchronous_commit', 'off', true)" if own and _read_unflushed() else ""
        opened = [*gate.params]
        page_sql = f"SELECT * FROM ({page_sql}) AS gated WHERE (SELECT ok FROM gate)"  # noqa: S608 - the caller's compiled query
        head = f"WITH gate AS (SELECT ({gate.sql}) AS ok{unflushed}), page ({names}) AS MATERIALIZED ({page_sql})"
    else:
        head = f"WITH page ({names}) AS MATERIALIZED ({page_sql})"
    # The targets: an ARRAY of the first column of the page's first `limit` rows (integer keys: bigint, so that the span
    # index's casts of the first and last never fail), sorted once and cast to text, made
    # the JSON list (jsonb_agg with its own ORDER BY sorted them a second time: 0.1-0.2 ms more a page of 1,000).
    # A materialised CTE, computed once: the record's list, its cardinality test, and page_read's count (which
    # counted the page again: 0.19 ms a page of 1,000, EXPLAIN 2026-12-07). As a subquery in the INSERT, PostgreSQL
    # pulled it up and made the ARRAY two InitPlans, each sorting the page's ids.
    sql = (
        f"{head}, targets AS MATERIALIZED (SELECT ARRAY(SELECT c0::bigint AS c FROM page ORDER BY c LIMIT %s)::text[] "  # noqa: S608 - the model's table; the caller's compiled query
        "AS ids), "
        f"records AS (INSERT INTO {AuditRecord._meta.db_table} (actor_kind, actor_id, actor_label, action, "
        "target_type, target_id, outcome, source_address, purpose, detail, request_id) "
        "SELECT %s, %s, %s, %s, %s, '', 'success', %s::inet, %s, "
        f"jsonb_set(%s::jsonb, '{{{TARGETS}}}', to_jsonb(targets.ids)), %s "
        "FROM targets WHERE cardinality(targets.ids) > 0)"
    )
    record = [actor.kind, actor.id, actor.label, action, target_type, source_address or None, purpose,
              json.dumps(stored_detail), _request_id()]  # fmt: skip
    params: list[Any] = [*opened, *page_params, limit, *record]
    if alongside:
        # The number of the page's rows read, at most `limit`: the targets listed. With a gate, no row when it is
        # closed: the rows alongside, each an INSERT … SELECT from it, write nothing.
        closed = " WHERE (SELECT ok FROM gate)" if gate is not None else ""
        sql += f", page_read (n) AS (SELECT cardinality(ids) FROM targets{closed})"  # noqa: S608 - constant text
        for number, (along_sql, along_params) in enumerate(alongside):
            sql += f", alongside_{number} AS ({along_sql})"
            params.extend(along_params)
    sql += " SELECT * FROM page"
    if gate is not None:  # a closed gate answers one row of NULLs (the page's first column never is NULL)
        sql += f" UNION ALL SELECT {', '.join(['NULL'] * width)} FROM gate WHERE NOT ok"  # noqa: S608 - constant text
    if own:
        # Its own transaction, outside any pipeline: the statement's plan is kept in the database session (ADR 0020),
        # its planning (the gate's joins, the page, three INSERTs: ~0.9 ms) done once per session, not per page.
        sql = kept_plan(sql, len(params))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    if gate is not None and rows and rows[-1][0] is None:
        raise PageGateClosed
    # Ordered here, not by PostgreSQL: the page comes as its query ordered it, so this sort only checks (linear on
    # ordered rows), where a sort of the wide rows in the statement took ~0.7 ms a page of 1,000.
    rows.sort(key=itemgetter(0))
    if (rows or alongside) and seal_mode() != "manual":  # alongside may hold a record even for an empty page
        if own:
            audit_seal_soon()  # committed already: what on_commit would run at once outside a transaction
        else:
            transaction.on_commit(audit_seal_soon, robust=True)
    return rows


def _read_unflushed() -> bool:
    return settings.AUDIT_READ_COMMIT == "async"


def read_records_write(
    *,
    action: str,
    actor: Actor,
    target_type: str,
    target_ids: Sequence[str | int],
    purpose: str = "",
    source_address: str | None = None,
    detail: Mapping[str, Any] | None = None,
    alongside: RowsAlongside | None = None,
) -> int:
    """The records of one read of personal data (one per target, as `audit_record_many` writes them), committed as
    a transaction of their own before the caller answers: what `read_record_transaction()` around
    `audit_record_many` does, in fewer round trips.

    On PostgreSQL, outside a caller's transaction, the records go in by one statement that is its own transaction
    (one round trip, where BEGIN, INSERT and COMMIT took three, and `SET LOCAL` a fourth): durable by default; with
    settings.AUDIT_READ_COMMIT == "async" its commit, and only it, does not wait for the WAL flush (ADR 0011). Inside
    a caller's transaction, and on SQLite, `read_record_transaction()` decides as it does for any read's records.
    `alongside`, the read's own records in its app's tables (a licence fetch's rows), goes in with them: in the same
    statement, or in the same transaction. Returns how many audit records were written; none for no target (no
    statement, and nothing alongside)."""
    if not target_ids:
        return 0
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with read_record_transaction():
            if alongside is not None:
                alongside.write()
            return audit_record_many(
                action=action, actor=actor, target_type=target_type, target_ids=target_ids, purpose=purpose,
                source_address=source_address, detail=detail,
            )  # fmt: skip
    targets = [str(target_id) for target_id in target_ids]
    stored_detail = _checked(action=action, actor=actor, outcome="success", target_type=target_type,
                             target_id=max(targets, key=len), purpose=purpose, source_address=source_address,
                             detail=detail)  # fmt: skip
    _records_insert(
        action=action, actor=actor, target_type=target_type, targets=targets, purpose=purpose,
        source_address=source_address, detail=stored_detail, request_id=_request_id(),
        unflushed=settings.AUDIT_READ_COMMIT == "async", alongside=alongside,
    )  # fmt: skip
    if seal_mode() != "manual":
        audit_seal_soon()  # committed already: what on_commit would run at once outside a transaction
    return len(targets)


# Refusals recorded in the current request (reset per request by config.middleware.RefusalAuditMiddleware), so a
# refusal a service or the API authentication already recorded is not recorded a second time.
_refusals: ContextVar[int] = ContextVar("audit_refusals", default=0)


def refusals_reset() -> None:
    _refusals.set(0)


def refusals_recorded() -> int:
    return _refusals.get()


def refusal_record(
    *,
    action: str,
    actor: Actor,
    target_type: str = "",
    target_id: str | int = "",
    purpose: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """The one way a refused request is recorded, for pages and API alike: outcome "denied", from the address of the
    request running now (`kernel.context`). Callers run outside any transaction that could roll the record back (the
    middleware after the view; API authentication before it)."""
    return audit_record(
        action=action, actor=actor, outcome="denied", target_type=target_type, target_id=target_id, purpose=purpose,
        source_address=current_address(), detail=detail,
    )  # fmt: skip


@contextmanager
def read_record_transaction() -> Iterator[None]:
    """A transaction whose only writes record a read of personal data (its audit record, a licence fetch record).

    With settings.AUDIT_READ_COMMIT == "async" on PostgreSQL, its commit does not wait for the WAL flush
    (`SET LOCAL synchronous_commit TO OFF`, this transaction only): ADR 0011 says what that trades and why it is not
    the default. Inside a caller's transaction it opens a savepoint only: the caller's transaction decides.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    with transaction.atomic():
        if settings.AUDIT_READ_COMMIT == "async" and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


SealMode = Literal["background", "inline", "manual"]


def seal_mode() -> SealMode:
    """settings.AUDIT_SEAL_MODE, else background (the test suite sets inline in its root conftest).

    background: each process keeps one sealer thread, woken after commits; requests never do chain work (bench:
        0.65-0.85 of plain INSERT throughput, records sealed about 0.1 s after commit).
    inline: the committing thread seals, so tests see the chain at once; a sealer thread outliving a test would also
        hold the test database open when the runner drops it, and could not share SQLite's in-memory test database.
        Costly (bench: 0.15-0.3 of plain) because every commit pays a second, sealing transaction.
    manual: nothing after commit; `manage.py audit seal --follow` seals from a process of its own.
    """
    configured = getattr(settings, "AUDIT_SEAL_MODE", None)
    if configured in ("background", "inline", "manual"):
        return cast(SealMode, configured)
    if configured is not None:
        raise ImproperlyConfigured("AUDIT_SEAL_MODE must be 'background', 'inline' or 'manual'.")
    return "background"


@dataclass(frozen=True)
class SealResult:
    sealed: int
    busy: bool
    remaining: bool
    head: ChainHead | None = None  # the last link written, when something was sealed

    @property
    def head_sequence(self) -> int | None:
        return self.head.sequence if self.head else None

    @property
    def head_mac(self) -> str | None:
        return self.head.mac.hex() if self.head else None


def _take_sealer_lock(*, wait: bool) -> bool:
    """One sealer at a time. On SQLite the write lock taken at BEGIN IMMEDIATE already serialises writers."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALER_LOCK_ID])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEALER_LOCK_ID])
        row = cursor.fetchone()
    return bool(row and row[0])


def audit_seal(*, limit: int = SEAL_BATCH) -> SealResult:
    """Chain up to `limit` committed records, oldest id first, in one transaction; never waits for another sealer.

    The chain follows the order in which records become visible, not their ids, so there are no gaps to wait for: a
    record whose transaction committed late is sealed by a later call, exactly once, because its queue entry is
    removed in the transaction that adds its link (and the link's record is unique).
    """
    if not AuditPending.objects.exists():  # the common case after a burst: no transaction, no lock
        return SealResult(0, False, False)
    key = chain_key()
    with transaction.atomic():
        if not _take_sealer_lock(wait=False):
            return SealResult(0, True, True)
        # Driven by the small queue through primary keys: one query joining the queue to the whole trail lets the
        # planner pick a scan of the trail when the queue's statistics are stale.
        queued = list(AuditPending.objects.order_by("record_id").values_list("record_id", flat=True)[: limit + 1])
        remaining = len(queued) > limit
        queued = queued[:limit]
        head = chain_head()
        links: list[tuple[int, int, bytes]] = []  # sequence, record id, MAC
        if connection.vendor == "postgresql":
            # Each record's canonical text written field by field, its detail canonicalised once per distinct
            # detail (a page of persons read is a hundred records with one detail): the same bytes as chain_mac's.
            details: dict[str, str] = {}
            for row in _records_queued_rows(queued):
                values, already_sealed = row[:-1], row[-1]
                if already_sealed is not None:
                    logger.warning("audit record %s was queued again after being sealed at link %s", row[0],
                                   already_sealed)  # fmt: skip
                    continue
                detail = details.get(values[_DETAIL_INDEX])
                if detail is None:
                    detail = details[values[_DETAIL_INDEX]] = detail_canonical(json.loads(values[_DETAIL_INDEX]))
                sequence = head.sequence + 1
                body = record_canonical_text(values, detail).encode()
                mac = hmac_sm3(key, head.mac + sequence.to_bytes(8, "big") + body)
                links.append((sequence, values[0], mac))
                head = ChainHead(sequence, mac)
        else:
            rows = list(_records_queued(queued).order_by("id").values_list(*RECORD_FIELDS, "link__sequence"))
            for row in rows:
                values, already_sealed = row[:-1], row[-1]
                if already_sealed is not None:
                    logger.warning("audit record %s was queued again after being sealed at link %s", row[0],
                                   already_sealed)  # fmt: skip
                    continue
                sequence = head.sequence + 1
                mac = chain_mac(key, head.mac, sequence, values)
                links.append((sequence, values[0], mac))
                head = ChainHead(sequence, mac)
        _links_write(links, queued)
    if links:
        # The head in the log is a copy outside the database; `audit verify --expect` checks the chain against it.
        logger.info("audit chain sealed %d records; head %d:%s", len(links), head.sequence, head.mac.hex())
    return SealResult(len(links), False, remaining, head if links else None)


def _records_queued(queued: list[int]) -> QuerySet[AuditRecord]:
    """The records of these ids: on PostgreSQL by one array parameter (`id = ANY(%s)`), since `id__in` of a thousand
    ids is compiled, checked and quoted by the id (more CPU than the MACs of the batch); elsewhere by `id__in`."""
    if connection.vendor != "postgresql":
        return AuditRecord.objects.filter(id__in=queued)
    table = AuditRecord._meta.db_table
    # The model's table and fixed SQL; the ids travel as one parameter.
    condition = RawSQL(f'"{table}"."id" = ANY(%s::bigint[])', (queued,), output_field=BooleanField())  # noqa: S611
    return AuditRecord.objects.filter(condition)


_DETAIL_INDEX = RECORD_FIELDS.index("detail")


def _records_queued_rows(queued: list[int]) -> list[tuple[Any, ...]]:
    """PostgreSQL: the records of these ids by id, their RECORD_FIELDS as the ORM reads them but the detail as the
    JSON text PostgreSQL sends (decoded once per distinct detail by the sealer), the time as its UTC text, and the
    sequence of a link that
    already seals one (None for the others). The ids travel as one array literal, the statement written once."""
    with connection.cursor() as cursor:
        cursor.execute(_RECORDS_QUEUED_SQL, ["{" + ",".join(map(str, queued)) + "}"])
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


# occurred_at comes as the UTC text `audit.selectors._utc_text` writes (to_char: four-digit years, microseconds).
_RECORDS_QUEUED_SQL = (
    "SELECT "
    + ", ".join(
        "to_char(r.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        if name == "occurred_at"
        else f"r.{AuditRecord._meta.get_field(name).column}"  # type: ignore[union-attr]  # concrete fields
        for name in RECORD_FIELDS
    )
    + ", l.sequence "
    f"FROM {AuditRecord._meta.db_table} r LEFT JOIN {AuditChainLink._meta.db_table} l ON l.record_id = r.id "
    "WHERE r.id = ANY(%s::bigint[]) ORDER BY r.id"
)


def _links_write(links: list[tuple[int, int, bytes]], queued: list[int]) -> None:
    """Insert the links (sequence, record id, MAC) and take their records (by exact ids) off the queue: a lower id
    committed since the records were read is still unsealed and must stay queued. On PostgreSQL each is one statement
    whose values travel as arrays (a page of persons read is a hundred records: the ORM's statements grow, and are
    compiled and quoted, by the row; and a model instance per link cost as much as its MAC)."""
    if connection.vendor != "postgresql":
        AuditChainLink.objects.bulk_create(
            [AuditChainLink(sequence=sequence, record_id=record, mac=mac) for sequence, record, mac in links],
            batch_size=500,
        )
        AuditPending.objects.filter(record_id__in=queued).delete()
        return
    # The values travel as plain text (an array literal of ids, the MACs in hex joined by commas): quoted as one
    # string each, where lists of ints and of bytes were adapted element by element. The links' sequences follow on
    # from the first, one by one, as the sealer numbered them.
    with connection.cursor() as cursor:
        if links:
            first = links[0][0]
            if any(sequence != first + n for n, (sequence, _, _) in enumerate(links)):
                raise AuditChainBroken("the sealer numbered its links out of order")
            cursor.execute(
                f"INSERT INTO {AuditChainLink._meta.db_table} (sequence, record_id, mac) "  # noqa: S608 - the model's table
                "SELECT %s + n - 1, record, decode(mac, 'hex') "
                "FROM unnest(%s::bigint[], string_to_array(%s, ',')) WITH ORDINALITY AS links(record, mac, n)",
                [first, "{" + ",".join(str(record) for _, record, _ in links) + "}",
                 ",".join(mac.hex() for _, _, mac in links)],
            )  # fmt: skip
        cursor.execute(
            f"DELETE FROM {AuditPending._meta.db_table} WHERE record_id = ANY(%s::bigint[])",  # noqa: S608 - the model's table
            ["{" + ",".join(map(str, queued)) + "}"],
        )


_process_sealer = threading.Lock()
SEAL_GATHER_SECONDS = 0.1
SEAL_IDLE_CLOSE_SECONDS = 1.0


def audit_seal_soon() -> None:
    """Run after each commit that appended records; never raises and never waits for another sealer.

    In background mode it only wakes this process's sealer thread. In inline mode it seals here unless a sealer is at
    work already; that sealer looks at the queue again after releasing its locks, so a record committed while it held
    them is not left behind. An inline sealer that reaches its round limit while records keep arriving hands over to the
    background thread rather than keep its request waiting. Errors are logged: the caller's transaction has committed
    and its request must not fail because the chain is behind.
    """
    try:
        if seal_mode() == "background" or _seal_while_pending(rounds=SEAL_SOON_ROUNDS):
            _background_sealer.wake()
    except Exception:
        logger.exception("sealing the audit chain failed; the records stay queued for the next seal")


def _seal_while_pending(*, rounds: int | None) -> bool:
    """Inline sealing: seal until the queue is empty or another sealer has it; True when stopped by the round limit.

    A caller that finds a sealer at work (this process's lock, or another process's advisory lock) returns at once:
    its record committed before it tried the lock. So a sealer stops only when the queue is empty in a look taken
    after it released both locks; a look taken while it held them (audit_seal's own) could miss such a record.
    """
    done = 0
    while rounds is None or done < rounds:
        if not _process_sealer.acquire(blocking=False):
            return False
        try:
            result = audit_seal()
        finally:
            _process_sealer.release()
        if result.busy or (not result.remaining and not AuditPending.objects.exists()):
            return False
        done += 1
    return True


class _BackgroundSealer:
    """One daemon thread per process, started on first use (and again in a forked child), asleep while idle.

    Waking it is a flag, so a request pays nothing; it waits SEAL_GATHER_SECONDS so records committed meanwhile are
    sealed in the same transaction. It keeps its database connection while records keep coming and closes it after
    SEAL_IDLE_CLOSE_SECONDS without work, so an idle process holds none.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._dirty = False  # woken since the thread last started a round

    def wake(self) -> None:
        with self._guard:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                if self._pid != os.getpid():
                    atexit.register(self._seal_at_exit)
                self._pid = os.getpid()
                self._wakeup = threading.Event()
                self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
                self._thread.start()
        self._dirty = True
        self._wakeup.set()

    def _seal_at_exit(self) -> None:
        """A command that appended and exits at once would otherwise leave its last records for the next sealer."""
        if not self._dirty:
            return
        try:
            _seal_while_pending(rounds=None)
        except Exception:
            logger.exception("sealing the audit chain at exit failed; the records stay queued for the next seal")

    def _run(self) -> None:
        wakeup = self._wakeup
        while True:
            if not wakeup.wait(timeout=SEAL_IDLE_CLOSE_SECONDS):
                connections.close_all()  # this thread's connection only
                wakeup.wait()
            time.sleep(SEAL_GATHER_SECONDS)
            wakeup.clear()  # a commit from here on wakes the thread again
            self._dirty = False
            try:
                if not self._seal_queue():
                    self._dirty = True
                    wakeup.set()  # another sealer had the lock; look again after the next gathering pause
            except Exception:
                self._dirty = True
                logger.exception("sealing the audit chain failed; the records stay queued for the next seal")
                connections.close_all()

    @staticmethod
    def _seal_queue() -> bool:
        """Seal what is queued now, in as many batches as it takes; False when another sealer has the lock.

        It does not loop for records that arrive meanwhile: their commits wake it again, and the pause before the
        next round gathers them into one transaction instead of many small ones.
        """
        while True:
            if not _process_sealer.acquire(blocking=False):
                return False
            try:
                result = audit_seal()
            finally:
                _process_sealer.release()
            if result.busy:
                return False
            if not result.remaining:
                return True


_background_sealer = _BackgroundSealer()


def audit_seal_all(*, limit: int = SEAL_BATCH) -> int:
    """Seal everything queued, for the command line and for a periodic job; waits only while another sealer works."""
    total = 0
    while True:
        result = audit_seal(limit=limit)
        total += result.sealed
        if result.busy:
            time.sleep(0.05)
            continue
        if not result.remaining:
            return total


@dataclass(frozen=True)
class ExportResult:
    count: int
    path: Path
    digest: str
    first_sequence: int | None
    last_sequence: int | None


class _ExportWriter:
    """JSON lines, one per record with its link and the previous MAC, so any line can be re-checked with the key."""

    def __init__(self, handle: IO[bytes], scope: Mapping[str, Any]) -> None:
        self._handle = handle
        self._hash = hashlib.new("sm3")  # OpenSSL's SM3, incremental; kernel.crypto hashes whole byte strings only
        self.count = 0
        self.first_sequence: int | None = None
        self.last_sequence: int | None = None
        self._write({"format": EXPORT_FORMAT, "exported_at": timezone.now().isoformat(), **scope})

    def _write(self, document: Mapping[str, Any]) -> None:
        line = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        self._handle.write(line)
        self._hash.update(line)

    def add(self, row: ChainRow, previous_mac: bytes) -> None:
        self._write(
            {
                "sequence": row.sequence,
                "previous_mac": previous_mac.hex(),
                "mac": row.mac.hex(),
                "record": record_canonical_dict(row.values),
            }
        )
        self.count += 1
        if self.first_sequence is None:
            self.first_sequence = row.sequence
        self.last_sequence = row.sequence

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()


def _publish(partial: Path, final: Path) -> None:
    """Durable and never overwriting: fsync, then hard-link into place (fails if the name exists), then unlink."""
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    try:
        os.link(partial, final)
    except FileExistsError as exc:
        raise AuditExportExists(f"{final} exists already; choose a new file name.") from exc
    finally:
        partial.unlink()
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new name itself survives a crash before the purge deletes anything
    finally:
        os.close(directory)


def _partial_path(path: Path) -> Path:
    """A hidden sibling to write into; a leftover from an interrupted export is overwritten, it was never published."""
    if path.exists():
        raise AuditExportExists(f"{path} exists already; choose a new file name.")
    return path.with_name(f".{path.name}.partial")


def audit_export(
    *, to: Path, actor: Actor, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> ExportResult:
    """Copy sealed records (occurred in [since, until)) to a file, for archiving or an inspector; audited itself."""
    to = Path(to)
    partial = _partial_path(to)
    scope = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    with partial.open("wb") as handle, read_snapshot():
        start, _ = chain_start()
        writer = _ExportWriter(handle, scope)
        previous = start.mac
        for row in chain_rows(after_sequence=start.sequence):
            if (since is None or row.occurred_at >= since) and (until is None or row.occurred_at < until):
                writer.add(row, previous)
            previous = row.mac
    _publish(partial, to)
    audit_record(
        action="audit.export",
        actor=actor,
        target_type="audit.trail",
        detail={"file": to.name, "count": writer.count, "sm3": writer.digest, **scope},
    )
    return ExportResult(writer.count, to, writer.digest, writer.first_sequence, writer.last_sequence)


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    export: ExportResult | None
    anchor: AuditAnchor | None


def _allow_purge_deletes(allow: bool) -> None:
    """Transaction-local: the triggers let DELETE through only while this is on, and only on records and links.

    Switched off again right after the deletes, in case the purge runs inside a longer transaction.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SET LOCAL rongcheng.audit_purge = 'on'" if allow else "SET LOCAL rongcheng.audit_purge = 'off'"
            )


def audit_purge(*, before: dt.datetime, export_to: Path, actor: Actor) -> PurgeResult:
    """Remove the chain's oldest records, those before `before`, after exporting them; audited itself.

    Refuses to cut into the legal retention (settings.AUDIT_RETENTION_DAYS) and refuses to purge a segment that does
    not verify, since that would destroy the evidence. Only a prefix of the chain is purged, stopping at the first
    record at or after `before`; an anchor keeps the last purged MAC so verification carries on from there.
    """
    if timezone.is_naive(before):
        raise _invalid("before", "aware", "before must carry a time zone.")
    oldest_allowed = timezone.now() - dt.timedelta(days=settings.AUDIT_RETENTION_DAYS)
    if before > oldest_allowed:
        raise AuditRetentionNotReached(
            f"Records must be kept {settings.AUDIT_RETENTION_DAYS} days; purge only before "
            f"{timezone.localtime(oldest_allowed):%Y-%m-%d %H:%M}.",
            errors=[{"loc": ["before"], "rule": "retention", "msg": f"at least {settings.AUDIT_RETENTION_DAYS} days"}],
        )
    export_to = Path(export_to)
    partial = _partial_path(export_to)
    key = chain_key()
    with partial.open("wb") as handle, read_snapshot():
        start, _ = chain_start()
        writer = _ExportWriter(handle, {"purge_before": before.isoformat(), "after_sequence": start.sequence})
        previous = start
        for row in chain_rows(after_sequence=start.sequence):
            if row.occurred_at >= before:
                break
            if row.sequence != previous.sequence + 1 or not constant_time_equal(
                chain_mac(key, previous.mac, row.sequence, row.values), row.mac
            ):
                partial.unlink()
                raise AuditChainBroken(
                    f"The chain does not verify at link {previous.sequence + 1}; run `audit verify` before purging."
                )
            writer.add(row, previous.mac)
            previous = ChainHead(row.sequence, row.mac)
    if writer.count == 0:
        partial.unlink()
        return PurgeResult(0, None, None)
    _publish(partial, export_to)
    export = ExportResult(writer.count, export_to, writer.digest, writer.first_sequence, previous.sequence)

    with transaction.atomic():
        _take_sealer_lock(wait=True)
        if chain_start()[0] != start:
            raise AuditChainBroken("Another purge ran meanwhile; nothing was deleted. Run the purge again.")
        _allow_purge_deletes(True)
        anchor = AuditAnchor.objects.create(
            sequence=previous.sequence,
            mac=previous.mac,
            purged_count=writer.count,
            purged_before=before,
            export_name=export_to.name,
            export_digest=writer.digest,
            anchor_mac=anchor_mac(
                key,
                sequence=previous.sequence,
                mac=previous.mac,
                purged_count=writer.count,
                export_digest=writer.digest,
            ),
        )
        segment = AuditChainLink.objects.filter(sequence__gt=start.sequence, sequence__lte=previous.sequence)
        purged, _ = AuditRecord.objects.filter(id__in=Subquery(segment.values("record_id"))).delete()
        segment.delete()
        _allow_purge_deletes(False)
        if purged != writer.count:
            raise AuditChainBroken(f"Expected to purge {writer.count} records but found {purged}; nothing was deleted.")
        audit_record(
            action="audit.purge",
            actor=actor,
            target_type="audit.trail",
            detail={
                "purged": purged,
                "before": before.isoformat(),
                "first_sequence": export.first_sequence,
                "last_sequence": export.last_sequence,
                "file": export_to.name,
                "sm3": writer.digest,
            },
        )
    return PurgeResult(purged, export, anchor)


def audit_trail_search(
    *, actor: Actor, search: AuditSearch, cursor: str | None = None, limit: int = 50
) -> Page[AuditRecord]:
    """Reading the trail is itself an audited act (who looked at whose traces)."""
    with transaction.atomic():
        page = audit_record_search(search=search, cursor=cursor, limit=limit)
        audit_record(
            action="audit.search",
            actor=actor,
            target_type="audit.trail",
            source_address=current_address(),
            detail={**search.as_detail(), "page": "next" if cursor else "first", "shown": len(page.items)},
        )
    return page


def audit_admin_view_record(*, user: Account | None, record_id: str = "", query: str = "") -> None:
    """Viewing the trail through the admin site (its list, or one record) is recorded like a search on the staff page.
    Who may view it there is the admin's own check (its view permission); this records that they did."""
    audit_record(
        action="audit.search", actor=actor_from_user(user), target_type="audit.trail", target_id=record_id,
        source_address=current_address(), detail={"via": "admin", **({"query": query} if query else {})},
    )  # fmt: skip


def refusals_summary_record(summary: RefusalSummary) -> AuditRecord:
    """One record for a window of requests refused by a rate limit, instead of one per refused request.

    Under a request id of its own when a request closes the window (that request is not the one the record is
    about); under the job's when the clean-up job flushes it.
    """
    start = dt.datetime.fromtimestamp(summary.window_start, tz=dt.UTC)
    context = current()
    own = context if context is not None and context.job else system("rate-limit refusals")
    with running(own), transaction.atomic():
        return audit_record(
            action="kernel.rate_limit.refusals", actor=Actor.system("rate-limit"), target_type="rate_limit",
            target_id=summary.scope, outcome="denied",
            detail={"scope": summary.scope, "window_start": start.isoformat(), "window_seconds": summary.seconds,
                    "refused": summary.refused},
        )  # fmt: skip
