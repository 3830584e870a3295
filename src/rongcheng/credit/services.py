"""Write use-cases of public credit. Each owns its transaction, checks who may act, writes its rows and its audit
record together; a refusal changes nothing and leaves a `denied` audit record.

Records come in by form, file (CSV) and API (`record_report`, `records_report_file`), and by themselves from the
service hall and the licences (`record_from_licence`, `record_from_conclusion`, subscribed in CreditConfig.ready).
A record is published the day it is received and due within PUBLICATION_WORKING_DAYS working days of its decision
on the city's calendar. The lists are kept by the credit office; the hall's decisions consult them through
`joint_measures_check`, registered as a hall decision check.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q
from django.db.models.sql import InsertQuery
from django.utils import timezone

from rongcheng.accounts.models import Department, User
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.credit.errors import (
    CreditDenied,
    CreditNotFound,
    CreditRecordInvalid,
    ListEntryInvalid,
    RepairInvalid,
    RepairRefused,
    ScreeningInvalid,
)
from rongcheng.credit.events import ListEntryChanged
from rongcheng.credit.intake import CleanRecord, masked_row, record_clean
from rongcheng.credit.models import (
    ListEntry,
    ListType,
    Measure,
    Memorandum,
    ProblemRow,
    ProblemState,
    Record,
    RecordKind,
    RepairRequest,
    RepairState,
    Report,
    Subject,
    SubjectKind,
)
from rongcheng.credit.permissions import is_credit_office, may_report, may_review_repairs, may_screen
from rongcheng.credit.selectors import (
    applications_to_rescreen,
    entries_in_force,
    open_applications_of,
    party_entries_in_force,
    report_bytes,
    subject_keys_of_user,
    subject_public_records,
)
from rongcheng.credit.workflow import TRANSITIONS, RepairStep
from rongcheng.hall.events import ApplicationConcluded
from rongcheng.hall.models import Application
from rongcheng.hall.selectors import city_today, working_days_add
from rongcheng.hall.services import CheckItem, CheckMeasure, application_checks_refresh
from rongcheng.kernel.context import current_address
from rongcheng.kernel.errors import DomainError, ValidationFailed
from rongcheng.kernel.events import publish
from rongcheng.kernel.identifiers import credit_code_validate, id_number_validate
from rongcheng.kernel.masking import mask_id_number, mask_name
from rongcheng.kernel.prepared import PreparedLookup
from rongcheng.licences.events import LicenceIssued
from rongcheng.licences.models import Licence
from rongcheng.licences.services import document_sign
from rongcheng.registries.models import LegalEntity, Person
from rongcheng.registries.services import person_index_for

PUBLICATION_WORKING_DAYS = 7  # 国办发〔2015〕51号: 双公示 within 7 working days of the decision
REPAIR_REVIEW_WORKING_DAYS = 10
MAX_FILE_ROWS = 10_000
MAX_SCREENING_ROWS = 200_000
CHECK_NAME = "credit.joint_measures"
SYSTEM = Actor.system("credit")


@contextmanager
def _refusal_audited(action: str, user: User, *, target_type: str, target_id: Any = "",
                     detail: Mapping[str, Any] | None = None) -> Iterator[None]:  # fmt: skip
    """Let a domain error through after recording it as denied, outside the transaction that rolled back."""
    try:
        yield
    except DomainError as exc:
        audit_record(
            action=action, actor=actor_from_user(user) if user is not None else SYSTEM, outcome="denied",
            target_type=target_type, target_id=str(target_id)[:64], source_address=current_address(),
            detail={**(detail or {}), "problem": exc.type_slug},
        )  # fmt: skip
        raise


def office_department() -> Department:
    """The credit office's department (settings.CREDIT_OFFICE_DEPARTMENT): it signs the credit reports."""
    department = Department.objects.filter(code=settings.CREDIT_OFFICE_DEPARTMENT).first()
    if department is None:
        raise CreditNotFound(f"The credit office department {settings.CREDIT_OFFICE_DEPARTMENT} does not exist.")
    return department


# ── subjects ────────────────────────────────────────────────────────────────────────────────────────────────────


def subject_key(kind: str, code: str) -> str:
    """The key of a subject: the credit code itself, or the blind index of the ID number."""
    return person_index_for(code) if kind == SubjectKind.PERSON else code


def subject_get_or_create(*, kind: str, key: str, name: str, code_masked: str) -> Subject:
    """The subject of that kind and key, created when there is none: a read, and for a new subject one INSERT that
    does nothing when another transaction created it meanwhile (then it is read again), without a savepoint."""
    subject = Subject.objects.filter(kind=kind, key=key).first()
    if subject is not None:
        return subject
    subject = Subject(kind=kind, key=key, name=name[:120], code_masked=code_masked[:18])
    if _inserted_once(subject):
        return subject
    return Subject.objects.get(kind=kind, key=key)


def _inserted_once(row: Subject | Record) -> bool:
    """INSERT the row unless a unique constraint holds one like it already (`ON CONFLICT DO NOTHING`): the ORM's own
    INSERT, its id set on the row when written. One statement, no savepoint, and nothing to roll back when the row
    was there: a repeated delivery writes nothing."""
    meta = row._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
    query = InsertQuery(type(row))
    query.insert_values(fields, [row])
    alias = router.db_for_write(type(row))
    compiler = query.get_compiler(using=alias)
    compiler.returning_fields = [meta.pk]
    ((sql, params),) = compiler.as_sql()
    values, returning, columns = sql.rpartition(" RETURNING ")
    if not returning:
        raise ValueError(f"Unexpected INSERT of {meta.label}: {sql[:80]}")
    with connections[alias].cursor() as cursor:
        # The ORM's INSERT with the upsert clause of both databases, which yields only to a unique constraint (not
        # SQLite's `INSERT OR IGNORE`, which would also pass over a NOT NULL or CHECK violation).
        cursor.execute(f"{values} ON CONFLICT DO NOTHING RETURNING {columns}", params)
        returned = cursor.fetchone()
    if returned is None:
        return False
    row.pk = returned[0]
    row._state.adding, row._state.db = False, alias
    return True


def _subject_for(clean: CleanRecord) -> Subject:
    if clean.subject_kind == SubjectKind.PERSON:
        return subject_get_or_create(
            kind=SubjectKind.PERSON, key=person_index_for(clean.subject_code), name=clean.subject_name,
            code_masked=mask_id_number(clean.subject_code),
        )  # fmt: skip
    return subject_get_or_create(
        kind=SubjectKind.ENTITY, key=clean.subject_code, name=clean.subject_name, code_masked=clean.subject_code
    )


# ── records ─────────────────────────────────────────────────────────────────────────────────────────────────────


def publication_due(decided_on: dt.date) -> dt.date:
    return working_days_add(decided_on, PUBLICATION_WORKING_DAYS)


def _record_write(clean: CleanRecord, department: Department, intake: str, today: dt.date) -> Record:
    """Inside the caller's transaction: the subject and the record, published today."""
    subject = _subject_for(clean)
    values = dict(clean.values)
    due_on = publication_due(values["decided_on"])
    rep_id = clean.legal_representative_id
    record = Record(
        kind=clean.kind, subject=subject, department=department, intake=intake[:10],
        source_reference=clean.source_reference, received_at=timezone.now(), published_on=today, due_on=due_on,
        late=today > due_on, legal_representative_index=person_index_for(rep_id) if rep_id else "",
        legal_representative_masked=mask_id_number(rep_id) if rep_id else "", **values,
    )  # fmt: skip
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        raise CreditRecordInvalid(
            "A record with this source reference was reported by the department already.",
            errors=[{"loc": ["source_reference"], "rule": "source_reference.unique", "msg": "already reported"}],
        ) from None
    return record


def _reporting_department(user: User, department_code: str | None) -> Department:
    code = department_code or ""
    department = Department.objects.filter(code=code).first() if code else getattr(user, "department", None)
    if department is None or not may_report(user, department.pk):
        raise CreditDenied("This account may not report credit records for that department.")
    return department


def _problem_keep(department: Department, intake: str, data: Mapping[str, Any], errors: list[dict[str, Any]],
                  *, batch: str = "", row_number: int | None = None) -> ProblemRow:  # fmt: skip
    return ProblemRow.objects.create(
        department=department, intake=intake, batch=batch[:64], row_number=row_number, data=masked_row(data),
        errors=errors, received_at=timezone.now(),
    )  # fmt: skip


def record_report(*, user: User, data: Mapping[str, Any], intake: str = "form",
                  department_code: str | None = None) -> Record:  # fmt: skip
    """One record reported by a department (page form or API). Invalid: CreditRecordInvalid, nothing stored but,
    for the API, the row in the department's problem queue."""
    with _refusal_audited("credit.record.report", user, target_type="credit.record",
                          detail={"intake": intake[:10]}):  # fmt: skip
        department = _reporting_department(user, department_code)
        today = city_today()
        try:
            clean = record_clean(data, today=today, department_name=department.name,
                                 department_code=department.credit_code)  # fmt: skip
        except CreditRecordInvalid as exc:
            if intake != "form":
                _problem_keep(department, intake, data, exc.errors)
            raise
        with transaction.atomic():
            record = _record_write(clean, department, intake, today)
            audit_record(
                action="credit.record.report", actor=actor_from_user(user), target_type="credit.record",
                target_id=record.pk, source_address=current_address(),
                detail={"kind": record.kind, "intake": intake[:10], "late": record.late},
            )  # fmt: skip
    return record


@dataclass
class FileOutcome:
    accepted: int = 0
    refused: int = 0
    problems: list[ProblemRow] = field(default_factory=list)


def _csv_rows(content: bytes, limit: int, error: type[ValidationFailed]) -> list[dict[str, str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(
            "The file is not UTF-8 text.", errors=[{"loc": ["file"], "rule": "file.encoding", "msg": "UTF-8 CSV"}]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        rows.append({str(k).strip(): (v or "") for k, v in row.items() if k is not None})
        if len(rows) > limit:
            raise error(f"At most {limit} rows per file.",
                        errors=[{"loc": ["file"], "rule": "file.rows", "msg": f"at most {limit} rows"}])  # fmt: skip
    if not rows:
        raise error("The file has no rows.", errors=[{"loc": ["file"], "rule": "file.empty", "msg": "no rows"}])
    return rows


def records_report_file(*, user: User, content: bytes, file_name: str = "",
                        department_code: str | None = None) -> FileOutcome:  # fmt: skip
    """A CSV file of records (header: the platform's field names or the national XK_/CF_ codes). Each valid row is
    stored; each invalid one goes to the department's problem queue with its row number and broken rules."""
    with _refusal_audited("credit.record.file", user, target_type="credit.record"):
        department = _reporting_department(user, department_code)
        rows = _csv_rows(content, MAX_FILE_ROWS, CreditRecordInvalid)
    today = city_today()
    batch = f"{timezone.now():%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
    outcome = FileOutcome()
    with transaction.atomic():
        for number, row in enumerate(rows, start=2):  # row 1 is the header
            try:
                clean = record_clean(row, today=today, department_name=department.name,
                                     department_code=department.credit_code)  # fmt: skip
                _record_write(clean, department, "file", today)
                outcome.accepted += 1
            except CreditRecordInvalid as exc:
                outcome.refused += 1
                outcome.problems.append(_problem_keep(department, "file", row, exc.errors, batch=batch,
                                                      row_number=number))  # fmt: skip
        audit_record(
            action="credit.record.file", actor=actor_from_user(user), target_type="credit.record", target_id=batch,
            source_address=current_address(),
            detail={"accepted": outcome.accepted, "refused": outcome.refused, "file": file_name[:100]},
        )  # fmt: skip
    return outcome


def problem_resolve(*, user: User, problem_id: int) -> ProblemRow:
    """The department marks a problem row handled (corrected and reported again, or withdrawn)."""
    with _refusal_audited("credit.problem.resolve", user, target_type="credit.problem", target_id=problem_id):
        return _problem_resolve(user, problem_id)


def _problem_resolve(user: User, problem_id: int) -> ProblemRow:
    with transaction.atomic():
        problem = ProblemRow.objects.select_for_update().filter(pk=problem_id).first()
        if problem is None or not may_report(user, problem.department_id):
            raise CreditNotFound("Your department has no such problem row.")
        if problem.state == ProblemState.RESOLVED:
            return problem
        problem.state = ProblemState.RESOLVED
        problem.resolved_at = timezone.now()
        problem.save(update_fields=["state", "resolved_at"])
        audit_record(
            action="credit.problem.resolve", actor=actor_from_user(user), target_type="credit.problem",
            target_id=problem.pk, source_address=current_address(),
        )  # fmt: skip
    return problem


def _entity_representative(entity: LegalEntity | None) -> tuple[str, str, str]:
    person = entity.legal_representative if entity is not None else None
    if person is None:
        return "", "", ""
    return person.name, person.id_number_index, person.id_number_masked


def _automatic_record(
    *, kind_of_subject: str, key: str, name: str, masked: str, department: Department, reference: str,
    decided_on: dt.date, intake: str, values: dict[str, Any],
) -> Record | None:  # fmt: skip
    """A licensing record the platform reports by itself; once per reference, whatever the number of deliveries
    (the record's INSERT does nothing when the department holds one of that reference already)."""
    today = city_today()
    entity = LegalEntity.objects.select_related("legal_representative").filter(credit_code=key).first() \
        if kind_of_subject == SubjectKind.ENTITY else None  # fmt: skip
    rep_name, rep_index, rep_masked = _entity_representative(entity)
    due_on = publication_due(decided_on)
    # No savepoint of its own when nested (the outbox's delivery): an error here undoes the enclosing block's work all
    # the same, and a record already there is written no second time (`_inserted_once`).
    with transaction.atomic(savepoint=False):
        subject = subject_get_or_create(kind=kind_of_subject, key=key, name=name, code_masked=masked)
        record = Record(
            kind=RecordKind.LICENSING, subject=subject, department=department, legal_representative=rep_name,
            legal_representative_index=rep_index, legal_representative_masked=rep_masked, decided_on=decided_on,
            public_until=max(values.pop("public_until"), decided_on), authority=department.name[:100],
            authority_code=department.credit_code, source_unit=department.name[:100],
            source_unit_code=department.credit_code, received_at=timezone.now(), published_on=max(today, decided_on),
            due_on=due_on, late=today > due_on, intake=intake, source_reference=reference, **values,
        )  # fmt: skip
        if not _inserted_once(record):
            return None
        audit_record(action="credit.record.report", actor=SYSTEM, target_type="credit.record", target_id=record.pk,
                     detail={"kind": record.kind, "intake": intake, "late": record.late})  # fmt: skip
    return record


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def record_from_licence(event: LicenceIssued) -> Record | None:
    """The 双公示 licensing record of an issued licence (subscribed to licences.events.LicenceIssued)."""
    return _record_from_licence(event)


def on_licence_issued(event: LicenceIssued) -> None:
    record_from_licence(event)


def on_application_concluded(event: ApplicationConcluded) -> None:
    record_from_conclusion(event)


def _record_from_licence(event: LicenceIssued) -> Record | None:
    licence = Licence.objects.select_related("department").filter(identifier=event.identifier).first()
    if licence is None:
        return None
    public_until = _years_after(licence.issued_on, 3)
    if licence.valid_until is not None and licence.valid_until > public_until:
        public_until = licence.valid_until
    return _automatic_record(
        kind_of_subject=licence.holder_kind, key=licence.holder_index, name=licence.holder_name,
        masked=licence.holder_code_masked, department=licence.department, reference=f"licence:{licence.identifier}",
        decided_on=licence.issued_on, intake="licence",
        values={"document_name": f"{licence.title}准予行政许可决定书"[:120], "document_number": licence.number,
                "category": "普通", "content": f"核发{licence.title}"[:4000], "licence_name": licence.title,
                "licence_number": licence.number, "valid_from": licence.valid_from,
                "valid_until": licence.valid_until, "public_until": public_until},
    )  # fmt: skip


# The reads of every concluded application's delivery, compiled once per connection (kernel.prepared); the
# application's placeholder is an id no application has.
_concluded_application: PreparedLookup[Application] = PreparedLookup(
    lambda application_id: (
        Application.objects.select_related("service", "department").filter(pk=application_id).order_by("pk")[:1]
    ),
    placeholder=-7_305_991_141,
)
_person_by_index: PreparedLookup[Person] = PreparedLookup(
    lambda index: Person.objects.filter(id_number_index=index).order_by("pk")[:1]
)


def record_from_conclusion(event: ApplicationConcluded) -> Record | None:
    """The 双公示 licensing record of an approved licensing application of the hall that issued no licence (a
    licence issued is recorded from its own event)."""
    if event.decision != "approved" or event.service_kind != "licensing" or event.issued_licence:
        return None
    application = _concluded_application(int(event.application_id))
    if application is None:
        return None
    if event.party_kind == SubjectKind.ENTITY:
        entity = LegalEntity.objects.filter(credit_code=event.party_key).first()
        name, masked = (entity.name if entity else event.party_key), event.party_key
    else:
        person = _person_by_index(event.party_key)
        if person is None:
            return None
        name, masked = person.name, person.id_number_masked
    return _automatic_record(
        kind_of_subject=event.party_kind, key=event.party_key, name=name, masked=masked,
        department=application.department, reference=f"hall:{event.number}", decided_on=event.decided_on,
        intake="hall",
        values={"document_name": f"{application.service.name}准予行政许可决定书"[:120],
                "document_number": event.number, "category": "普通",
                "content": f"准予{application.service.name}"[:4000],
                "public_until": _years_after(event.decided_on, 3)},
    )  # fmt: skip


# ── red and black lists ─────────────────────────────────────────────────────────────────────────────────────────


def _office_only(user: User) -> None:
    if not is_credit_office(user):
        raise CreditDenied("Only the credit office keeps the lists and memoranda.")


def memorandum_save(*, user: User, data: Mapping[str, Any]) -> Memorandum:
    """Create or replace a memorandum and its catalogue of measures ([{code, text, departments}])."""
    with _refusal_audited("credit.memorandum.save", user, target_type="credit.memorandum",
                          target_id=str(data.get("code", ""))):  # fmt: skip
        _office_only(user)
        errors = []
        code, title = str(data.get("code", "")).strip(), str(data.get("title", "")).strip()
        if not code or len(code) > 40:
            errors.append({"loc": ["code"], "rule": "field.required", "msg": "1 to 40 characters"})
        if not title or len(title) > 200:
            errors.append({"loc": ["title"], "rule": "field.required", "msg": "1 to 200 characters"})
        list_type = str(data.get("list_type", ""))
        if list_type not in ListType.values:
            errors.append({"loc": ["list_type"], "rule": "list_type.choice", "msg": "red or black"})
        signed_on: Any = data.get("signed_on")
        if isinstance(signed_on, str):
            try:
                signed_on = dt.date.fromisoformat(signed_on)
            except ValueError:
                signed_on = None
        if not isinstance(signed_on, dt.date):
            errors.append({"loc": ["signed_on"], "rule": "date.format", "msg": "a date YYYY-MM-DD"})
        measures = list(data.get("measures") or [])
        if not measures:
            errors.append({"loc": ["measures"], "rule": "field.required", "msg": "at least one measure"})
        codes = [str(m.get("code", "")).strip() for m in measures]
        if any(not c or len(c) > 40 for c in codes) or len(set(codes)) != len(codes):
            errors.append({"loc": ["measures"], "rule": "measures.codes", "msg": "each a distinct code"})
        if any(not str(m.get("text", "")).strip() or len(str(m.get("text", ""))) > 300 for m in measures):
            errors.append({"loc": ["measures"], "rule": "measures.text", "msg": "each 1 to 300 characters"})
        if errors:
            raise ListEntryInvalid("The memorandum is not valid.", errors=errors)
        with transaction.atomic():
            memo, created = Memorandum.objects.update_or_create(
                code=code, defaults={"title": title, "document_number": str(data.get("document_number", ""))[:60],
                                     "list_type": list_type, "signed_on": signed_on},
            )  # fmt: skip
            memo.measures.exclude(code__in=codes).delete()
            for measure in measures:
                Measure.objects.update_or_create(
                    memorandum=memo, code=str(measure["code"]).strip(),
                    defaults={"text": str(measure["text"]).strip(),
                              "departments": str(measure.get("departments", ""))[:200]},
                )  # fmt: skip
            audit_record(action="credit.memorandum.save", actor=actor_from_user(user),
                         target_type="credit.memorandum", target_id=code, source_address=current_address(),
                         detail={"created": created, "measures": len(codes)})  # fmt: skip
    return memo


def _date_value(value: Any, field_name: str, errors: list[dict[str, Any]], *, required: bool) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = str(value or "").strip()
    if not text:
        if required:
            errors.append({"loc": [field_name], "rule": "field.required", "msg": "required"})
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append({"loc": [field_name], "rule": "date.format", "msg": "a date YYYY-MM-DD"})
        return None


def list_entry_add(*, user: User, data: Mapping[str, Any]) -> ListEntry:
    """Put a subject on a red or black list under a memorandum of the same type, from `listed_on`."""
    with _refusal_audited("credit.list.add", user, target_type="credit.list_entry"):
        _office_only(user)
        errors: list[dict[str, Any]] = []
        list_type = str(data.get("list_type", ""))
        if list_type not in ListType.values:
            errors.append({"loc": ["list_type"], "rule": "list_type.choice", "msg": "red or black"})
        memo = Memorandum.objects.filter(code=str(data.get("memorandum", ""))).first()
        if memo is None or memo.list_type != list_type:
            errors.append({"loc": ["memorandum"], "rule": "memorandum.known", "msg": "a memorandum of this list type"})
        department = Department.objects.filter(code=str(data.get("department", ""))).first()
        if department is None:
            errors.append({"loc": ["department"], "rule": "department.known", "msg": "unknown department"})
        list_name = str(data.get("list_name", "")).strip()
        basis = str(data.get("legal_basis", "")).strip()
        name = str(data.get("subject_name", "")).strip()
        for field_name, value, limit in (("list_name", list_name, 100), ("legal_basis", basis, 2000),
                                         ("subject_name", name, 120)):  # fmt: skip
            if not value or len(value) > limit:
                errors.append({"loc": [field_name], "rule": "field.required", "msg": f"1 to {limit} characters"})
        kind = str(data.get("subject_kind", SubjectKind.ENTITY))
        code = str(data.get("subject_code", ""))
        try:
            if kind == SubjectKind.PERSON:
                code = id_number_validate(code, field="subject_code").value
            elif kind == SubjectKind.ENTITY:
                code = credit_code_validate(code, field="subject_code").value
            else:
                errors.append({"loc": ["subject_kind"], "rule": "subject_kind.choice", "msg": "entity or person"})
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        listed_on = _date_value(data.get("listed_on"), "listed_on", errors, required=True)
        removed_on = _date_value(data.get("removed_on"), "removed_on", errors, required=False)
        if listed_on and removed_on and removed_on <= listed_on:
            errors.append({"loc": ["removed_on"], "rule": "removed_on.order", "msg": "after the listing date"})
        if errors:
            raise ListEntryInvalid("The list entry is not valid.", errors=errors)
        if memo is None or department is None or listed_on is None:  # all reported in errors above
            raise ListEntryInvalid("The list entry is not valid.")
        with transaction.atomic():
            subject = subject_get_or_create(
                kind=kind, key=subject_key(kind, code), name=name,
                code_masked=mask_id_number(code) if kind == SubjectKind.PERSON else code,
            )  # fmt: skip
            entry = ListEntry.objects.create(
                number=f"{'HM' if list_type == ListType.RED else 'BM'}{listed_on:%Y%m%d}{secrets.token_hex(4).upper()}",
                list_type=list_type, list_name=list_name, subject=subject, department=department, legal_basis=basis,
                memorandum=memo, reason=str(data.get("reason", ""))[:4000], listed_on=listed_on, removed_on=removed_on,
            )  # fmt: skip
            rescreen = applications_to_rescreen(subject)
            audit_record(action="credit.list.add", actor=actor_from_user(user), target_type="credit.list_entry",
                         target_id=entry.number, source_address=current_address(),
                         detail={"list_type": list_type, "memorandum": memo.code,
                                 "open_applications": len(rescreen)})  # fmt: skip
            entry.rescreen = rescreen  # type: ignore[attr-defined]
            publish(ListEntryChanged(entry_number=entry.number, subject_id=subject.pk, change="added"))
    return entry


def list_entry_remove(*, user: User, number: str, removed_on: dt.date, reason: str) -> ListEntry:
    """Take an entry off its list from `removed_on` (exclusive of it: in force until the day before)."""
    with _refusal_audited("credit.list.remove", user, target_type="credit.list_entry", target_id=number):
        _office_only(user)
        reason = reason.strip()
        if not reason or len(reason) > 200:
            raise ListEntryInvalid(
                "A removal needs its reason.",
                errors=[{"loc": ["reason"], "rule": "field.required", "msg": "1 to 200 characters"}],
            )
        with transaction.atomic():
            entry = ListEntry.objects.select_for_update().filter(number=number).first()
            if entry is None:
                raise CreditNotFound("No list entry has this number.")
            if entry.removed_on is not None and entry.removed_on <= city_today():
                raise ListEntryInvalid(
                    "The entry is removed already.",
                    errors=[{"loc": ["number"], "rule": "entry.removed", "msg": "removed"}],
                )
            if removed_on <= entry.listed_on:
                raise ListEntryInvalid(
                    "The removal date must be after the listing date.",
                    errors=[{"loc": ["removed_on"], "rule": "removed_on.order", "msg": "after"}],
                )
            entry.removed_on, entry.removal_reason = removed_on, reason
            entry.save(update_fields=["removed_on", "removal_reason"])
            audit_record(
                action="credit.list.remove", actor=actor_from_user(user), target_type="credit.list_entry",
                target_id=entry.number, source_address=current_address(), detail={"removed_on": str(removed_on)},
            )  # fmt: skip
            publish(ListEntryChanged(entry_number=entry.number, subject_id=entry.subject_id, change="removed"))
    return entry


# ── the joint reward and punishment check in the hall (联合奖惩) ────────────────────────────────────────────────


LIST_LABELS = {"red": "红名单", "black": "黑名单"}


def joint_measures_check(application: Application, on: dt.date) -> list[CheckItem]:
    """The hall's decision check: every list entry in force on `on` for a party of the application (the entity and
    its legal representative, or the person applying), with the measures of its memorandum, for the officer to
    record. One query (`party_entries_in_force`): it runs inside every accept and decision."""
    items = []
    for entry in party_entries_in_force(
        legal_entity_id=application.legal_entity_id, applicant_id=application.applicant_id, on=on
    ):
        text = (
            f"{entry.role}「{entry.subject_name}」列入{LIST_LABELS[entry.list_type]}：{entry.list_name}"
            f"（认定部门：{entry.department}，列入日期：{entry.listed_on:%Y-%m-%d}，备忘录：{entry.memorandum_title}）"
        )
        items.append(
            CheckItem(
                reference=entry.number, text=text,
                measures=tuple(CheckMeasure(code, measure) for code, measure in entry.measures),
                detail={"list_type": entry.list_type, "list_name": entry.list_name, "legal_basis": entry.legal_basis,
                        "department": entry.department, "listed_on": f"{entry.listed_on:%Y-%m-%d}",
                        "memorandum": entry.memorandum_code},
            )
        )  # fmt: skip
    return items


def applications_rescreen(*, subject_id: int, why: str = "", on: dt.date | None = None) -> int:
    """Screen again the open applications of a subject whose list entries changed (the `credit.rescreen` job, on
    ListEntryChanged): each officer then sees the entries in force today, and unanswered measures of an entry no
    longer in force are withdrawn; what an officer recorded stays as seen. Returns how many applications changed."""
    subject = Subject.objects.filter(pk=subject_id).first()
    if subject is None:
        return 0
    changed = 0
    for application_id, _number in open_applications_of(subject):
        opened, withdrawn = application_checks_refresh(
            application_id=application_id, why=why or "信用名单变化，已重新核查联合奖惩", on=on
        )
        changed += bool(opened or withdrawn)
    return changed


def applications_rescreen_due(on: dt.date | None = None) -> int:
    """The daily re-screening: subjects whose entries come into force or end on `on` (entered or removed with a
    date ahead). Returns how many applications changed."""
    day = on or city_today()
    subjects = set(ListEntry.objects.filter(Q(listed_on=day) | Q(removed_on=day)).values_list("subject_id", flat=True))
    return sum(applications_rescreen(subject_id=subject_id, on=day) for subject_id in sorted(subjects))


# ── batch screening (比对) ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ScreeningRow:
    line: int
    name: str
    code_masked: str
    outcome: str  # red, black, both, none, invalid
    entries: tuple[str, ...]  # "黑名单：失信被执行人（福州市中级人民法院）"


def _screen_key(code: str) -> tuple[str, str, str] | None:
    code = code.strip()
    try:
        if code[:17].isdigit():
            value = id_number_validate(code, field="code").value
            return SubjectKind.PERSON, person_index_for(value), mask_id_number(value)
        value = credit_code_validate(code, field="code").value
        return SubjectKind.ENTITY, value, value
    except ValidationFailed:
        return None


def screening_run(*, user: User, content: bytes, on: dt.date | None = None) -> list[ScreeningRow]:
    """Screen a CSV of subjects (columns name, code: credit code or ID number) against the lists as of `on`: the
    outcome of each row (ID numbers masked). Matched in chunks, one query per thousand subjects."""
    with _refusal_audited("credit.screening.run", user, target_type="credit.screening"):
        if not may_screen(user):
            raise CreditDenied("This account may not screen subjects against the lists.")
        rows = _csv_rows(content, MAX_SCREENING_ROWS, ScreeningInvalid)
        if "code" not in rows[0]:
            raise ScreeningInvalid("The file needs a column named code.",
                                   errors=[{"loc": ["file"], "rule": "file.columns", "msg": "name, code"}])  # fmt: skip
    day = on or city_today()
    keyed = [(number, row, _screen_key(row.get("code", ""))) for number, row in enumerate(rows, start=2)]
    found: dict[tuple[str, str], list[ListEntry]] = {}
    valid = [k for _, _, k in keyed if k is not None]
    for start in range(0, len(valid), 1000):
        chunk = [(kind, key) for kind, key, _ in valid[start : start + 1000]]
        for entry in entries_in_force(chunk, day, measures=False):
            found.setdefault((entry.subject.kind, entry.subject.key), []).append(entry)
    result = []
    for number, row, key in keyed:
        name = row.get("name", "")[:120]
        if key is None:
            result.append(ScreeningRow(number, name, "", "invalid", ()))
            continue
        entries = found.get((key[0], key[1]), [])
        types = {e.list_type for e in entries}
        outcome = "both" if len(types) == 2 else (types.pop() if types else "none")
        shown = name if key[0] == SubjectKind.ENTITY else mask_name(name)
        result.append(ScreeningRow(number, shown, key[2], outcome, tuple(
            f"{LIST_LABELS[e.list_type]}：{e.list_name}（{e.department.name}）" for e in entries)))  # fmt: skip
    audit_record(action="credit.screening.run", actor=actor_from_user(user), target_type="credit.screening",
                 source_address=current_address(),
                 detail={"rows": len(result), "as_of": str(day),
                         "matched": sum(r.outcome not in ("none", "invalid") for r in result)})  # fmt: skip
    return result


# ── credit repair (信用修复) ────────────────────────────────────────────────────────────────────────────────────


def repair_request(*, user: User, record_id: int, statement: str, materials: str) -> RepairRequest:
    """The subject (signed in: the person, or a representative of the entity) asks to repair one of its penalty
    records. Another subject's record is refused as unknown; nothing is written."""
    with _refusal_audited("credit.repair.submit", user, target_type="credit.record", target_id=record_id):
        statement, materials = statement.strip(), materials.strip()
        errors = []
        if not statement or len(statement) > 4000:
            errors.append({"loc": ["statement"], "rule": "field.required", "msg": "1 to 4000 characters"})
        if not materials or len(materials) > 4000:
            errors.append({"loc": ["materials"], "rule": "field.required", "msg": "1 to 4000 characters"})
        keys = subject_keys_of_user(user)
        record = Record.objects.select_related("subject").filter(pk=record_id).first()
        if record is None or (record.subject.kind, record.subject.key) not in keys:
            raise CreditNotFound("You have no credit record with this number.")
        if record.kind not in (RecordKind.PENALTY, RecordKind.JUDGEMENT):
            raise RepairRefused("Only penalty and judgement records can be repaired.")
        if errors:
            raise RepairInvalid("The repair request is not complete.", errors=errors)
        today = city_today()
        with transaction.atomic():
            list(Record.objects.select_for_update().filter(pk=record.pk).values_list("pk", flat=True))
            if RepairRequest.objects.filter(record=record, state=RepairState.SUBMITTED).exists():
                raise RepairRefused("A repair request for this record is already under review.")
            request = RepairRequest(
                record=record, applicant=user, statement=statement, materials=materials, submitted_on=today,
                due_on=working_days_add(today, REPAIR_REVIEW_WORKING_DAYS),
            )  # fmt: skip
            TRANSITIONS["submit"].check(RepairStep(user=user, request=request, reason=""))
            request.save()
            audit_record(action="credit.repair.submit", actor=actor_from_user(user), target_type="credit.repair",
                         target_id=request.pk, source_address=current_address(),
                         detail={"record": record.pk})  # fmt: skip
    return request


def repair_decide(*, user: User, request_id: int, transition: str, reason: str = "") -> RepairRequest:
    """The credit office approves (the record leaves public view) or rejects (with the reason) a repair."""
    with _refusal_audited("credit.repair.decide", user, target_type="credit.repair", target_id=request_id,
                          detail={"transition": transition[:20]}):  # fmt: skip
        if not may_review_repairs(user):
            raise CreditDenied("Only the credit office reviews repair requests.")
        step = TRANSITIONS.get(transition)
        if step is None or step.role != "office":
            raise RepairInvalid(
                "approve or reject.",
                errors=[{"loc": ["transition"], "rule": "transition.known", "msg": "approve, reject"}],
            )
        with transaction.atomic():
            request = RepairRequest.objects.select_for_update().filter(pk=request_id).first()
            if request is None:
                raise CreditNotFound("No repair request has this number.")
            if not step.allows_from(request.state):
                raise RepairRefused("This repair request is decided already.")
            context = RepairStep(user=user, request=request, reason=reason)
            step.check(context)
            step.carry_out(context)
            audit_record(action=f"credit.repair.{transition}", actor=actor_from_user(user),
                         target_type="credit.repair", target_id=request.pk, source_address=current_address(),
                         detail={"record": request.record_id})  # fmt: skip
        request.refresh_from_db()
    return request


# ── credit reports (信用报告) ───────────────────────────────────────────────────────────────────────────────────


def report_generate(*, user: User, subject_id: int) -> Report:
    """A signed credit report of a subject, for the subject signed in (or the credit office): its public records and
    list entries in force today, names of persons masked. Signed with the credit office's SM2 key."""
    with _refusal_audited("credit.report.generate", user, target_type="credit.subject", target_id=subject_id):
        subject = Subject.objects.filter(pk=subject_id).first()
        if subject is None or not ((subject.kind, subject.key) in subject_keys_of_user(user) or is_credit_office(user)):
            raise CreditNotFound("You have no credit subject with this number.")
        office = office_department()
        today, now = city_today(), timezone.now().replace(microsecond=0)
        number = f"XYBG{now:%Y%m%d}{secrets.token_hex(5).upper()}"
        person = subject.kind == SubjectKind.PERSON
        content: dict[str, Any] = {
            "number": number, "issuer": office.name, "issuer_code": office.credit_code, "as_of": f"{today:%Y-%m-%d}",
            "generated_at": now.isoformat(),
            "subject": {"kind": subject.kind, "name": mask_name(subject.name) if person else subject.name,
                        "code": subject.code_masked},
            "records": [
                {"kind": r.kind, "document_number": r.document_number, "content": r.content[:500],
                 "decided_on": f"{r.decided_on:%Y-%m-%d}", "authority": r.authority, "category": r.category}
                for r in subject_public_records(subject, today)
            ],
            "lists": [
                {"number": e.number, "list_type": e.list_type, "list_name": e.list_name, "department":
                 e.department.name, "listed_on": f"{e.listed_on:%Y-%m-%d}"}
                for e in entries_in_force([(subject.kind, subject.key)], today, measures=False)
            ],
        }  # fmt: skip
        signed = document_sign(department_id=office.pk, content=report_bytes(content))
        with transaction.atomic():
            report = Report.objects.create(
                number=number, subject=subject, content=content, key_id=signed.key_id, signature=signed.signature,
                generated_at=now, requested_by=user,
            )  # fmt: skip
            audit_record(action="credit.report.generate", actor=actor_from_user(user), target_type="credit.report",
                         target_id=number, source_address=current_address(),
                         detail={"key_id": signed.key_id})  # fmt: skip
    return report
