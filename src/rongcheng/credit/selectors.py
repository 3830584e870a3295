"""Read use-cases of public credit: the public search and subject pages, a subject's own full record, list matching
as of a day, statistics per department, the problem queue, report verification."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Prefetch, Q

from rongcheng.accounts.models import Department
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.credit.errors import CreditDenied, CreditNotFound
from rongcheng.credit.models import (
    ListEntry,
    Measure,
    ProblemRow,
    ProblemState,
    Record,
    RepairRequest,
    RepairState,
    Report,
    Subject,
    SubjectKind,
)
from rongcheng.credit.permissions import is_credit_office, may_report, may_review_repairs
from rongcheng.hall.models import Application, ApplicationCheck, State
from rongcheng.hall.selectors import city_today
from rongcheng.identity.selectors import representation_list_for_user
from rongcheng.kernel.context import Account
from rongcheng.kernel.masking import mask_name
from rongcheng.kernel.prepared import kept_plan
from rongcheng.licences.selectors import signature_verifies

SEARCH_LIMIT = 20
CHECK_SOURCE = "credit.joint_measures"


def report_bytes(content: Mapping[str, Any]) -> bytes:
    """The canonical bytes a report's signature covers: its content as sorted, compact UTF-8 JSON."""
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def in_force(on: dt.date) -> Q:
    return Q(listed_on__lte=on) & (Q(removed_on__isnull=True) | Q(removed_on__gt=on))


def _subjects_keyed(keys: Iterable[tuple[str, str]]) -> Q | None:
    """The subjects with these (kind, key), as a condition on a list entry's subject: one (kind, key IN …) term per
    kind, each read on the unique (kind, key) index. None when there is no key."""
    by_kind: dict[str, list[str]] = {}
    for kind, key in keys:
        by_kind.setdefault(kind, []).append(key)
    match = None
    for kind, wanted in by_kind.items():
        term = Q(subject__kind=kind, subject__key__in=wanted)
        match = term if match is None else match | term
    return match


def entries_in_force(keys: Iterable[tuple[str, str]], on: dt.date, *, measures: bool = True) -> list[ListEntry]:
    """The list entries in force on `on` of the subjects with these (kind, key): the subjects by their unique index
    joined to their entries by the subject index in one query, and one query for the measures when there are
    entries. Never a scan of the lists, whatever their size."""
    match = _subjects_keyed(keys)
    if match is None:
        return []
    qs = (
        ListEntry.objects.filter(in_force(on))
        .filter(match)
        .select_related("subject", "department", "memorandum")
        .order_by("list_type", "listed_on", "id")
    )
    if measures:
        qs = qs.prefetch_related(Prefetch("memorandum__measures", queryset=Measure.objects.order_by("code")))
    return list(qs)


# ── the joint-measure check's one query ────────────────────────────────────────────────────────────────────────

# The parties an application's decision checks, as (kind, key, role) rows: the entity and its legal representative
# (when the registry knows one's ID number index), or the person applying (when the account has one).
_ENTITY_PARTIES = """
    SELECT CAST(%s AS TEXT) AS party_kind, le.credit_code AS party_key, CAST(%s AS TEXT) AS party_role
      FROM registries_legalentity le WHERE le.id = %s
    UNION ALL
    SELECT CAST(%s AS TEXT), rep.id_number_index, CAST(%s AS TEXT)
      FROM registries_legalentity le JOIN registries_person rep ON rep.id = le.legal_representative_id
     WHERE le.id = %s AND rep.id_number_index <> ''"""
_PERSON_PARTIES = """
    SELECT CAST(%s AS TEXT) AS party_kind, u.id_number_index AS party_key, CAST(%s AS TEXT) AS party_role
      FROM accounts_user u WHERE u.id = %s AND u.id_number_index <> ''"""
# Their subjects (unique kind, key index), the entries in force on the day (subject, listed_on index), each with its
# department, memorandum and the memorandum's measures (one row per measure; none when it has no measure).
_PARTY_ENTRIES = """
    WITH party AS ({parties})
    SELECT party.party_role, s.name, e.number, e.list_type, e.list_name, e.legal_basis, e.listed_on, d.name,
           m.code, m.title, ms.code, ms.text
      FROM party
      JOIN credit_subject s ON s.kind = party.party_kind AND s.key = party.party_key
      JOIN credit_listentry e
        ON e.subject_id = s.id AND e.listed_on <= %s AND (e.removed_on IS NULL OR e.removed_on > %s)
      JOIN accounts_department d ON d.id = e.department_id
      JOIN credit_memorandum m ON m.id = e.memorandum_id
      LEFT JOIN credit_measure ms ON ms.memorandum_id = m.id
     ORDER BY e.list_type, e.listed_on, e.id, ms.code"""
_PARTY_ENTRIES_SQL = {
    True: _PARTY_ENTRIES.format(parties=_ENTITY_PARTIES),
    False: _PARTY_ENTRIES.format(parties=_PERSON_PARTIES),
}


@dataclass(frozen=True)
class PartyEntry:
    """A list entry in force for a party of an application, as the joint-measure check shows it to the officer."""

    role: str  # 申请单位, 法定代表人 or 申请人
    subject_name: str
    number: str
    list_type: str
    list_name: str
    legal_basis: str
    listed_on: dt.date
    department: str
    memorandum_code: str
    memorandum_title: str
    measures: list[tuple[str, str]]  # (code, text) by code


def party_entries_in_force(*, legal_entity_id: int | None, applicant_id: int, on: dt.date) -> list[PartyEntry]:
    """The list entries in force on `on` of an application's parties (the entity and its legal representative, or
    the applicant), with their measures: one indexed query whatever the size of the lists (the parties by primary
    key, their subjects by the unique (kind, key) index, the entries by the (subject, listed_on) index), and no
    model instance made. Ordered as `entries_in_force` orders them, the measures by code. On PostgreSQL its plan is
    kept per session (kernel.prepared.kept_plan): planning its six joins cost the backend 0.58 ms, running it
    0.07 ms, twice an application (acceptance and decision)."""
    if legal_entity_id is not None:
        params: list[Any] = [SubjectKind.ENTITY.value, "申请单位", legal_entity_id,
                             SubjectKind.PERSON.value, "法定代表人", legal_entity_id]  # fmt: skip
    else:
        params = [SubjectKind.PERSON.value, "申请人", applicant_id]
    values = [*params, on, on]
    sql = _PARTY_ENTRIES_SQL[legal_entity_id is not None]
    with connection.cursor() as cursor:
        cursor.execute(kept_plan(sql, len(values)), values)
        rows = cursor.fetchall()
    entries: list[PartyEntry] = []
    for role, name, number, list_type, list_name, basis, listed_on, department, memo, title, code, text in rows:
        if not entries or entries[-1].number != number:
            if isinstance(listed_on, str):  # a driver that hands dates back as text
                listed_on = dt.date.fromisoformat(listed_on)
            entries.append(PartyEntry(role, name, number, list_type, list_name, basis, listed_on, department, memo,
                                      title, []))  # fmt: skip
        if code is not None:
            entries[-1].measures.append((code, text))
    return entries


# Hall states whose acceptance or decision is still ahead: the check runs again there (re-screening on a list change).
DECISION_AHEAD = (State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW, State.CORRECTION, State.COUNTERSIGNING,
                  State.SUSPENDED)  # fmt: skip


def applications_to_rescreen(subject: Subject, *, limit: int = 500) -> list[str]:
    """Numbers of the hall's open applications whose party is the subject (or, for a person, an entity it is the
    legal representative of): the joint-measure check puts a new entry before their officers at the next accept or
    decision."""
    return [number or "" for _, number in open_applications_of(subject, limit=limit)]


def open_applications_of(subject: Subject, *, limit: int = 500) -> list[tuple[int, str | None]]:
    """(id, number) of the hall's applications whose acceptance or decision is ahead and whose party is the
    subject (or, for a person, an entity it is the legal representative of), oldest first."""
    if subject.kind == SubjectKind.ENTITY:
        party = Q(legal_entity__credit_code=subject.key)
    else:
        party = Q(applicant__id_number_index=subject.key, legal_entity__isnull=True) | Q(
            legal_entity__legal_representative__id_number_index=subject.key
        )
    rows = Application.objects.filter(party, state__in=DECISION_AHEAD).order_by("id").values_list("id", "number")
    return list(rows[:limit])


def public_records_filter(on: dt.date) -> Q:
    return Q(repaired_at__isnull=True, public_until__gte=on)


def subject_public_records(subject: Subject, on: dt.date) -> list[Record]:
    return list(
        Record.objects.filter(public_records_filter(on), subject=subject)
        .select_related("department", "subject")
        .order_by("-decided_on", "-id")[:200]
    )


@dataclass(frozen=True)
class SubjectHit:
    id: int
    kind: str
    name: str
    code: str


def subject_shown(subject: Subject) -> SubjectHit:
    """How the public sees a subject: a person's name and ID number masked."""
    return _shown(subject)


def _shown(subject: Subject) -> SubjectHit:
    person = subject.kind == SubjectKind.PERSON
    return SubjectHit(subject.pk, subject.kind, mask_name(subject.name) if person else subject.name,
                      subject.code_masked)  # fmt: skip


def subjects_search(query: str, *, limit: int = SEARCH_LIMIT) -> list[SubjectHit]:
    """By an entity's credit code (exact) or by name (a prefix of at least two characters); persons masked. A
    person is never found by ID number here."""
    query = query.strip()
    if len(query) < 2:
        return []
    if len(query) == 18 and not query[:17].isdigit():
        qs = Subject.objects.filter(kind=SubjectKind.ENTITY, key=query.upper())
    else:
        qs = Subject.objects.filter(name__startswith=query[:120])
    return [_shown(s) for s in qs.order_by("name", "id")[:limit]]


@dataclass
class SubjectPage:
    subject: SubjectHit
    records: list[Record]
    entries: list[ListEntry]


def subject_public(subject_id: int) -> SubjectPage:
    subject = Subject.objects.filter(pk=subject_id).first()
    if subject is None:
        raise CreditNotFound("No credit subject has this number.")
    today = city_today()
    return SubjectPage(_shown(subject), subject_public_records(subject, today),
                       entries_in_force([(subject.kind, subject.key)], today, measures=False))  # fmt: skip


def _department_of(user: Account) -> int | None:
    """The department of a signed-in staff account; None for a visitor or an account of none."""
    return user.department_id if is_signed_in(user) else None


def subject_keys_of_user(user: Account) -> set[tuple[str, str]]:
    """The subjects a signed-in account is: its own person (by the bound ID number's index) and the entities it
    represents as legal representative or agent, now."""
    if not is_signed_in(user):
        return set()
    keys: set[tuple[str, str]] = set()
    index = user.id_number_index
    if index:
        keys.add((SubjectKind.PERSON.value, index))
    for representation in representation_list_for_user(user=user):
        if representation.user_id == user.pk:
            keys.add((SubjectKind.ENTITY.value, representation.legal_entity.credit_code))
    return keys


@dataclass
class OwnRecord:
    subject: Subject
    records: list[Record]
    entries: list[ListEntry]
    repairs: list[RepairRequest]
    reports: list[Report]


def subject_own(user: Account) -> list[OwnRecord]:
    """The full record of each subject the signed-in account is: every record (repaired and expired ones too), every
    list entry past and present, the repair requests and the reports."""
    keys = subject_keys_of_user(user)
    if not keys:
        return []
    query = Q()
    for kind, key in keys:
        query |= Q(kind=kind, key=key)
    result = []
    for subject in Subject.objects.filter(query).order_by("kind", "name"):
        result.append(
            OwnRecord(
                subject,
                list(subject.records.select_related("department").order_by("-decided_on", "-id")[:500]),
                list(subject.entries.select_related("department", "memorandum").order_by("-listed_on")),
                list(RepairRequest.objects.filter(record__subject=subject).select_related("record")[:100]),
                list(Report.objects.filter(subject=subject).order_by("-generated_at")[:20]),
            )
        )
    return result


@dataclass(frozen=True)
class Verification:
    report: Report | None
    authentic: bool


def report_verify(number: str) -> Verification:
    """The report of this number and whether its signature verifies over its content under the published key."""
    report = Report.objects.select_related("subject").filter(number=number.strip()[:40]).first()
    if report is None:
        return Verification(None, False)
    authentic = signature_verifies(key_id=report.key_id, content=report_bytes(report.content),
                                   signature=bytes(report.signature))  # fmt: skip
    return Verification(report, authentic)


def document_verify(*, content: Mapping[str, Any], key_id: str, signature_b64: str) -> bool:
    """A report as its holder kept it (content, key id, base64 signature): does it verify?"""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    return signature_verifies(key_id=key_id, content=report_bytes(content), signature=signature)


@dataclass(frozen=True)
class DepartmentFigures:
    department: str
    code: str
    reported: int
    on_time: int
    late: int
    problems_open: int


def department_statistics(user: Account) -> list[DepartmentFigures]:
    """Records reported, published on time and late, and open problem rows per department: every department for
    the credit office, the account's own for a reporting department."""
    own = _department_of(user)
    if is_credit_office(user):
        departments = None
    elif own is not None and may_report(user, own):
        departments = [own]
    else:
        raise CreditDenied("Statistics are for the credit office and the reporting departments.")
    records = Record.objects.all() if departments is None else Record.objects.filter(department_id__in=departments)
    counts = {
        row["department_id"]: row
        for row in records.values("department_id").annotate(n=Count("id"), late_n=Count("id", filter=Q(late=True)))
    }
    problems = ProblemRow.objects.filter(state=ProblemState.OPEN)
    if departments is not None:
        problems = problems.filter(department_id__in=departments)
    open_by = {r["department_id"]: r["n"] for r in problems.values("department_id").annotate(n=Count("id"))}
    ids = set(counts) | set(open_by)
    result = []
    for department in Department.objects.filter(pk__in=ids).order_by("code"):
        row = counts.get(department.pk, {"n": 0, "late_n": 0})
        result.append(DepartmentFigures(department.name, department.code, row["n"], row["n"] - row["late_n"],
                                        row["late_n"], open_by.get(department.pk, 0)))  # fmt: skip
    return result


def late_records(user: Account, *, limit: int = 100) -> list[Record]:
    """Records published after their due date (overdue), for the credit office or the department's own."""
    qs = Record.objects.filter(late=True).select_related("department", "subject").order_by("-published_on", "-id")
    if not is_credit_office(user):
        own = _department_of(user)
        if own is None or not may_report(user, own):
            raise CreditDenied("Overdue records are for the credit office and the reporting departments.")
        qs = qs.filter(department_id=own)
    return list(qs[:limit])


def problems_of_department(user: Account, *, state: str = ProblemState.OPEN, limit: int = 200) -> list[ProblemRow]:
    department_id = _department_of(user)
    if department_id is None or not may_report(user, department_id):
        raise CreditDenied("The problem queue is for the reporting department.")
    return list(ProblemRow.objects.filter(department_id=department_id, state=state)[:limit])


def repairs_for_review(user: Account, *, limit: int = 200) -> list[RepairRequest]:
    if not may_review_repairs(user):
        raise CreditDenied("Only the credit office reviews repair requests.")
    return list(
        RepairRequest.objects.filter(state=RepairState.SUBMITTED)
        .select_related("record__subject", "record__department")
        .order_by("due_on", "id")[:limit]
    )


def list_entries(user: Account, *, limit: int = 200) -> list[ListEntry]:
    if not is_credit_office(user):
        raise CreditDenied("Only the credit office keeps the lists.")
    return list(ListEntry.objects.select_related("subject", "department", "memorandum").order_by("-id")[:limit])


def joint_measure_feedback(user: Account, *, limit: int = 200) -> list[ApplicationCheck]:
    """What the hall's officers recorded for the joint measures (the feedback to the credit office)."""
    if not is_credit_office(user):
        raise CreditDenied("The joint-measure feedback is for the credit office.")
    return list(
        ApplicationCheck.objects.filter(source=CHECK_SOURCE, recorded_at__isnull=False)
        .select_related("application")
        .order_by("-recorded_at")[:limit]
    )
