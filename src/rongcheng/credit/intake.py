"""Validation of a reported credit record (form, file row or API body): every field by its rule, all broken rules
together, each with its field path. Codes by their check characters (kernel.identifiers), dates, amounts in 万元.

The field names are the platform's; `FIELDS_BY_CODE` maps the national 双公示 codes (XK_*, CF_*) to them, so a file
with the national headers reads the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from rongcheng.credit.errors import CreditRecordInvalid
from rongcheng.credit.models import RecordKind, RecordStatus, SubjectKind
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import credit_code_validate, id_number_validate
from rongcheng.kernel.masking import mask_id_number

LICENSING_CATEGORIES = ("普通", "特许", "认可", "核准", "登记", "其他")  # [MEM] standards §9
PENALTY_CATEGORIES = (
    "警告", "罚款", "没收违法所得", "没收非法财物", "责令停产停业", "暂扣或者吊销许可证", "暂扣或者吊销执照",
    "行政拘留", "其他",
)  # fmt: skip
TAX_RATINGS = ("A", "B", "M", "C", "D")
MAX_AMOUNT = Decimal("100000000")  # 万元
# How long a record stays in public view after its decision, in years, unless the report gives 公示截止期. [MEM]
PUBLIC_YEARS = {"licensing": 3, "penalty": 3, "honour": 3, "judgement": 5, "tax_rating": 1}
PERSONAL_FIELDS = ("subject_code", "legal_representative_id")

FIELDS_BY_CODE = {
    "XK_XDR_MC": "subject_name", "CF_XDR_MC": "subject_name", "XK_XDR_TYPE": "subject_kind",
    "XK_FDDB": "legal_representative", "XK_FR_SFZH": "legal_representative_id", "XK_XKWS": "document_name",
    "XK_WSH": "document_number", "CF_WSH": "document_number", "XK_XKLB": "category", "CF_CFLB": "category",
    "XK_XKZS": "licence_name", "XK_XKBH": "licence_number", "XK_NR": "content", "CF_NR": "content",
    "XK_JDRQ": "decided_on", "CF_JDRQ": "decided_on", "XK_YXQZ": "valid_from", "XK_YXQZI": "valid_until",
    "XK_XKJG": "authority", "CF_CFJG": "authority", "XK_XKJGDM": "authority_code", "CF_CFJGDM": "authority_code",
    "XK_ZT": "status", "BZ": "note", "CF_GSJZQ": "public_until", "CF_FKJE": "fine_amount",
}  # fmt: skip


@dataclass(frozen=True)
class CleanRecord:
    kind: str
    subject_kind: str
    subject_code: str  # credit code, or the ID number (never stored: the services keep its index)
    subject_name: str
    values: dict[str, Any]
    legal_representative_id: str
    source_reference: str


def _error(field: str, rule: str, msg: str) -> dict[str, Any]:
    return {"loc": [field], "rule": rule, "msg": msg}


def _text(data: Mapping[str, Any], field: str, errors: list[dict[str, Any]], *, required: bool = False,
          limit: int = 200) -> str:  # fmt: skip
    value = data.get(field)
    text = "" if value is None else str(value).strip()
    if required and not text:
        errors.append(_error(field, "field.required", "required"))
    elif len(text) > limit:
        errors.append(_error(field, "field.max_length", f"at most {limit} characters"))
    return text[:limit]


def _date(
    data: Mapping[str, Any], field: str, errors: list[dict[str, Any]], *, required: bool = False
) -> dt.date | None:
    value = data.get(field)
    if isinstance(value, dt.date):
        return value
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            errors.append(_error(field, "field.required", "required"))
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(_error(field, "date.format", "a date YYYY-MM-DD"))
        return None


def _amount(data: Mapping[str, Any], field: str, errors: list[dict[str, Any]]) -> Decimal | None:
    value = data.get(field)
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        errors.append(_error(field, "amount.format", "a decimal number of 万元"))
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        errors.append(_error(field, "amount.range", "0 to 100000000 (万元)"))
        return None
    if amount.as_tuple().exponent < -6:  # type: ignore[operator]
        errors.append(_error(field, "amount.precision", "at most 6 decimals (万元: to the yuan cent)"))
        return None
    return amount


def _code(value: str, field: str, errors: list[dict[str, Any]], *, person: bool) -> str:
    try:
        if person:
            return id_number_validate(value, field=field).value
        return credit_code_validate(value, field=field).value
    except ValidationFailed as exc:
        errors.extend(exc.errors or [_error(field, "code", exc.detail)])
        return ""


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def record_clean(data: Mapping[str, Any], *, today: dt.date, department_name: str,
                 department_code: str) -> CleanRecord:  # fmt: skip
    """The record as it will be stored, or CreditRecordInvalid naming every broken rule."""
    data = {FIELDS_BY_CODE.get(str(k), str(k)): v for k, v in data.items()}
    errors: list[dict[str, Any]] = []
    kind = _text(data, "kind", errors, required=True, limit=12)
    if kind and kind not in RecordKind.values:
        errors.append(_error("kind", "kind.choice", "licensing, penalty, honour, judgement or tax_rating"))
    subject_kind = _text(data, "subject_kind", errors, limit=6) or SubjectKind.ENTITY
    if subject_kind not in SubjectKind.values:
        errors.append(_error("subject_kind", "subject_kind.choice", "entity or person"))
    person = subject_kind == SubjectKind.PERSON
    subject_name = _text(data, "subject_name", errors, required=True, limit=120)
    raw_code = _text(data, "subject_code", errors, required=True, limit=18)
    subject_code = _code(raw_code, "subject_code", errors, person=person) if raw_code else ""
    rep_id_raw = _text(data, "legal_representative_id", errors, limit=18)
    rep_id = _code(rep_id_raw, "legal_representative_id", errors, person=True) if rep_id_raw else ""
    doc_required = kind in (RecordKind.LICENSING, RecordKind.PENALTY)
    values: dict[str, Any] = {
        "legal_representative": _text(data, "legal_representative", errors, limit=50),
        "document_name": _text(data, "document_name", errors, limit=120),
        "document_number": _text(data, "document_number", errors, required=True, limit=100),
        "category": _text(data, "category", errors, required=doc_required, limit=40),
        "content": _text(data, "content", errors, required=True, limit=4000),
        "licence_name": _text(data, "licence_name", errors, limit=120),
        "licence_number": _text(data, "licence_number", errors, limit=120),
        "violation_type": _text(data, "violation_type", errors, limit=120),
        "violation_facts": _text(data, "violation_facts", errors, required=kind == RecordKind.PENALTY, limit=4000),
        "basis": _text(data, "basis", errors, required=kind == RecordKind.PENALTY, limit=2000),
        "fine_amount": _amount(data, "fine_amount", errors),
        "confiscated_amount": _amount(data, "confiscated_amount", errors),
        "licence_withheld": _text(data, "licence_withheld", errors, limit=200),
        "authority": _text(data, "authority", errors, limit=100) or department_name,
        "source_unit": _text(data, "source_unit", errors, limit=100) or department_name,
        "note": _text(data, "note", errors, limit=2000),
        "status": _text(data, "status", errors, limit=8) or RecordStatus.VALID,
    }
    if values["status"] not in RecordStatus.values:
        errors.append(_error("status", "status.choice", "valid or invalid"))
    category = values["category"]
    if kind == RecordKind.LICENSING and category and category not in LICENSING_CATEGORIES:
        errors.append(_error("category", "category.choice", "、".join(LICENSING_CATEGORIES)))
    if kind == RecordKind.PENALTY and category and category not in PENALTY_CATEGORIES:
        errors.append(_error("category", "category.choice", "、".join(PENALTY_CATEGORIES)))
    for field in ("authority_code", "source_unit_code"):
        raw = _text(data, field, errors, limit=18) or department_code
        if not raw:
            errors.append(_error(field, "field.required", "the unified social credit code of the authority"))
        values[field] = _code(raw, field, errors, person=False) if raw else ""
    decided_on = _date(data, "decided_on", errors, required=True)
    valid_from = _date(data, "valid_from", errors)
    valid_until = _date(data, "valid_until", errors)
    public_until = _date(data, "public_until", errors)
    if decided_on is not None:
        if decided_on > today:
            errors.append(_error("decided_on", "decided_on.future", "published before its decision (after today)"))
        if public_until is not None and public_until < decided_on:
            errors.append(_error("public_until", "public_until.order", "before the decision date"))
        if public_until is None:
            public_until = _add_years(decided_on, PUBLIC_YEARS.get(kind, 3))
            if kind == RecordKind.LICENSING and valid_until is not None and valid_until > public_until:
                public_until = valid_until
    if valid_from and valid_until and valid_until < valid_from:
        errors.append(_error("valid_until", "validity.order", "before valid_from"))
    extra: dict[str, Any] = {}
    if kind == RecordKind.TAX_RATING:
        rating = _text(data, "rating", errors, required=True, limit=1)
        if rating and rating not in TAX_RATINGS:
            errors.append(_error("rating", "rating.choice", "A, B, M, C or D"))
        extra["rating"] = rating
    if kind == RecordKind.JUDGEMENT:
        extra["court"] = _text(data, "court", errors, required=True, limit=100)
    if errors:
        raise CreditRecordInvalid("The credit record is not valid.", errors=errors)
    values.update(decided_on=decided_on, valid_from=valid_from, valid_until=valid_until, public_until=public_until,
                  extra=extra)  # fmt: skip
    reference = _text(data, "source_reference", errors, limit=100) or f"{kind}:{values['document_number']}"
    return CleanRecord(kind, subject_kind, subject_code, subject_name, values, rep_id, reference)


def masked_row(data: Mapping[str, Any]) -> dict[str, str]:
    """A reported row as kept in the problem queue: ID numbers masked, values as text, each at most 500 characters."""
    row = {FIELDS_BY_CODE.get(str(k), str(k))[:40]: ("" if v is None else str(v))[:500] for k, v in data.items()}
    for field in PERSONAL_FIELDS:
        value = row.get(field, "")
        if value and value[:17].isdigit():
            row[field] = mask_id_number(value)
    return row
