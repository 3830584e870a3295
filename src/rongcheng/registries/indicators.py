"""Macro-economic indicators (宏观经济数据): values of public series such as GDP, by period and division.

One value per series (`code`), division and period. Recording a period again is an upsert: a different value revises
the row (the audit record keeps the previous one), the same value changes nothing and writes nothing, so a department
system can resend its whole series safely. The values are public: reading them needs no account and no purpose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from django.db import IntegrityError, transaction

from rongcheng.accounts.models import Department
from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.context import current_address
from rongcheng.kernel.divisions import division_ever_existed
from rongcheng.kernel.errors import NotFound
from rongcheng.registries.errors import RegistryInputInvalid
from rongcheng.registries.models import Indicator

# YYYY, YYYY-Qn (quarter) or YYYY-MM (month).
PERIOD_PATTERN = re.compile(r"^(?P<year>\d{4})(?:-Q(?P<quarter>[1-4])|-(?P<month>0[1-9]|1[0-2]))?$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
FIRST_YEAR, LAST_YEAR = 1949, 2100
VALUE_PLACES = Decimal("0.0001")  # the model's 4 decimal places
VALUE_LIMIT = Decimal(10) ** 16  # the model's 20 digits less the 4 decimal places
DEFAULT_DIVISION = "350100"


class IndicatorSeriesNotFound(NotFound):
    pass


@dataclass(frozen=True)
class IndicatorInput:
    code: str
    name: str
    period: str
    value: Decimal
    unit: str
    division_code: str
    source_department: str


@dataclass(frozen=True)
class IndicatorRecorded:
    indicator: Indicator
    outcome: Literal["created", "revised", "unchanged"]


def period_validate(period: str) -> str | None:
    """The broken rule's id, or None for a valid period."""
    match = PERIOD_PATTERN.fullmatch(period)
    if match is None:
        return "period.format"
    if not FIRST_YEAR <= int(match["year"]) <= LAST_YEAR:
        return "period.year"
    return None


def _decimal(raw: Any) -> Decimal | None:
    if isinstance(raw, float):  # a float has already lost the decimal the sender meant
        raw = repr(raw)
    try:
        value = Decimal(str(raw).strip()) if raw is not None and not isinstance(raw, bool) else None
    except InvalidOperation:
        return None
    return value if value is not None and value.is_finite() else None


def indicator_input_validate(data: Mapping[str, Any]) -> IndicatorInput:
    """Every broken rule of one value is reported together."""
    errors: list[dict[str, Any]] = []

    def text(field: str, limit: int) -> str:
        value = str(data.get(field) or "").strip()
        if not value:
            errors.append({"loc": [field], "rule": f"{field}.required", "msg": f"{field} is required"})
        elif len(value) > limit:
            errors.append({"loc": [field], "rule": f"{field}.length", "msg": f"at most {limit} characters"})
        return value

    code = text("code", 32)
    if code and len(code) <= 32 and not CODE_PATTERN.fullmatch(code):
        errors.append({"loc": ["code"], "rule": "code.format", "msg": "letters, digits, '.', '_' or '-'"})
    name = text("name", 100)
    unit = text("unit", 20)
    period = text("period", 10)
    if period and (rule := period_validate(period)):
        errors.append({"loc": ["period"], "rule": rule, "msg": f"YYYY, YYYY-Qn or YYYY-MM, {FIRST_YEAR}-{LAST_YEAR}"})
    value = _decimal(data.get("value"))
    if value is None:
        errors.append({"loc": ["value"], "rule": "value.number", "msg": "a finite decimal number"})
    elif abs(value) >= VALUE_LIMIT or value != value.quantize(VALUE_PLACES, rounding="ROUND_HALF_EVEN"):
        errors.append({"loc": ["value"], "rule": "value.precision", "msg": "at most 16 digits and 4 decimal places"})
    division = str(data.get("division_code") or "").strip() or DEFAULT_DIVISION
    if not (len(division) == 6 and division.isdigit() and division_ever_existed(division)):
        errors.append({"loc": ["division_code"], "rule": "division.known", "msg": "not a GB/T 2260 division code"})
    department = text("source_department", 32)
    if department and not Department.objects.filter(code=department).exists():
        errors.append({"loc": ["source_department"], "rule": "department.known", "msg": "not a department's code"})
    if errors or value is None:
        raise RegistryInputInvalid("The indicator value breaks the registry's rules.", errors=errors)
    return IndicatorInput(code, name, period, value.quantize(VALUE_PLACES), unit, division, department)


def _differs(row: Indicator, clean: IndicatorInput) -> dict[str, list[str]]:
    changes: dict[str, list[str]] = {}
    for field in ("name", "value", "unit", "source_department"):
        before, after = getattr(row, field), getattr(clean, field)
        if before != after:  # Decimal equality ignores trailing zeros
            changes[field] = [str(before), str(after)]
    return changes


def indicator_record(*, data: Mapping[str, Any], actor: Actor) -> IndicatorRecorded:
    """Record one period's value of a series: create it, revise it, or leave it when nothing differs."""
    clean = indicator_input_validate(data)
    key = {"code": clean.code, "division_code": clean.division_code, "period": clean.period}
    values = {
        "name": clean.name,
        "value": clean.value,
        "unit": clean.unit,
        "source_department": clean.source_department,
    }
    with transaction.atomic():
        row = Indicator.objects.select_for_update().filter(**key).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = Indicator.objects.create(**key, **values)
            except IntegrityError:
                # Recorded concurrently by another request: revise that row instead.
                row = Indicator.objects.select_for_update().get(**key)
            else:
                audit_record(
                    source_address=current_address(),
                    action="registries.indicator.record", actor=actor, target_type="registries.indicator",
                    target_id=row.pk, detail={**key, "value": str(clean.value)},
                )  # fmt: skip
                return IndicatorRecorded(row, "created")
        changes = _differs(row, clean)
        if not changes:
            return IndicatorRecorded(row, "unchanged")
        for field, value in values.items():
            setattr(row, field, value)
        row.save(update_fields=list(values))
        audit_record(
            source_address=current_address(),
            action="registries.indicator.revise", actor=actor, target_type="registries.indicator", target_id=row.pk,
            detail={**key, "changes": changes},
        )  # fmt: skip
    return IndicatorRecorded(row, "revised")


def indicator_series(*, code: str, division_code: str = DEFAULT_DIVISION) -> list[Indicator]:
    """Every recorded value of one series in one division, by period."""
    rows = list(Indicator.objects.filter(code=code, division_code=division_code).order_by("period"))
    if not rows:
        raise IndicatorSeriesNotFound(f"No value of the indicator {code!r} is recorded for division {division_code}.")
    return rows
