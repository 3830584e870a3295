"""Bulk issuing from a CSV file, for migrating paper records: every row validated, invalid rows reported, valid rows
issued; running the same file again issues nothing twice.

Columns: `holder_code` (ID number or credit code), optional `valid_from`, `valid_until`, `number`, `reference`
(the record's id in the old system), then one column per face field of the type, by field name. A row without a
`reference` is identified by its type, holder and face data, so a re-run file maps each row to the licence it
already produced.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from rongcheng.accounts.models import User
from rongcheng.kernel.errors import DomainError
from rongcheng.licences.documents import face_validate
from rongcheng.licences.errors import LicenceActionDenied, LicenceInputInvalid
from rongcheng.licences.models import Licence, LicenceType
from rongcheng.licences.permissions import may_issue
from rongcheng.licences.services import IssueRequest, bulk_reference, holder_resolve, licences_issue_many

MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
CHUNK = 500
FIXED_COLUMNS = ("holder_code", "valid_from", "valid_until", "number", "reference")


@dataclass
class BulkReport:
    rows: int = 0
    issued: list[str] = field(default_factory=list)
    already_issued: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, message)


def _date(value: str, line: int, name: str, report: BulkReport) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        report.errors.append((line, name, "not a date YYYY-MM-DD"))
        return None


def licences_issue_from_csv(*, licence_type: LicenceType, data: bytes, actor: User) -> BulkReport:
    if not may_issue(actor, licence_type):
        raise LicenceActionDenied(
            "Only staff of the type's issuing department with the issuing permission may issue it."
        )
    if len(data) > MAX_BYTES:
        raise LicenceInputInvalid(f"The file is larger than {MAX_BYTES // 1024 // 1024} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LicenceInputInvalid(
            "The file is not UTF-8 text.", errors=[{"loc": ["file"], "rule": "file.encoding", "msg": "UTF-8 CSV"}]
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    names = [f["name"] for f in licence_type.face_schema]
    header = reader.fieldnames or []
    unknown = sorted(set(header) - set(FIXED_COLUMNS) - set(names))
    if "holder_code" not in header or unknown:
        raise LicenceInputInvalid(
            "The header needs holder_code and may name only " + ", ".join([*FIXED_COLUMNS, *names]) + ".",
            errors=[{"loc": ["file", "header"], "rule": "header.columns", "msg": ", ".join(unknown) or "holder_code"}],
        )
    report = BulkReport()
    pending: list[IssueRequest] = []
    references: set[str] = set()
    for line, row in enumerate(reader, start=2):
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise LicenceInputInvalid(f"At most {MAX_ROWS} rows per file.")
        if None in row:
            report.errors.append((line, "row", "more cells than header columns"))
            continue
        values = {k: (v or "").strip() for k, v in row.items()}
        before = len(report.errors)
        face: dict[str, Any] = {name: values[name] for name in names if values.get(name)}
        try:
            face = face_validate(licence_type.face_schema, face)
        except LicenceInputInvalid as exc:
            report.errors.extend((line, ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors)
        valid_from = _date(values.get("valid_from", ""), line, "valid_from", report)
        valid_until = _date(values.get("valid_until", ""), line, "valid_until", report)
        holder = None
        try:
            holder = holder_resolve(values["holder_code"])
        except DomainError as exc:
            report.errors.append((line, "holder_code", exc.detail))
        if len(report.errors) > before or holder is None:
            continue
        reference = values.get("reference", "")
        reference = (
            ("ref:" + reference) if reference else bulk_reference(licence_type.code, values["holder_code"], face)
        )
        if len(reference) > 64 or reference in references:
            report.errors.append((line, "reference", "too long or repeated in the file"))
            continue
        references.add(reference)
        pending.append(IssueRequest(holder, face, valid_from, valid_until, values.get("number", ""), reference))
    existing = set(
        Licence.objects.filter(department_id=licence_type.department_id, source_reference__in=references).values_list(
            "source_reference", flat=True
        )
    )
    report.already_issued = len(existing)
    fresh = [request for request in pending if request.source_reference not in existing]
    for start in range(0, len(fresh), CHUNK):
        chunk = fresh[start : start + CHUNK]
        try:
            issued = licences_issue_many(licence_type=licence_type, requests=chunk, actor=actor, source="bulk")
        except LicenceInputInvalid:  # e.g. a closed holder record: report the chunk's rows one by one
            for request in chunk:
                try:
                    issued_one = licences_issue_many(licence_type=licence_type, requests=[request], actor=actor,
                                                     source="bulk")  # fmt: skip
                    report.issued.extend(licence.identifier for licence in issued_one)
                except LicenceInputInvalid as row_error:
                    report.errors.append((0, request.source_reference, row_error.detail))
            continue
        report.issued.extend(licence.identifier for licence in issued)
    return report
