"""The catalogue of services and the working-day calendar, kept by the hall's administrators."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from rongcheng.accounts.models import Department
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.hall.calendar import calendar_changed
from rongcheng.hall.catalogue import materials_validate
from rongcheng.hall.errors import (
    CalendarInvalid,
    ServiceItemInvalid,
)
from rongcheng.hall.models import (
    ApplicantKind,
    CalendarDay,
    DayKind,
    ServiceItem,
    ServiceKind,
)
from rongcheng.hall.permissions import (
    CALENDAR_PERMISSION,
    CATALOGUE_PERMISSION,
)
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.errors import PermissionDenied
from rongcheng.staff.permissions import has_perm_in_department

SERVICE_FIELDS = (
    "name", "kind", "applicant_kind", "legal_basis", "conditions", "statutory_days", "promised_days", "fees",
    "min_assurance", "any_window", "online_only", "issues_licence_type", "result_face", "active",
)  # fmt: skip


def _result_face_check(result_face: Any, materials: list[dict[str, Any]]) -> dict[str, str]:
    codes = {m["code"] for m in materials}
    if not isinstance(result_face, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and (v.startswith("=") or v.partition(":")[0] in codes)
        for k, v in result_face.items()
    ):
        raise ServiceItemInvalid(
            'result_face maps each face field to "material:key" of a declared material, or to "=text".',
            errors=[{"loc": ["result_face"], "rule": "result_face.sources", "msg": "unknown material"}],
        )
    return dict(result_face)


def service_item_upsert(*, data: Mapping[str, Any], actor: Actor) -> ServiceItem:
    """Create or update the service with `data["code"]`; the materials list is validated as declared."""
    code = str(data.get("code", "")).strip()
    if not code:
        raise ServiceItemInvalid("A service needs a code.", errors=[{"loc": ["code"], "rule": "required", "msg": ""}])
    department = Department.objects.filter(code=data.get("department")).first()
    if department is None:
        raise ServiceItemInvalid(
            f"No department has the code {data.get('department')!r}.",
            errors=[{"loc": ["department"], "rule": "department.known", "msg": "unknown department"}],
        )
    if data.get("kind") not in ServiceKind.values:
        raise ServiceItemInvalid(
            "Unknown kind of service.", errors=[{"loc": ["kind"], "rule": "kind.choice", "msg": "unknown kind"}]
        )
    statutory, promised = int(data.get("statutory_days", 0)), int(data.get("promised_days", 0))
    if not 0 < promised <= statutory <= 365:
        raise ServiceItemInvalid(
            "The promised time limit is 1..statutory working days, the statutory at most 365.",
            errors=[{"loc": ["promised_days"], "rule": "days.range", "msg": "1 <= promised <= statutory <= 365"}],
        )
    if data.get("applicant_kind", ApplicantKind.PERSON) not in ApplicantKind.values:
        raise ServiceItemInvalid(
            "applicant_kind is person, entity or any.",
            errors=[{"loc": ["applicant_kind"], "rule": "applicant_kind.choice", "msg": "person, entity or any"}],
        )
    materials = materials_validate(data.get("materials", []))
    values = {field: data[field] for field in SERVICE_FIELDS if field in data}
    values.update(department=department, materials=materials,
                  result_face=_result_face_check(data.get("result_face", {}), materials))  # fmt: skip
    with transaction.atomic():
        item, created = ServiceItem.objects.update_or_create(code=code, defaults=values)
        audit_record(
            action="hall.service.create" if created else "hall.service.update", actor=actor,
            target_type="hall.service", target_id=item.pk, detail={"code": code},
        )  # fmt: skip
    return item


def service_item_save(*, user: Account, data: Mapping[str, Any]) -> ServiceItem:
    """A department's catalogue maintainer creates or changes one of its department's services."""
    department = Department.objects.filter(code=data.get("department")).first()
    allowed = department is not None and has_perm_in_department(user, CATALOGUE_PERMISSION, department)
    if not allowed:
        audit_record(
            action="hall.service.save", actor=actor_from_user(user), outcome="denied", target_type="hall.service",
            source_address=current_address(), detail={"code": str(data.get("code", ""))[:40]},
        )  # fmt: skip
        raise PermissionDenied("This account may not maintain the catalogue of that department.")
    existing = ServiceItem.objects.select_related("department").filter(code=data.get("code")).first()
    if existing is not None and not has_perm_in_department(user, CATALOGUE_PERMISSION, existing.department):
        raise PermissionDenied("The service belongs to another department's catalogue.")
    return service_item_upsert(data=data, actor=actor_from_user(user))


def calendar_day_set(*, user: Account, date: dt.date, kind: str, name: str = "") -> CalendarDay:
    """Mark a date as a holiday or a worked weekend day (调休); staff with the calendar permission."""
    if not (user.is_authenticated and user.has_perm(CALENDAR_PERMISSION)):
        audit_record(
            action="hall.calendar.set", actor=actor_from_user(user), outcome="denied", target_type="hall.calendar",
            target_id=date.isoformat(),
        )  # fmt: skip
        raise PermissionDenied("This account may not edit the holiday calendar.")
    if kind not in DayKind.values:
        raise CalendarInvalid("kind is holiday or workday.", errors=[{"loc": ["kind"], "rule": "kind", "msg": ""}])
    if kind == DayKind.WORKDAY and date.weekday() < 5:
        raise CalendarInvalid(
            "Only a Saturday or Sunday can be a worked weekend day (调休上班).",
            errors=[{"loc": ["date"], "rule": "workday.weekend", "msg": "not a weekend day"}],
        )
    with transaction.atomic():
        day, _ = CalendarDay.objects.update_or_create(date=date, defaults={"kind": kind, "name": name[:40]})
        calendar_changed()
        audit_record(
            action="hall.calendar.set", actor=actor_from_user(user), target_type="hall.calendar",
            target_id=date.isoformat(), detail={"kind": kind, "name": name[:40]},
        )  # fmt: skip
    return day


def calendar_day_remove(*, user: Account, date: dt.date) -> None:
    if not (user.is_authenticated and user.has_perm(CALENDAR_PERMISSION)):
        audit_record(
            action="hall.calendar.remove", actor=actor_from_user(user), outcome="denied",
            target_type="hall.calendar", target_id=date.isoformat(),
        )  # fmt: skip
        raise PermissionDenied("This account may not edit the holiday calendar.")
    with transaction.atomic():
        removed, _ = CalendarDay.objects.filter(date=date).delete()
        if removed:
            calendar_changed()
            audit_record(
                action="hall.calendar.remove", actor=actor_from_user(user), target_type="hall.calendar",
                target_id=date.isoformat(),
            )  # fmt: skip


def calendar_seed(days: Iterable[tuple[dt.date, str, str]], *, actor: Actor) -> int:
    """Load a published holiday arrangement (seeding); existing dates are left as staff edited them."""
    added = 0
    with transaction.atomic():
        for date, kind, name in days:
            _, created = CalendarDay.objects.get_or_create(date=date, defaults={"kind": kind, "name": name})
            added += created
        if added:
            calendar_changed()
            audit_record(action="hall.calendar.seed", actor=actor, target_type="hall.calendar", detail={"added": added})
    return added
