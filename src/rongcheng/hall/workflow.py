"""The lifecycle of an application, declared in one table: which transition leads from which states to which, who
may take it (the applicant or an officer), whether it needs a reason, and what it does to the clock.

A transition that is not in this table cannot happen: `hall.services.application_transition` looks it up here and
refuses anything else, and `tests/test_workflow.py` walks every row. Each row also declares its guards (checks that
refuse it, all run before anything is written) and its effects (what it does, in order: fill in the row's changes,
write them with a guarded UPDATE, then what must follow the write). The service adds what every transition does:
the timeline event, the audit record and the message to the applicant.

    draft ─submit→ submitted ─accept→ accepted ─review→ under_review ─approve→ approved ─conclude→ concluded
                           └─not_accept→ not_accepted                 ├─refuse→ refused ─conclude→ concluded
                                                                      ├─return_for_correction→ correction
                                                                      │        └─resubmit→ under_review
                                                                      ├─request_countersign→ countersigning
                                                                      │        └─countersign_complete→ under_review
                                                                      └─suspend→ suspended ─resume→ under_review
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from django.db import connection
from django.db.models import CharField, Exists, Field, Model, OuterRef, QuerySet, Subquery
from django.db.models.expressions import DatabaseDefault, RawSQL
from django.db.models.sql import InsertQuery, UpdateQuery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_stubs_ext import StrOrPromise

from rongcheng.accounts.models import Department, User
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.audit.services import Actor
from rongcheng.card.models import BillStatus
from rongcheng.card.selectors import bill_by_reference
from rongcheng.card.services import bill_issue
from rongcheng.hall import calendar as working
from rongcheng.hall.checks import CHECKED_TRANSITIONS, unrecorded
from rongcheng.hall.errors import ApplicationDenied, AssuranceTooLow, TransitionGuardFailed, TransitionNotAllowed
from rongcheng.hall.events import ApplicationConcluded
from rongcheng.hall.licensing import licence_issue_for, licence_uses_record, result_check
from rongcheng.hall.models import (
    Application,
    ApplicationCheck,
    ApplicationEvent,
    ApplicationMaterial,
    Countersign,
    CountersignState,
    Flag,
    MaterialSource,
    Message,
    NumberCounter,
    State,
    material_spec,
)
from rongcheng.hall.permissions import assurance_sufficient
from rongcheng.kernel.context import Account
from rongcheng.kernel.events import publish
from rongcheng.kernel.prepared import PreparedLookup
from rongcheng.kernel.transitions import Table, Transition

Role = Literal["applicant", "officer", "system"]
Clock = Literal["", "start", "stop", "resume"]


@dataclass
class Step:
    """One transition being taken: what its guards and effects see, and the changes they prepare for the row."""

    user: Account | None  # None: the platform itself (a deadline passing, a bill paid)
    application: Application
    reason: str
    departments: list[str]
    source: str = ""
    today: dt.date = field(default_factory=lambda: working.today())
    changes: dict[str, Any] = field(default_factory=dict)
    countersigners: list[Department] = field(default_factory=list)
    # The application's materials as the guard read them under the row lock, (code, source, licence identifier),
    # for the effects that follow (the licences it relies on): None until read.
    materials: list[tuple[str, str, str]] | None = None
    # The rows every step writes with its state (its timeline event, the applicant's message, its audit record),
    # built once the changes are on the application: written by `state_written` with the guarded UPDATE.
    riders: Callable[[], list[Model]] | None = None

    @property
    def officer(self) -> User:
        """The account taking the step, for an effect that acts in its name (the window noted, a licence issued): the
        table gives such effects only to officers' transitions, which `_authorize` has let through."""
        if not is_signed_in(self.user):
            raise ApplicationDenied("Only an officer takes this step.")
        return self.user


@dataclass(frozen=True, kw_only=True)
class ApplicationTransition(Transition[Step]):
    role: Role
    label: StrOrPromise  # shown on the pages in the reader's language
    needs_reason: bool = False
    clock: Clock = ""
    # Acceptance may be done by any window for a service accepted anywhere (全城通办); every other officer
    # transition belongs to the service's department.
    any_window: bool = False


# ── guards: each refuses by raising, before anything is written ─────────────────────────────────────────────────


def missing_materials(application: Application, provided: Iterable[str] | None = None) -> list[str]:
    """The codes of the required materials the application lacks (`provided`: the codes it has, when known)."""
    if provided is None:
        provided = ApplicationMaterial.objects.filter(application=application).values_list("code", flat=True)
    have = set(provided)
    return [m["code"] for m in application.service.materials if m.get("required", True) and m["code"] not in have]


def _material_name(application: Application, code: str) -> str:
    """The material's name as the catalogue gives it (公司章程), to name a missing material to the applicant."""
    spec = material_spec(application.service, code)
    return str(spec["name"]) if spec else code


def materials_complete(step: Step) -> None:
    """Every required material is provided. The materials are read once (code, source, licence used) and kept on
    the step for `licences_used`, which records the licences among them."""
    step.materials = list(
        ApplicationMaterial.objects.filter(application=step.application).values_list(
            "code", "source", "licence_identifier"
        )
    )
    missing = missing_materials(step.application, (code for code, _source, _licence in step.materials))
    if missing:
        raise TransitionGuardFailed(
            f"Materials missing: {', '.join(missing)}.",
            errors=[
                {"loc": ["materials", code], "rule": "material.required", "msg": _material_name(step.application, code)}
                for code in missing
            ],
        )


def result_issuable(step: Step) -> None:
    """The licence an approval would issue can be issued from the materials (hall.licensing.result_check)."""
    result_check(step.application)


def assurance_enough(step: Step) -> None:
    level = step.application.service.min_assurance
    if not assurance_sufficient(step.user, level):
        raise AssuranceTooLow(f"This service needs assurance level L{level}.", required_level=level)


def countersigners_known(step: Step) -> None:
    wanted = sorted(set(step.departments) - {step.application.department.code})
    found = list(Department.objects.filter(code__in=wanted))
    if not wanted or len(found) != len(wanted):
        raise TransitionGuardFailed(
            "Name one or more other departments (by code) to countersign.",
            errors=[{"loc": ["departments"], "rule": "countersign.departments", "msg": "unknown or none"}],
        )
    step.countersigners = found


def countersigns_answered(step: Step) -> None:
    if Countersign.objects.filter(application=step.application, state=CountersignState.PENDING).exists():
        raise TransitionGuardFailed("Countersigning departments have not all answered.")


def checks_recorded(step: Step) -> None:
    """Every item the registered decision checks (hall.checks) put before the officer today is answered."""
    missing = unrecorded(step.application, step.today, kept=getattr(step.application, "checks_kept", True))
    if missing:
        raise TransitionGuardFailed(
            f"{len(missing)} check item(s) must be recorded (measure applied, or not applied with a reason) first.",
            errors=[
                {"loc": ["checks", m["source"], m["reference"], m["measure"]], "rule": "check.unrecorded",
                 "msg": "not recorded"}
                for m in missing
            ],
        )  # fmt: skip


FEE_PATTERN = re.compile(r"(\d{1,7})(?:\.(\d{1,2}))?\s*元")


def fee_amount(application: Application) -> int:
    """The fee of the application's service in fen: the first amount in yuan (`10元`, `12.5 元`) of the catalogue's
    fee text (收费标准); 0 when it names none (`不收费`)."""
    match = FEE_PATTERN.search(application.service.fees or "")
    if match is None:
        return 0
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def fee_reference(application: Application) -> str:
    """What the fee's bill carries (card.Bill.reference) to find its application again when it is paid."""
    return f"hall:{application.number}"


def fee_paid(step: Step) -> None:
    """An approved application of a service with a fee concludes only once the fee's bill is paid (the city card's
    unified payment, card.selectors.bill_by_reference)."""
    application = step.application
    if step.source != State.APPROVED or fee_amount(application) == 0:
        return
    bill = bill_by_reference(department_id=application.department_id, reference=fee_reference(application))
    if bill is None or bill.status != BillStatus.PAID:
        raise TransitionGuardFailed(
            "The fee is not paid yet.",
            errors=[{"loc": ["fee"], "rule": "fee.unpaid", "msg": bill.payment_code if bill else "no bill"}],
        )


# ── effects, in the order a row declares them ───────────────────────────────────────────────────────────────────


def licences_used(step: Step) -> None:
    """Each licence used as a material is recorded as used for this application; a licence that is no longer
    valid (revoked, suspended, expired) is refused here, at the moment of use, and the submission with it."""
    identifiers = (
        None
        if step.materials is None
        else [licence for _code, source, licence in step.materials if source == MaterialSource.LICENCE]
    )
    licence_uses_record(application=step.application, identifiers=identifiers)


def next_number(department: Department, day: dt.date) -> str:
    """Department code, date and a daily sequence: FZ-GSJ-20261129-000042. One statement creates the day's counter
    or increments it and returns the number (an upsert: PostgreSQL, and SQLite from 3.35); its row lock lasts until
    the caller commits, so two submissions never share a number."""
    prefix = f"{department.code}-{day:%Y%m%d}"
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_NUMBER_SQL, [prefix])
        (last,) = cursor.fetchone()
    return f"{prefix}-{last:06d}"


_COUNTERS = NumberCounter._meta.db_table
_NEXT_NUMBER_SQL = (
    f"INSERT INTO {_COUNTERS} (prefix, last) VALUES (%s, 1) "  # noqa: S608 - the model's table name
    f"ON CONFLICT (prefix) DO UPDATE SET last = {_COUNTERS}.last + 1 RETURNING last"
)


def numbered(step: Step) -> None:
    step.changes.update(number=next_number(step.application.department, step.today), submitted_at=timezone.now())


def window_noted(step: Step) -> None:
    user, application = step.officer, step.application
    same = user.department_id == application.department_id
    step.changes["window_id"] = application.department_id if same else user.department_id


def decision_reasoned(step: Step) -> None:
    step.changes["decision_reason"] = step.reason


def _calendar(step: Step) -> working.WorkingCalendar:
    """The working-day calendar as of the stamp the locking read brought (hall.calendar), or as of now."""
    return working.calendar_current(getattr(step.application, "calendar_stamp", None))


def clock_started(step: Step) -> None:
    calendar = _calendar(step)
    service = step.application.service
    step.changes.update(
        accepted_on=step.today,
        deadline=calendar.add(step.today, service.statutory_days),
        promised_deadline=calendar.add(step.today, service.promised_days),
        flag=Flag.NONE,
    )


def clock_stopped(step: Step) -> None:
    step.changes.update(clock_stopped_on=step.today, flag=Flag.NONE)


def clock_resumed(step: Step) -> None:
    application = step.application
    if application.clock_stopped_on is None:
        return
    calendar = _calendar(step)
    stopped = calendar.between(application.clock_stopped_on, step.today)
    step.changes.update(clock_stopped_on=None)
    if application.deadline is not None:
        step.changes["deadline"] = calendar.add(application.deadline, stopped)
    if application.promised_deadline is not None:
        step.changes["promised_deadline"] = calendar.add(application.promised_deadline, stopped)


def state_written(step: Step) -> None:
    """The row moves only if nobody changed it since it was read: one guarded UPDATE of the prepared changes. The
    rows that go with the step (its timeline event, the applicant's message, its audit record) are written with it:
    on PostgreSQL in the same statement (an UPDATE and its INSERTs in one WITH, each INSERT writing only if the
    UPDATE moved the row), elsewhere right after it."""
    application = step.application
    guard = {"pk": application.pk, "version": application.version, "state": step.source}
    for name, value in step.changes.items():
        setattr(application, name, value)
    riders, step.riders = (step.riders() if step.riders is not None else []), None
    if riders and connection.vendor == "postgresql":
        updated = _update_with_rows(guard, step.changes, riders)
    else:
        updated = Application.objects.filter(**guard).update(**step.changes)
        if updated == 1:
            for row in riders:
                row.save(force_insert=True)
    if updated != 1:
        raise TransitionNotAllowed("Another officer changed this application first; reload it.", state=step.source)


def _update_with_rows(guard: dict[str, Any], changes: dict[str, Any], rows: list[Model]) -> int:
    """`Application.objects.filter(**guard).update(**changes)` and the INSERTs of `rows` in one statement
    (PostgreSQL); returns the rows updated. The SQL is the ORM's own for each part (the UPDATE as `update()` compiles
    it, each INSERT as `save()` would), compiled once per process for each set of columns (`_part`); a column left
    to its database default (an audit record's time) is left out of the INSERT, which then takes it."""
    update_sql, params = _update_part(guard, changes)
    parts = [f"WITH moved AS ({update_sql} RETURNING 1)"]
    for number, row in enumerate(rows):
        insert_sql, insert_params = _insert_part(row)
        head, values_clause, values = insert_sql.partition(" VALUES (")
        if not values_clause or not values.endswith(")"):
            raise ValueError(f"Unexpected INSERT of {row._meta.label}: {insert_sql[:80]}")
        parts.append(f", row{number} AS ({head} SELECT {values[:-1]} FROM moved)")  # noqa: S608 - the ORM's SQL
        params.extend(insert_params)
    with connection.cursor() as cursor:
        # The ORM's own SQL for each part, joined: no value enters the text.
        cursor.execute(" ".join([*parts, "SELECT COUNT(*) FROM moved"]), params)
        (updated,) = cursor.fetchone()
    return int(updated)


def created_with_rows(row: Model, riders: list[tuple[Model, str]]) -> None:
    """`row.save(force_insert=True)` and, once it has its id, the INSERTs of `riders` (each a row and the column of
    it that takes that id: a foreign key, or a text column such as an audit record's target): on PostgreSQL in one
    statement (an INSERT and its riders' INSERTs in one WITH, each rider taking the id the row's INSERT returns),
    elsewhere one after the other. The SQL is the ORM's own for each part, as `_update_with_rows` sends it."""
    if connection.vendor != "postgresql":
        row.save(force_insert=True)
        for rider, column in riders:
            _rider_takes(rider, column, row.pk)
            rider.save(force_insert=True)
        return
    meta = row._meta
    returning = list(meta.db_returning_fields)
    quote = connection.ops.quote_name
    row_sql, params = _insert_part(row)
    parts = [f"WITH created AS ({row_sql} RETURNING {', '.join(quote(cast(str, f.column)) for f in returning)})"]
    for number, (rider, column) in enumerate(riders):
        insert_sql, insert_params = _insert_part(rider)
        head, values_clause, values = insert_sql.partition(" VALUES (")
        placeholders = values[:-1].split(", ")
        if not values_clause or placeholders != ["%s"] * len(insert_params):
            raise ValueError(f"Unexpected INSERT of {rider._meta.label}: {insert_sql[:80]}")
        taking = cast(Field[Any, Any], rider._meta.get_field(column))
        position = _column_position(head, cast(str, taking.column), quote)
        is_text = taking.get_internal_type() in ("CharField", "TextField")
        placeholders[position] = f"created.{quote(cast(str, meta.pk.column))}" + ("::text" if is_text else "")
        del insert_params[position]
        parts.append(f", row{number} AS ({head} SELECT {', '.join(placeholders)} FROM created)")  # noqa: S608
        params.extend(insert_params)
    with connection.cursor() as cursor:
        # The ORM's own SQL for each part, joined: no value enters the text.
        cursor.execute(" ".join([*parts, "SELECT * FROM created"]), params)
        values_returned = cursor.fetchone()
    for returned, value in zip(returning, values_returned, strict=True):
        setattr(row, returned.attname, value)
    row._state.adding = False
    row._state.db = connection.alias
    for rider, column in riders:
        _rider_takes(rider, column, row.pk)


def _column_position(head: str, column: str, quote: Callable[[str], str]) -> int:
    """The position of `column` among the columns of an INSERT's head (`INSERT INTO "t" ("a", "b")`)."""
    columns = head[head.index("(") + 1 : head.rindex(")")].split(", ")
    return columns.index(quote(column))


def _rider_takes(rider: Model, column: str, value: Any) -> None:
    taking = cast(Field[Any, Any], rider._meta.get_field(column))
    setattr(rider, taking.attname, str(value) if taking.get_internal_type() in ("CharField", "TextField") else value)


# The SQL of a part of the guarded write (the UPDATE of a set of columns, the INSERT of a model's columns) as the ORM
# compiled it the first time, by what its text depends on: per process, as the columns are the code's, not the data's.
# False: a part whose parameters did not come out as `_part_params` computes them, compiled on every call instead.
_PARTS: dict[tuple[Any, ...], str | Literal[False]] = {}


def _update_part(guard: dict[str, Any], changes: dict[str, Any]) -> tuple[str, list[Any]]:
    """The ORM's UPDATE of `changes` on the application that `guard` finds, and its parameters."""
    meta = Application._meta
    key = ("update", connection.alias, *changes)
    values = [(meta.get_field(name), value, True) for name, value in changes.items()]
    values += [(meta.pk if name == "pk" else meta.get_field(name), guard[name], False) for name in sorted(guard)]
    known = _PARTS.get(key)
    if known:
        params = _part_params(values)
        if params is not None:
            return known, params
    query = cast(UpdateQuery, Application.objects.filter(**guard).query.chain(UpdateQuery))
    query.add_update_values(changes)
    sql, compiled = query.get_compiler(connection.alias).as_sql()
    return sql, _part_learnt(key, known, sql, list(compiled), values)


def _insert_part(row: Model) -> tuple[str, list[Any]]:
    """The ORM's INSERT of `row` (as `save()` sends it, but for the columns it leaves to the database), and its
    parameters."""
    meta = row._meta
    fields = [
        f for f in meta.local_concrete_fields
        if f is not meta.auto_field and not f.generated and not isinstance(getattr(row, f.attname), DatabaseDefault)
    ]  # fmt: skip
    key = ("insert", connection.alias, type(row), *(f.attname for f in fields))
    known = _PARTS.get(key)
    if known:
        params = _part_params([(f, f.pre_save(row, add=True), True) for f in fields])  # as the compiler takes them
        if params is not None:
            return known, params
    insert = InsertQuery(type(row))
    insert.insert_values(fields, [row])
    ((sql, compiled),) = insert.get_compiler(connection.alias).as_sql()
    # The values the compiler took, as `pre_save` left them on the row (a time set on creation is set once).
    values = [(f, getattr(row, f.attname), True) for f in fields]
    return sql, _part_learnt(key, known, sql, list(compiled), values)


def _part_params(values: list[tuple[Any, Any, bool]]) -> list[Any] | None:
    """The parameters the ORM gives these (field, value, saved) in this order: a saved value as `get_db_prep_save`
    prepares it, a looked-up one as an exact lookup does; None when a value is an expression (its SQL is its own)."""
    params = []
    for column, value, saved in values:
        if hasattr(value, "resolve_expression"):
            return None
        if saved:
            params.append(column.get_db_prep_save(value, connection))
        else:
            params.append(column.get_db_prep_value(column.get_prep_value(value), connection, prepared=True))
    return params


def _part_learnt(
    key: tuple[Any, ...], known: str | Literal[False] | None, sql: str, compiled: list[Any],
    values: list[tuple[Any, Any, bool]],
) -> list[Any]:  # fmt: skip
    """The compiled part's parameters; on its first compilation, its SQL kept when `_part_params` gives the same
    parameters (same types, same values) for the same SQL."""
    if known is None:
        ours = _part_params(values)
        same = ours is not None and len(ours) == len(compiled) and all(
            type(a) is type(b) and (a == b or getattr(a, "obj", a) == getattr(b, "obj", b))
            for a, b in zip(ours, compiled, strict=True)
        )  # fmt: skip
        _PARTS[key] = sql if same and sql.count("%s") == len(compiled) else False
    return compiled


def countersigns_requested(step: Step) -> None:
    Countersign.objects.bulk_create(
        Countersign(application=step.application, department=d) for d in step.countersigners
    )


def result_licence_issued(step: Step) -> None:
    """On approval of a service that issues a licence, the result is issued as a licence to the applicant party."""
    application = step.application
    if not application.service.issues_licence_type:
        return
    identifier = licence_issue_for(application=application, officer=step.officer)
    if identifier:
        Application.objects.filter(pk=application.pk).update(issued_licence=identifier)
        application.issued_licence = identifier


def fee_billed(step: Step) -> None:
    """On approval of a service with a fee, the city card issues the bill (赋码) in the service's department; the
    applicant is told its payment code. Paying it (card or channel) lets the application conclude (`fee_paid`)."""
    application = step.application
    amount = fee_amount(application)
    if amount == 0:
        return
    entity = application.legal_entity
    applicant = application.applicant
    bill = bill_issue(
        department_id=application.department_id, item=application.service.name[:80], amount=amount,
        payer_name=(entity.name if entity is not None else applicant.display_name or applicant.username)[:80],
        payer_index="" if entity is not None else applicant.id_number_index or "",
        reference=fee_reference(application), actor=Actor.system("hall"),
    )  # fmt: skip
    params = {"service": application.service.name, "amount": f"{amount // 100}.{amount % 100:02d}",
              "code": bill.payment_code}  # fmt: skip
    Message.objects.create(
        recipient_id=application.applicant_id, application=application, text=FEE_BILLED.format(**params),
        template=FEE_BILLED, params=params,
    )  # fmt: skip


# The applicant's message of a bill, stored with its parameters and shown in the reader's language.
FEE_BILLED = gettext_noop(
    "请缴纳{service}费用 {amount} 元，缴款码 {code}（市民卡或银行、网上渠道均可缴纳），缴费后即可办结。"
)


def conclusion_announced(step: Step) -> None:
    """Tell the apps above (credit: the 双公示 record) once the conclusion commits."""
    application = step.application
    decided = getattr(application, "decided_at", None) or _decided_at(application.pk).first()
    entity = application.legal_entity
    publish(
        ApplicationConcluded(
            application_id=application.pk, number=application.number or "", service_code=application.service.code,
            service_kind=application.service.kind, department_id=application.department_id, decision=step.source,
            decided_on=timezone.localdate(decided) if decided else step.today, concluded_on=step.today,
            party_kind="entity" if entity is not None else "person",
            party_key=entity.credit_code if entity is not None else (application.applicant.id_number_index or ""),
            issued_licence=application.issued_licence or "",
        )
    )  # fmt: skip


def _decided_at(application_id: Any) -> QuerySet[ApplicationEvent, Any]:
    """When the application was approved or refused: the time of its latest decision event."""
    return (
        ApplicationEvent.objects.filter(application_id=application_id, transition__in=("approve", "refuse"))
        .order_by("-id")
        .values_list("occurred_at", flat=True)
    )


def _locking(checked: bool, concluding: bool, clock: bool) -> Callable[[Any], QuerySet[Application]]:
    def build(application_id: Any) -> QuerySet[Application]:
        query = (
            Application.objects.select_for_update(of=("self",))
            .select_related("service", "department", "applicant", "legal_entity")
            .filter(pk=application_id)
        )
        if checked:
            query = query.annotate(checks_kept=Exists(ApplicationCheck.objects.filter(application=OuterRef("pk"))))
        if concluding:
            query = query.annotate(decided_at=Subquery(_decided_at(OuterRef("pk"))[:1]))
        if clock:
            stamp = RawSQL(working.STAMP_SQL, (), output_field=CharField())  # noqa: S611 - constant SQL, no value
            query = query.annotate(calendar_stamp=stamp)
        return query.order_by("pk")[:1]

    return build


# The locking read of every transition, compiled once per connection (kernel.prepared): its four joined tables'
# columns cost the ORM more CPU to compile than the database to answer. One per combination of what the guards read.
# Its plan is kept by PostgreSQL too (keep_plan): planning the joins and subqueries cost the backend 0.6-1.4 ms more
# CPU than running them, on every transition (ADR 0020).
# The placeholder is an id no application has (ids are positive).
_LOCKED_ID_PLACEHOLDER = -7_305_991_137
_LOCKING: dict[tuple[bool, bool, bool], PreparedLookup[Application]] = {
    (checked, concluding, clock): PreparedLookup(
        _locking(checked, concluding, clock), placeholder=_LOCKED_ID_PLACEHOLDER, keep_plan=True
    )
    for checked in (False, True)
    for concluding in (False, True)
    for clock in (False, True)
}


def application_locked(application_id: int, transition: ApplicationTransition) -> Application | None:
    """The application's row locked for `transition`, with its service, department, applicant and legal entity, and
    what the transition's guards and effects would otherwise read in statements of their own: whether any check
    rows are kept (`checks_kept`, for the checked transitions), when it was decided (`decided_at`, to conclude) and
    the working-day calendar's stamp (`calendar_stamp`, for a transition that starts or resumes the clock: the
    process's calendar is used when it is current, hall.calendar). One statement, compiled once per connection.
    The first two are read in the snapshot taken before the lock was granted; neither is written under this lock
    (check rows are opened by the officer's page), and a decision missing from the snapshot is read again."""
    lookup = _LOCKING[
        (transition.name in CHECKED_TRANSITIONS, transition.name == "conclude", transition.clock in ("start", "resume"))
    ]
    return lookup(int(application_id))


CLOCK_EFFECTS: dict[Clock, tuple[Callable[[Step], None], ...]] = {
    "": (),
    "start": (clock_started,),
    "stop": (clock_stopped,),
    "resume": (clock_resumed,),
}


def _t(
    name: str,
    sources: tuple[State, ...],
    target: State,
    role: Role,
    label: StrOrPromise,
    *,
    guards: tuple[Callable[[Step], None], ...] = (),
    before: tuple[Callable[[Step], None], ...] = (),
    after: tuple[Callable[[Step], None], ...] = (),
    needs_reason: bool = False,
    clock: Clock = "",
    any_window: bool = False,
) -> ApplicationTransition:
    """A row: its effects are `before` (preparing the changes), the clock's, the guarded write, then `after`."""
    return ApplicationTransition(
        name, frozenset(s.value for s in sources), target.value, role=role, label=label, guards=guards,
        effects=(*before, *CLOCK_EFFECTS[clock], state_written, *after), needs_reason=needs_reason, clock=clock,
        any_window=any_window,
    )  # fmt: skip


S = State
TRANSITIONS: Table[ApplicationTransition] = Table(
    (
        _t("submit", (S.DRAFT,), S.SUBMITTED, "applicant", _("提交申请"),
           guards=(materials_complete, assurance_enough, result_issuable), before=(licences_used, numbered)),
        _t("accept", (S.SUBMITTED,), S.ACCEPTED, "officer", _("受理"), guards=(checks_recorded,),
           before=(window_noted,), clock="start", any_window=True),
        _t("not_accept", (S.SUBMITTED,), S.NOT_ACCEPTED, "officer", _("不予受理"), needs_reason=True, any_window=True),
        _t("review", (S.ACCEPTED,), S.UNDER_REVIEW, "officer", _("开始审查")),
        _t("return_for_correction", (S.UNDER_REVIEW,), S.CORRECTION, "officer", _("退回补正"), needs_reason=True,
           clock="stop"),
        _t("resubmit", (S.CORRECTION,), S.UNDER_REVIEW, "applicant", _("补正后重新提交"),
           guards=(materials_complete, result_issuable), before=(licences_used,), clock="resume"),
        _t("request_countersign", (S.UNDER_REVIEW,), S.COUNTERSIGNING, "officer", _("发起会签"),
           guards=(countersigners_known,), after=(countersigns_requested,)),
        _t("countersign_complete", (S.COUNTERSIGNING,), S.UNDER_REVIEW, "system", _("会签完成"),
           guards=(countersigns_answered,)),
        _t("suspend", (S.UNDER_REVIEW,), S.SUSPENDED, "officer", _("挂起"), needs_reason=True, clock="stop"),
        _t("resume", (S.SUSPENDED,), S.UNDER_REVIEW, "officer", _("恢复办理"), clock="resume"),
        _t("approve", (S.UNDER_REVIEW,), S.APPROVED, "officer", _("准予许可"), guards=(checks_recorded,),
           before=(decision_reasoned,), after=(result_licence_issued, fee_billed)),
        _t("refuse", (S.UNDER_REVIEW,), S.REFUSED, "officer", _("不予许可"), needs_reason=True,
           guards=(checks_recorded,), before=(decision_reasoned,)),
        _t("conclude", (S.APPROVED, S.REFUSED), S.CONCLUDED, "officer", _("办结"), guards=(fee_paid,),
           after=(conclusion_announced,)),
    )
)  # fmt: skip

# States in which the clock runs: these can become overdue.
RUNNING = frozenset({S.ACCEPTED.value, S.UNDER_REVIEW.value, S.COUNTERSIGNING.value})
# States an officer still has to act on.
OPEN = frozenset({S.SUBMITTED.value, *RUNNING, S.SUSPENDED.value, S.APPROVED.value, S.REFUSED.value})
FINAL = frozenset({S.NOT_ACCEPTED.value, S.CONCLUDED.value})


def transitions_from(state: str, role: Role | None = None) -> list[ApplicationTransition]:
    """The transitions the table allows from `state` (for one role), in table order: the buttons a page shows."""
    return [t for t in TRANSITIONS.allowed_from(state) if role is None or t.role == role]
