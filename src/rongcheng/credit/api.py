"""Public credit over HTTP: /api/v1/credit/.

Anyone may search subjects, read a subject's public record and verify a credit report (rate-limited per address).
Reporting departments (scope `credit:report`, permission `credit.report_record`) report records one by one or as a
CSV file and read their problem queue; the credit office (scope `credit:office`, permission `credit.manage_lists`)
keeps the lists and memoranda and screens subjects. A signed-in subject reads their full record, asks for repair
and for a signed report. ID numbers travel in bodies, never in paths. The same services as the pages.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, File, Path, Router, Schema, Status, UploadedFile

from rongcheng.accounts.api_auth import api_auth
from rongcheng.credit import selectors, services
from rongcheng.credit.errors import CreditNotFound, ScreeningInvalid
from rongcheng.credit.permissions import LISTS_PERMISSION, OFFICE_SCOPE, REPORT_PERMISSION, REPORT_SCOPE
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.ratelimit import OPENAPI_RATE_LIMITED, rate_limit_request
from rongcheng.kernel.schema_types import NOT_BLANK, RecordId

router = Router(tags=["credit"])
EntryNumber = Annotated[str, Path(pattern=r"^[A-Z0-9]{1,40}$", description="a list entry's number (BM…, HM…)")]
ReportNumber = Annotated[str, Path(pattern=r"^[A-Z0-9]{1,40}$", description="a credit report's number (XYBG…)")]
MemorandumCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,40}$", description="a memorandum's code")]
UPLOAD_CEILING = 20 * 2**20

REPORT_AUTH = api_auth("credit.record.report", scope=REPORT_SCOPE, permission=REPORT_PERMISSION)
FILE_AUTH = api_auth("credit.record.file", scope=REPORT_SCOPE, permission=REPORT_PERMISSION)
PROBLEMS_AUTH = api_auth("credit.problem.read", scope=REPORT_SCOPE, permission=REPORT_PERMISSION)
RESOLVE_AUTH = api_auth("credit.problem.resolve", scope=REPORT_SCOPE, permission=REPORT_PERMISSION)
STATS_AUTH = api_auth("credit.statistics.read", scope=REPORT_SCOPE)
LISTS_AUTH = api_auth("credit.list.write", scope=OFFICE_SCOPE, permission=LISTS_PERMISSION)
SCREEN_AUTH = api_auth("credit.screening.run", scope=OFFICE_SCOPE)
SUBJECT_AUTH = api_auth("credit.subject.own", scope="hall:apply")


def _caller(request: HttpRequest) -> Any:
    user = request.auth  # type: ignore[attr-defined]
    note_actor(user)
    return user


class RecordIn(Schema):
    """A 双公示 record; the national codes XK_*/CF_* may be used as keys of a CSV file, not here."""

    kind: Literal["licensing", "penalty", "honour", "judgement", "tax_rating"]
    subject_kind: Literal["entity", "person"] = "entity"
    subject_name: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 120})
    subject_code: str = Field(description="unified social credit code, or the person's ID number", max_length=18)
    legal_representative: str = Field("", max_length=50)
    legal_representative_id: str = Field("", max_length=18)
    document_name: str = Field("", max_length=120)
    document_number: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 100})
    category: str = Field("", max_length=40, description="许可类别 or 处罚类别")
    content: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 4000})
    licence_name: str = Field("", max_length=120)
    licence_number: str = Field("", max_length=120)
    violation_type: str = Field("", max_length=120)
    violation_facts: str = Field("", max_length=4000)
    basis: str = Field("", max_length=2000)
    fine_amount: str = Field("", max_length=20, description="万元, up to 6 decimals")
    confiscated_amount: str = Field("", max_length=20, description="万元, up to 6 decimals")
    licence_withheld: str = Field("", max_length=200)
    decided_on: str = Field(description="YYYY-MM-DD; not after today", max_length=10)
    valid_from: str = Field("", max_length=10)
    valid_until: str = Field("", max_length=10)
    public_until: str = Field("", max_length=10, description="公示截止期; default by kind")
    authority_code: str = Field("", max_length=18, description="default: the reporting department's")
    status: Literal["valid", "invalid"] = "valid"
    note: str = Field("", max_length=2000)
    source_reference: str = Field("", max_length=100, description="unique per department; default kind:number")
    rating: str = Field("", max_length=1, description="tax_rating: A, B, M, C or D")
    court: str = Field("", max_length=100, description="judgement: the court")


class CreditRecordOut(Schema):
    id: int
    kind: str
    subject_name: str = Field(description="masked for persons")
    subject_code: str = Field(description="masked for persons")
    document_number: str
    category: str
    content: str
    licence_name: str
    licence_number: str
    fine_amount: Decimal | None
    decided_on: dt.date
    public_until: dt.date
    authority: str
    published_on: dt.date
    due_on: dt.date
    late: bool


def _record_out(record: Any) -> dict[str, Any]:
    subject = selectors.subject_shown(record.subject)
    return {
        "id": record.pk, "kind": record.kind, "subject_name": subject.name, "subject_code": subject.code,
        "document_number": record.document_number, "category": record.category, "content": record.content,
        "licence_name": record.licence_name, "licence_number": record.licence_number,
        "fine_amount": record.fine_amount, "decided_on": record.decided_on, "public_until": record.public_until,
        "authority": record.authority, "published_on": record.published_on, "due_on": record.due_on,
        "late": record.late,
    }  # fmt: skip


class ProblemOut(Schema):
    id: int
    intake: str
    batch: str
    row_number: int | None
    data: dict[str, str] = Field(description="the row as sent, ID numbers masked")
    errors: list[dict[str, Any]]
    state: str
    received_at: dt.datetime


class FileOut(Schema):
    accepted: int
    refused: int
    problems: list[ProblemOut]


class SubjectOut(Schema):
    id: int
    kind: str
    name: str = Field(description="masked for persons")
    code: str = Field(description="credit code, or the masked ID number")


class EntryOut(Schema):
    number: str
    rescreen: list[str] = Field(
        [], description="on listing: numbers of open hall applications of the subject, checked again at their decision"
    )
    list_type: str
    list_name: str
    department: str
    legal_basis: str
    memorandum: str
    listed_on: dt.date
    removed_on: dt.date | None


def _entry_out(entry: Any) -> dict[str, Any]:
    return {
        "number": entry.number, "list_type": entry.list_type, "list_name": entry.list_name,
        "department": entry.department.name, "legal_basis": entry.legal_basis, "memorandum": entry.memorandum.code,
        "listed_on": entry.listed_on, "removed_on": entry.removed_on, "rescreen": getattr(entry, "rescreen", []),
    }  # fmt: skip


class SubjectPageOut(Schema):
    subject: SubjectOut
    records: list[CreditRecordOut]
    entries: list[EntryOut]


class ReportVerificationOut(Schema):
    number: str
    authentic: bool = Field(description="the SM2 signature over the stored content verifies under the published key")
    key_id: str
    generated_at: dt.datetime
    content: dict[str, Any]


class ReportOut(Schema):
    number: str
    key_id: str
    signature: str = Field(description="base64 DER SM2 signature over the canonical JSON of content")
    content: dict[str, Any]


class DocumentIn(Schema):
    content: dict[str, Any]
    key_id: str = Field(max_length=16)
    signature: str = Field(max_length=200, description="base64")


class DocumentVerdictOut(Schema):
    authentic: bool


class MeasureIn(Schema):
    code: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 40})
    text: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 300})
    departments: str = Field("", max_length=200)


class MemorandumIn(Schema):
    title: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 200})
    document_number: str = Field("", max_length=60)
    list_type: Literal["red", "black"]
    signed_on: dt.date
    measures: list[MeasureIn] = Field(min_length=1, max_length=100)


class MemorandumOut(Schema):
    code: str
    title: str
    list_type: str
    measures: list[dict[str, str]]


class EntryIn(Schema):
    list_type: Literal["red", "black"]
    list_name: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 100})
    subject_kind: Literal["entity", "person"] = "entity"
    subject_code: str = Field(max_length=18)
    subject_name: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 120})
    department: str = Field(max_length=20, description="the recognising department's code")
    legal_basis: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 2000})
    memorandum: str = Field(max_length=40)
    reason: str = Field("", max_length=4000)
    listed_on: dt.date


class RemovalIn(Schema):
    removed_on: dt.date
    reason: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 200})


class ScreeningRowOut(Schema):
    line: int
    name: str
    code_masked: str
    outcome: Literal["red", "black", "both", "none", "invalid"]
    entries: list[str]


class FiguresOut(Schema):
    department: str
    code: str
    reported: int
    on_time: int
    late: int
    problems_open: int


class RepairIn(Schema):
    record_id: RecordId
    statement: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 4000})
    materials: str = Field(json_schema_extra={**NOT_BLANK, "maxLength": 4000})


class RepairDecisionIn(Schema):
    transition: Literal["approve", "reject"]
    reason: str = Field("", max_length=2000)


class RepairOut(Schema):
    id: int
    record_id: int
    state: str
    submitted_on: dt.date
    due_on: dt.date
    decision_reason: str


# ── public ──────────────────────────────────────────────────────────────────────────────────────────────────────


@router.get("/subjects", response=list[SubjectOut], auth=None, openapi_extra=OPENAPI_RATE_LIMITED,
            summary="Search credit subjects by name prefix or credit code (persons masked)")  # fmt: skip
def subject_search(request: HttpRequest, q: str = "") -> Any:
    rate_limit_request("credit.query", request)
    return [hit.__dict__ for hit in selectors.subjects_search(q)]


@router.get("/subjects/{subject_id}", response=SubjectPageOut, auth=None, openapi_extra=OPENAPI_RATE_LIMITED,
            summary="A subject's public record: records in their public period, list entries in force")  # fmt: skip
def subject_get(request: HttpRequest, subject_id: RecordId) -> Any:
    rate_limit_request("credit.query", request)
    page = selectors.subject_public(subject_id)
    return {"subject": page.subject.__dict__, "records": [_record_out(r) for r in page.records],
                 "entries": [_entry_out(e) for e in page.entries]}  # fmt: skip


@router.get("/reports/{number}", response=ReportVerificationOut, auth=None, openapi_extra=OPENAPI_RATE_LIMITED,
            summary="Verify a credit report by its number (the QR code's target)")  # fmt: skip
def report_get(request: HttpRequest, number: ReportNumber) -> Any:
    rate_limit_request("credit.query", request)
    verification = selectors.report_verify(number[:40])
    report = verification.report
    if report is None:
        raise CreditNotFound("No credit report has this number.")
    return {"number": report.number, "authentic": verification.authentic, "key_id": report.key_id,
                 "generated_at": report.generated_at, "content": report.content}  # fmt: skip


@router.post("/report-verifications", response=DocumentVerdictOut, auth=None, openapi_extra=OPENAPI_RATE_LIMITED,
             summary="Verify a credit report as kept by its holder (content, key id, signature)")  # fmt: skip
def report_verify(request: HttpRequest, payload: DocumentIn) -> Any:
    rate_limit_request("credit.query", request)
    return {"authentic": selectors.document_verify(content=payload.content, key_id=payload.key_id,
                                                        signature_b64=payload.signature)}  # fmt: skip


# ── reporting departments ──────────────────────────────────────────────────────────────────────────────────────


@router.post("/records", response={201: CreditRecordOut}, auth=REPORT_AUTH,
             summary="Report one record; refused rows go to the department's problem queue (422)")  # fmt: skip
def record_report(request: HttpRequest, payload: RecordIn) -> Status[dict[str, Any]]:
    data = {k: v for k, v in payload.dict().items() if v not in ("", None)}
    record = services.record_report(user=_caller(request), data=data, intake="api")
    return Status(201, _record_out(record))


@router.post("/records/file", response={200: FileOut}, auth=FILE_AUTH,
             summary="Report a CSV file of records (UTF-8, header row of field names or XK_/CF_ codes)")  # fmt: skip
def records_file(request: HttpRequest, file: File[UploadedFile]) -> Any:
    if file.size is None or file.size > UPLOAD_CEILING:
        raise ScreeningInvalid("The file is too large.",
                               errors=[{"loc": ["file"], "rule": "file.size", "msg": "at most 20 MB"}])  # fmt: skip
    outcome = services.records_report_file(user=_caller(request), content=file.read(), file_name=file.name or "")
    return {"accepted": outcome.accepted, "refused": outcome.refused, "problems": outcome.problems}


@router.get("/problems", response=list[ProblemOut], auth=PROBLEMS_AUTH, summary="The department's open problem data")
def problem_list(request: HttpRequest) -> Any:
    return selectors.problems_of_department(_caller(request))


@router.post("/problems/{problem_id}/resolution", response=ProblemOut, auth=RESOLVE_AUTH,
             summary="Mark a problem row handled")  # fmt: skip
def problem_resolve(request: HttpRequest, problem_id: RecordId) -> Any:
    return services.problem_resolve(user=_caller(request), problem_id=problem_id)


@router.get("/statistics", response=list[FiguresOut], auth=STATS_AUTH,
            summary="Records reported, on time, late and open problems per department")  # fmt: skip
def statistics(request: HttpRequest) -> Any:
    return [f.__dict__ for f in selectors.department_statistics(_caller(request))]


# ── the credit office ──────────────────────────────────────────────────────────────────────────────────────────


@router.put("/memoranda/{code}", response=MemorandumOut, auth=LISTS_AUTH,
            summary="Create or replace a memorandum and its catalogue of measures")  # fmt: skip
def memorandum_save(request: HttpRequest, code: MemorandumCode, payload: MemorandumIn) -> Any:
    memo = services.memorandum_save(user=_caller(request), data={"code": code[:41], **payload.dict()})
    return {"code": memo.code, "title": memo.title, "list_type": memo.list_type,
            "measures": [{"code": m.code, "text": m.text} for m in memo.measures.order_by("code")]}  # fmt: skip


@router.post("/list-entries", response={201: EntryOut}, auth=LISTS_AUTH, summary="Put a subject on a list")
def list_entry_add(request: HttpRequest, payload: EntryIn) -> Status[dict[str, Any]]:
    entry = services.list_entry_add(user=_caller(request), data=payload.dict())
    return Status(201, _entry_out(entry))


@router.post("/list-entries/{number}/removal", response=EntryOut, auth=LISTS_AUTH,
             summary="Take an entry off its list from a date")  # fmt: skip
def list_entry_remove(request: HttpRequest, number: EntryNumber, payload: RemovalIn) -> Any:
    entry = services.list_entry_remove(user=_caller(request), number=number[:40], removed_on=payload.removed_on,
                                       reason=payload.reason)  # fmt: skip
    return _entry_out(entry)


@router.post("/screenings", response=list[ScreeningRowOut], auth=SCREEN_AUTH,
             summary="Screen a CSV of subjects (name, code) against the lists as of today")  # fmt: skip
def screening(request: HttpRequest, file: File[UploadedFile]) -> Any:
    if file.size is None or file.size > UPLOAD_CEILING:
        raise ScreeningInvalid("The file is too large.",
                               errors=[{"loc": ["file"], "rule": "file.size", "msg": "at most 20 MB"}])  # fmt: skip
    rows = services.screening_run(user=_caller(request), content=file.read())
    return [{**r.__dict__, "entries": list(r.entries)} for r in rows]


@router.post("/repairs/{repair_id}/transitions", response=RepairOut, auth=LISTS_AUTH,
             summary="Approve or reject a credit repair (the credit office)")  # fmt: skip
def repair_decide(request: HttpRequest, repair_id: RecordId, payload: RepairDecisionIn) -> Any:
    return services.repair_decide(user=_caller(request), request_id=repair_id, transition=payload.transition,
                                  reason=payload.reason)  # fmt: skip


# ── the subject signed in ──────────────────────────────────────────────────────────────────────────────────────


class OwnSubjectOut(Schema):
    subject: SubjectOut
    records: list[CreditRecordOut]
    repaired: list[int] = Field(description="ids of records repaired: kept, no longer public")
    entries: list[EntryOut]
    repairs: list[RepairOut]


@router.get("/mine", response=list[OwnSubjectOut], auth=SUBJECT_AUTH,
            summary="Your full credit record: all records (repaired, expired too), list entries, repairs")  # fmt: skip
def mine(request: HttpRequest) -> Any:
    return [
        {"subject": {"id": o.subject.pk, "kind": o.subject.kind, "name": o.subject.name,
                     "code": o.subject.code_masked},
         "records": [_record_out(r) for r in o.records],
         "repaired": [r.pk for r in o.records if r.repaired_at is not None],
         "entries": [_entry_out(e) for e in o.entries], "repairs": o.repairs}
        for o in selectors.subject_own(_caller(request))
    ]  # fmt: skip


@router.post("/repairs", response={201: RepairOut}, auth=SUBJECT_AUTH,
             summary="Ask to repair one of your own records")  # fmt: skip
def repair_request(request: HttpRequest, payload: RepairIn) -> Status[Any]:
    made = services.repair_request(user=_caller(request), record_id=payload.record_id, statement=payload.statement,
                                   materials=payload.materials)  # fmt: skip
    return Status(201, made)


@router.post("/subjects/{subject_id}/reports", response={201: ReportOut}, auth=SUBJECT_AUTH,
             summary="A signed credit report of one of your own subjects")  # fmt: skip
def report_request(request: HttpRequest, subject_id: RecordId) -> Status[dict[str, Any]]:
    import base64

    made = services.report_generate(user=_caller(request), subject_id=subject_id)
    return Status(201, {"number": made.number, "key_id": made.key_id, "content": made.content,
                        "signature": base64.b64encode(bytes(made.signature)).decode()})  # fmt: skip
