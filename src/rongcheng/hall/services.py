"""Write use-cases of the service hall: the catalogue, applying, deciding to a deadline, rating.

Each service owns its transaction, checks who may act, writes its rows and its audit record together, and sends
messages after commit. Every change of an application's state goes through `application_transition`, which looks the
transition up in `hall.workflow.TRANSITIONS`, locks the row and applies the change with a guarded UPDATE on the
version it read: of two officers acting at once exactly one wins, the other hears TransitionNotAllowed (409).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from rongcheng.accounts.models import Department, User
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.card.events import BillPaid
from rongcheng.hall import calendar as working
from rongcheng.hall.catalogue import REGISTRY_FIELDS, materials_validate, upload_check
from rongcheng.hall.checks import (
    CHECKED_TRANSITIONS,
    CheckItem,
    CheckMeasure,
    checks_open,
    checks_refresh,
    decision_check_register,
)
from rongcheng.hall.errors import (
    ApplicantKindRefused,
    ApplicationDenied,
    ApplicationNotFound,
    AssuranceTooLow,
    CalendarInvalid,
    DraftQuotaReached,
    FollowUpNotFound,
    MaterialInvalid,
    RatingRefused,
    RepresentationInactive,
    ServiceItemInvalid,
    ServiceItemNotFound,
    TransitionGuardFailed,
    TransitionNotAllowed,
    TransitionUnknown,
    UploadQuotaExceeded,
)
from rongcheng.hall.licensing import (
    licence_for_material,
    licences_authorize,
    licences_fetch,
)
from rongcheng.hall.models import (
    ApplicantKind,
    Application,
    ApplicationCheck,
    ApplicationEvent,
    ApplicationMaterial,
    CalendarDay,
    Countersign,
    CountersignState,
    DayKind,
    Flag,
    FollowUp,
    MaterialSource,
    Message,
    Rating,
    ServiceItem,
    ServiceKind,
    State,
    material_spec,
)
from rongcheng.hall.permissions import (
    CALENDAR_PERMISSION,
    CATALOGUE_PERMISSION,
    acts_for_party,
    assurance_step_up,
    assurance_sufficient,
    is_applicant,
    is_officer,
    may_act,
    owns,
    represents,
)
from rongcheng.hall.workflow import RUNNING, TRANSITIONS, ApplicationTransition, Step, transitions_from
from rongcheng.kernel.context import current_address
from rongcheng.kernel.crypto import sm3_digest
from rongcheng.kernel.errors import PermissionDenied, ValidationFailed
from rongcheng.kernel.identifiers import credit_code_validate
from rongcheng.registries.errors import PersonNotFound
from rongcheng.registries.models import EntityStatus, LegalEntity
from rongcheng.registries.selectors import person_for_resident
from rongcheng.staff.permissions import has_perm_in_department

__all__ = ["CheckItem", "CheckMeasure", "decision_check_register"]  # the extension point for the apps above

NEAR_DEADLINE_WORKING_DAYS = 2
REMEDY = gettext_noop(
    "如不服本决定，可自收到本决定之日起六十日内向福州市人民政府申请行政复议，"
    "或者自收到本决定之日起六个月内向有管辖权的人民法院提起行政诉讼。"
)
MAX_REASON = 2000


def _denied(user: Any, action: str, application_id: int | str, detail: Mapping[str, Any]) -> None:
    """A refusal keeps its trace: written outside the transaction that failed."""
    audit_record(
        action=action, actor=actor_from_user(user), outcome="denied", target_type="hall.application",
        target_id=application_id, source_address=current_address(), detail=dict(detail),
    )  # fmt: skip


# ── the catalogue ─────────────────────────────────────────────────────────────────────────────────────────────────

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


def service_item_save(*, user: Any, data: Mapping[str, Any]) -> ServiceItem:
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


def calendar_day_set(*, user: Any, date: dt.date, kind: str, name: str = "") -> CalendarDay:
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
        audit_record(
            action="hall.calendar.set", actor=actor_from_user(user), target_type="hall.calendar",
            target_id=date.isoformat(), detail={"kind": kind, "name": name[:40]},
        )  # fmt: skip
    return day


def calendar_day_remove(*, user: Any, date: dt.date) -> None:
    if not (user.is_authenticated and user.has_perm(CALENDAR_PERMISSION)):
        audit_record(
            action="hall.calendar.remove", actor=actor_from_user(user), outcome="denied",
            target_type="hall.calendar", target_id=date.isoformat(),
        )  # fmt: skip
        raise PermissionDenied("This account may not edit the holiday calendar.")
    with transaction.atomic():
        removed, _ = CalendarDay.objects.filter(date=date).delete()
        if removed:
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
            audit_record(action="hall.calendar.seed", actor=actor, target_type="hall.calendar", detail={"added": added})
    return added


# ── applying ──────────────────────────────────────────────────────────────────────────────────────────────────────


def _own_draft_or_correction(user: Any, application_id: int, action: str) -> Application:
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("service", "legal_entity")
        .filter(pk=application_id)
        .first()
    )
    if application is None or not owns(user, application):
        raise ApplicationNotFound(f"You have no application {application_id}.")
    if not acts_for_party(user, application):
        raise RepresentationInactive("The account no longer represents the legal entity this application is for.")
    if application.state not in (State.DRAFT, State.CORRECTION):
        raise TransitionNotAllowed(
            f"The application is {application.state}; materials change only in a draft or during correction.",
            state=application.state,
        )
    return application


def _party_check(user: Any, application_id: int, action: str) -> None:
    """Refuse (and audit the refusal, outside the transaction that fails) an entity's application to an account that
    no longer represents the entity; the check is repeated under the row lock."""
    application = Application.objects.filter(pk=application_id).first()
    if application is not None and owns(user, application) and not acts_for_party(user, application):
        _denied(user, action, application_id, {"why": "representation inactive",
                                               "legal_entity": application.legal_entity_id})  # fmt: skip
        raise RepresentationInactive("The account no longer represents the legal entity this application is for.")


def _applicant_party(user: Any, service: ServiceItem, credit_code: str) -> LegalEntity | None:
    """The legal entity the account applies for (by its credit code), or None for the person themself; checked
    against the service's applicant kind and the account's active representation of the entity."""
    if not credit_code:
        if service.applicant_kind == ApplicantKind.ENTITY:
            raise ApplicantKindRefused(
                "This service is for legal entities: apply on behalf of a company you represent.",
                errors=[{"loc": ["legal_entity"], "rule": "applicant_kind.entity", "msg": "required"}],
            )
        return None
    if service.applicant_kind == ApplicantKind.PERSON:
        raise ApplicantKindRefused(
            "This service is for natural persons only: apply as yourself.",
            errors=[{"loc": ["legal_entity"], "rule": "applicant_kind.person", "msg": "not allowed"}],
        )
    if credit_code != credit_code.strip().upper():
        # Taken as written (kernel.identifiers): say what to change. Any other code not represented is refused
        # alike below, so that a caller cannot tell an unknown company from one they do not represent.
        credit_code_validate(credit_code, field="legal_entity")
    entity = LegalEntity.objects.filter(credit_code=credit_code, status=EntityStatus.ACTIVE).first()
    if entity is None or not represents(user, entity.pk):
        _denied(user, "hall.application.start", "", {"service": service.code, "why": "representation inactive",
                                                     "legal_entity": entity.pk if entity else None})  # fmt: skip
        raise RepresentationInactive(
            "The account does not represent this legal entity (no active representation): the legal representative "
            "claims it, or delegates the account, in the identity platform first."
        )
    return entity


def _draft_quota_check(user: Any, service: ServiceItem) -> None:
    """At most HALL_OPEN_DRAFTS_PER_SERVICE drafts of one service per account, counted under a lock on the account
    so that two starts at once cannot both pass."""
    quota = int(settings.HALL_OPEN_DRAFTS_PER_SERVICE)
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    open_drafts = Application.objects.filter(applicant=user, service=service, state=State.DRAFT).count()
    if open_drafts >= quota:
        raise DraftQuotaReached(
            f"The account already has {open_drafts} open drafts of this service (at most {quota}); continue one of "
            "them instead.",
            quota=quota,
        )


def application_start(*, user: Any, service_code: str, credit_code: str = "") -> Application:
    """A draft application of this account for the service, for the person themself or, with `credit_code`, for a
    legal entity the account represents; the account must reach the service's assurance level."""
    service = ServiceItem.objects.select_related("department").filter(code=service_code, active=True).first()
    if service is None:
        raise ServiceItemNotFound(f"No active service has the code {service_code!r}.")
    if not is_applicant(user):
        _denied(user, "hall.application.start", "", {"service": service_code, "why": "not an applicant"})
        raise ApplicationDenied("Only residents and company representatives apply for services.")
    entity = _applicant_party(user, service, credit_code)
    if not assurance_sufficient(user, service.min_assurance):
        _denied(user, "hall.application.start", "", {"service": service_code, "why": "assurance"})
        raise AssuranceTooLow(
            f"This service needs assurance level L{service.min_assurance}; the account has "
            f"L{user.assurance_level}. Step up first.",
            required_level=service.min_assurance,
            current_level=int(user.assurance_level),
            step_up=assurance_step_up(service.min_assurance, f"/hall/services/{service.code}/"),
        )
    with transaction.atomic():
        _draft_quota_check(user, service)
        application = Application.objects.create(
            service=service, department=service.department, applicant=user, legal_entity=entity
        )
        _event(application, "start", "", State.DRAFT, user, "")
        audit_record(
            action="hall.application.start", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
            detail={"service": service.code, "legal_entity": entity.pk if entity else None},
        )  # fmt: skip
    return application


def application_continue_or_start(*, user: Any, service_code: str, credit_code: str = "") -> Application:
    """The page's 在线申请: the account's newest open draft of this service for the same applicant (the person, or
    the entity of `credit_code`), so that pressing it again continues that draft; else a new draft."""
    if is_applicant(user):
        drafts = Application.objects.filter(
            applicant=user, service__code=service_code, service__active=True, state=State.DRAFT
        )
        drafts = (
            drafts.filter(legal_entity__credit_code=credit_code)
            if credit_code
            else drafts.filter(legal_entity__isnull=True)
        )
        draft = drafts.order_by("-pk").first()
        if draft is not None:
            return draft
    return application_start(user=user, service_code=service_code, credit_code=credit_code)


def _in_chinese(label: Callable[[], Any]) -> str:
    """A registry value's word as the registry and the licences write it (男/女), not in the language of the page
    that happened to prefill the material: stored materials and the licences issued from them never depend on it."""
    with translation.override("zh-hans"):
        return str(label())


def _registry_values(user: Any, application: Application, fields: list[str]) -> dict[str, dict[str, str]]:
    try:
        person = person_for_resident(user=user)
    except PersonNotFound as exc:
        raise MaterialInvalid(
            "The account is not bound to a person of the population registry: the material cannot be prefilled.",
            errors=[{"loc": ["materials"], "rule": "registry.unbound", "msg": "no person"}],
        ) from exc
    raw = {
        "person.name": person.name,
        "person.id_number": person.id_number_masked,
        "person.sex": _in_chinese(person.get_sex_display),  # the registry's word, whatever the page's language
        "person.birth_date": person.birth_date.isoformat(),
        "person.ethnicity": person.ethnicity,
        "person.division_code": person.division_code,
        "person.address": person.address.text if person.address_id and person.address else "",
        "person.phone": person.phone_masked,
    }
    audit_record(
        action="registries.person.read", actor=actor_from_user(user), target_type="registries.person",
        target_id=person.pk, purpose="service_hall", source_address=current_address(),
        detail={"via": "hall_prefill", "application": application.pk, "clear": [], "fields": fields},
    )  # fmt: skip
    return {field: {"value": str(raw[field]), "source": f"registries:{field}", "label": REGISTRY_FIELDS[field][0]}
            for field in fields}  # fmt: skip


def application_prefill(*, user: Any, application_id: int, authorize_licences: bool) -> Application:
    """Fill every material the government already holds: registry fields from the population registry, licences
    from the applicant's electronic licences when they authorize their use for this application.

    Materials that cannot be found stay empty for the applicant to upload; the source of each value is stored.
    """
    _party_check(user, application_id, "hall.application.prefill")
    with transaction.atomic():
        application = _own_draft_or_correction(user, application_id, "hall.application.prefill")
        licence_specs = [spec for spec in application.service.materials if spec["source"] == "licence"]
        if authorize_licences and licence_specs and not application.licence_authorized:
            licences_authorize(
                user=user, application=application, licence_type_codes=[s["licence_type"] for s in licence_specs]
            )
            application.licence_authorized = True
            application.save(update_fields=["licence_authorized", "updated_at"])
        fetched = (
            licences_fetch(user=user, application=application)
            if licence_specs and application.licence_authorized
            else []
        )
        filled: list[str] = []
        rows: list[ApplicationMaterial] = []
        for spec in application.service.materials:
            if spec["source"] == "registry":
                values = _registry_values(user, application, spec["fields"])
                rows.append(ApplicationMaterial(application=application, code=spec["code"],
                                                source=MaterialSource.REGISTRY, values=values,
                                                licence_identifier=""))  # fmt: skip
                filled.append(spec["code"])
            elif spec["source"] == "licence":
                found = licence_for_material(fetched, spec["licence_type"])
                if found is None:
                    continue
                values = {key: {"value": str(value), "source": f"licence:{found.identifier}",
                                "label": found.labels.get(key, key)}
                          for key, value in found.values.items()}  # fmt: skip
                rows.append(ApplicationMaterial(application=application, code=spec["code"],
                                                source=MaterialSource.LICENCE, values=values,
                                                licence_identifier=found.identifier))  # fmt: skip
                filled.append(spec["code"])
        # Every prefilled material in one statement: inserted, or replacing what an earlier prefill wrote.
        ApplicationMaterial.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["application", "code"],
            update_fields=["source", "values", "licence_identifier", "provided_at"],
        )  # fmt: skip
        audit_record(
            action="hall.application.prefill", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(), detail={"filled": filled},
        )  # fmt: skip
    return application


def _upload_quota_check(application: Application, material_code: str, size: int) -> None:
    """The uploads of one application together stay within HALL_UPLOAD_BYTES_PER_APPLICATION (the file a new upload
    replaces does not count). The caller holds the application's row lock."""
    quota = int(settings.HALL_UPLOAD_BYTES_PER_APPLICATION)
    kept = (
        ApplicationMaterial.objects.filter(application=application, source=MaterialSource.UPLOAD)
        .exclude(code=material_code)
        .aggregate(total=Sum("file_size"))["total"]
        or 0
    )
    if kept + size > quota:
        raise UploadQuotaExceeded(
            f"The application's uploads would total {kept + size} bytes; at most {quota} are kept per application.",
            errors=[{"loc": ["file"], "rule": "upload.quota", "msg": f"at most {quota} bytes per application"}],
            quota=quota,
        )


def _file_discard(name: str) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)


def _files_discard(names: list[str]) -> None:
    for name in names:
        _file_discard(name)


def application_upload(
    *, user: Any, application_id: int, material_code: str, file_name: str, content: bytes
) -> ApplicationMaterial:
    """Attach a file as one material: its type told by its content, its size within the limit, its SM3 digest kept."""
    _party_check(user, application_id, "hall.application.upload")
    with transaction.atomic():
        application = _own_draft_or_correction(user, application_id, "hall.application.upload")
        spec = material_spec(application.service, material_code)
        if spec is None:
            raise MaterialInvalid(
                f"The service has no material {material_code!r}.",
                errors=[{"loc": ["material"], "rule": "material.known", "msg": "unknown material"}],
            )
        if spec["source"] != "upload":
            raise MaterialInvalid(
                "This material is filled from the government's own records, not uploaded.",
                errors=[{"loc": ["material"], "rule": "material.not_upload", "msg": "prefilled material"}],
            )
        file_format = upload_check(spec, file_name, content)
        _upload_quota_check(application, material_code, len(content))
        digest = sm3_digest(content).hex()
        replaced = (
            ApplicationMaterial.objects.filter(application=application, code=material_code)
            .values_list("file", flat=True)
            .first()
        )
        stored = default_storage.save(
            f"hall/{application.pk}/{material_code}-{digest[:16]}.{file_format}", ContentFile(content)
        )
        # Storage holds exactly the files the records name: the new one is removed if this transaction fails, the
        # replaced one once it commits (its SM3 digest stays in the audit trail).
        if replaced and replaced != stored:
            old: str = replaced
            transaction.on_commit(lambda: _file_discard(old))
        try:
            material, _ = ApplicationMaterial.objects.update_or_create(
                application=application, code=material_code,
                defaults={"source": MaterialSource.UPLOAD, "values": {}, "licence_identifier": "", "file": stored,
                          "file_name": file_name[-200:], "file_format": file_format, "file_size": len(content),
                          "sm3": digest},
            )  # fmt: skip
            audit_record(
                action="hall.application.upload", actor=actor_from_user(user), target_type="hall.application",
                target_id=application.pk, source_address=current_address(),
                detail={"material": material_code, "format": file_format, "size": len(content), "sm3": digest},
            )  # fmt: skip
        except BaseException:
            _file_discard(stored)  # the record was not written: nothing names this file
            raise
    return material


def application_draft_discard(*, user: Any, application_id: int) -> None:
    """The applicant withdraws a draft of theirs that was never submitted: the draft, its materials and its uploaded
    files are deleted (the files once the deletion commits); the audit trail keeps that it existed."""
    _party_check(user, application_id, "hall.application.discard")
    with transaction.atomic():
        application = _own_draft_or_correction(user, application_id, "hall.application.discard")
        if application.state != State.DRAFT:
            raise TransitionNotAllowed(
                f"The application is {application.state}; only a draft that was never submitted is discarded.",
                state=application.state,
            )
        files = [name for name in application.provided.values_list("file", flat=True) if name]
        audit_record(
            action="hall.application.discard", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
            detail={"service": application.service.code, "files": len(files)},
        )  # fmt: skip
        application.delete()
        transaction.on_commit(functools.partial(_files_discard, files))


def application_save(*, user: Any, application_id: int, statement: str) -> Application:
    """Save the applicant's statement of a draft (or during correction); the draft can be resumed later."""
    if len(statement) > 5000:
        raise ValidationFailed(
            "The statement is at most 5000 characters.",
            errors=[{"loc": ["statement"], "rule": "max_length", "msg": "at most 5000 characters"}],
        )
    _party_check(user, application_id, "hall.application.save")
    with transaction.atomic():
        application = _own_draft_or_correction(user, application_id, "hall.application.save")
        application.statement = statement
        application.version = F("version") + 1
        application.save(update_fields=["statement", "version", "updated_at"])
        audit_record(
            action="hall.application.save", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
        )  # fmt: skip
    application.refresh_from_db()
    return application


# ── deciding ──────────────────────────────────────────────────────────────────────────────────────────────────────


def _event(application: Application, name: str, source: str, target: str, user: Any, reason: str) -> None:
    ApplicationEvent.objects.create(
        application=application, transition=name, from_state=source, to_state=target,
        actor_id=str(user.pk) if user is not None and user.is_authenticated else "",
        actor_label=(getattr(user, "display_name", "") or user.get_username()) if user is not None else "系统",
        department_id=getattr(user, "department_id", None) if user is not None else None, reason=reason,
    )  # fmt: skip


def _notify(application: Application, template: str, **params: str) -> None:
    text = template.format(**params)
    Message.objects.create(
        recipient_id=application.applicant_id, application=application, text=text, template=template, params=params
    )
    email = application.applicant.email
    if email:
        subject = f"[榕城网上办事大厅] {application.number or ''} {application.service.name}"

        def send() -> None:
            send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=True)

        transaction.on_commit(send)


MESSAGES = {  # the msgids of the applicant's messages: stored with their parameters, shown in the reader's language
    "submit": gettext_noop("您的申请已提交，办件编号 {number}。"),
    "accept": gettext_noop("您的申请 {number} 已受理，法定办结期限 {deadline}，承诺办结期限 {promised}。"),
    "not_accept": gettext_noop("您的申请 {number} 不予受理。理由：{reason}"),
    "return_for_correction": gettext_noop("您的申请 {number} 需要补正材料：{reason}"),
    "resubmit": gettext_noop("您已提交补正材料，申请 {number} 继续审查。"),
    "suspend": gettext_noop("您的申请 {number} 已挂起：{reason}"),
    "resume": gettext_noop("您的申请 {number} 已恢复办理，期限顺延至 {deadline}。"),
    "approve": gettext_noop("您的申请 {number} 已准予许可。"),
    "refuse": gettext_noop(
        "您的申请 {number} 不予许可。理由：{reason}。"
        "如不服本决定，可自收到本决定之日起六十日内向福州市人民政府申请行政复议，"
        "或者自收到本决定之日起六个月内向有管辖权的人民法院提起行政诉讼。"
    ),
    "conclude": gettext_noop("您的申请 {number} 已办结，欢迎评价。"),
    "answer": gettext_noop("关于您对办件 {number} 的评价，{department} 回复：{answer}"),
}


def application_transition(
    *,
    user: Any,
    application_id: int,
    transition: str,
    reason: str = "",
    departments: Iterable[str] = (),
    check: Callable[[Application], None] | None = None,
) -> Application:
    """Take one transition of the table. Officers need the decide permission and the service's department (any
    window for acceptance of a 全城通办 service); applicants only their own application; `system` transitions are
    taken by the services themselves. The row is locked and updated only if its version is unchanged."""
    step = TRANSITIONS.get(transition)
    if step is None:
        raise TransitionUnknown(
            f"{transition!r} is not a transition of an application.",
            errors=[{"loc": ["transition"], "rule": "transition.known", "msg": "not in the table"}],
        )
    reason = reason.strip()
    if step.needs_reason and not reason:
        raise TransitionGuardFailed(
            f"{step.label} needs a reason.", errors=[{"loc": ["reason"], "rule": "reason.required", "msg": "required"}]
        )
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "The reason is too long.", errors=[{"loc": ["reason"], "rule": "max_length", "msg": f"<= {MAX_REASON}"}]
        )
    try:
        with transaction.atomic():
            application = (
                Application.objects.select_for_update(of=("self",))
                .select_related("service", "department", "applicant", "legal_entity")
                .filter(pk=application_id)
                .first()
            )
            if application is None:
                raise ApplicationNotFound(f"No application {application_id}.")
            _authorize(user, application, step)
            if application.state not in step.sources:
                raise TransitionNotAllowed(
                    f"{step.label} is not possible: the application is {application.get_state_display()} "
                    f"({application.state}).",
                    state=application.state,
                )
            if check is not None:
                check(application)
            return _apply(user, application, step, reason, list(departments))
    except ApplicationDenied as exc:
        _denied(user, f"hall.application.{transition}", application_id, {"why": exc.detail})
        raise


def _authorize(user: Any, application: Application, step: ApplicationTransition) -> None:
    if step.role == "system":
        if user is not None and user.is_authenticated:
            raise ApplicationDenied(f"{step.label} happens by itself; nobody takes it by hand.")
        return
    if step.role == "applicant":
        if not owns(user, application):
            raise ApplicationNotFound(f"You have no application {application.pk}.")
        if not acts_for_party(user, application):
            raise RepresentationInactive("The account no longer represents the legal entity this application is for.")
        return
    if not may_act(user, application, any_window=step.any_window):
        raise ApplicationDenied("This account may not decide applications of this service.")


def _apply(
    user: Any, application: Application, step: ApplicationTransition, reason: str, departments: list[str]
) -> Application:
    """The row's guards, then its effects (the guarded write among them), as `hall.workflow` declares them; then
    what every transition does: the timeline event, the audit record and the applicant's message."""
    source = application.state
    context = Step(
        user=user, application=application, reason=reason, departments=departments,
        source=source, today=working.today(),
        changes={"state": step.target, "version": application.version + 1, "updated_at": timezone.now()},
    )  # fmt: skip
    step.check(context)
    step.carry_out(context)
    actor_user = user if step.role != "system" else None
    _event(application, step.name, source, step.target, actor_user, reason)
    audit_record(
        action=f"hall.application.{step.name}",
        actor=actor_from_user(user) if actor_user is not None else Actor.system("hall"),
        target_type="hall.application", target_id=application.pk, source_address=current_address(),
        detail={"from": source, "to": step.target, "number": application.number or "", "reason": reason[:200]},
    )  # fmt: skip
    template = MESSAGES.get(step.name)
    if template:
        _notify(
            application, template, number=application.number or "", reason=reason,
            deadline=str(application.deadline or ""), promised=str(application.promised_deadline or ""),
        )  # fmt: skip
    return application


def fee_paid_record(event: BillPaid) -> None:
    """The city card announced a paid bill (card.events.BillPaid, subscribed in apps.ready): if it is the fee of an
    application (its reference, workflow.fee_reference), the payment is noted on the application's timeline and the
    audit trail and the applicant is told; the officer may then conclude it (the `fee_paid` guard). Noted once per
    receipt, however often the event is delivered."""
    if not event.reference.startswith("hall:"):
        return
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",))
            .select_related("service", "applicant")
            .filter(number=event.reference.removeprefix("hall:"), department_id=event.department_id)
            .first()
        )
        if application is None:
            return
        reason = f"已缴费 {event.amount // 100}.{event.amount % 100:02d} 元，票据号 {event.receipt_number}"
        if ApplicationEvent.objects.filter(application=application, transition="fee_paid", reason=reason).exists():
            return
        _event(application, "fee_paid", application.state, application.state, None, reason)
        audit_record(
            action="hall.application.fee_paid", actor=Actor.system("hall"), target_type="hall.application",
            target_id=application.pk,
            detail={"number": application.number or "", "amount": event.amount, "receipt": event.receipt_number},
        )  # fmt: skip
        _notify(application, f"您的申请 {application.number} 费用已缴纳（票据号 {event.receipt_number}），等待办结。")


def application_submit(*, user: Any, application_id: int) -> Application:
    return application_transition(user=user, application_id=application_id, transition="submit")


def application_resubmit(*, user: Any, application_id: int, statement: str | None = None) -> Application:
    """The applicant's corrected application goes back to review; the clock runs again."""
    _party_check(user, application_id, "hall.application.resubmit")
    with transaction.atomic():
        if statement is not None:
            application_save(user=user, application_id=application_id, statement=statement)
        return application_transition(user=user, application_id=application_id, transition="resubmit")


def countersign_answer(*, user: Any, application_id: int, agree: bool, opinion: str) -> Countersign:
    """A countersigning department's answer; the last answer returns the application to review."""
    if not is_officer(user):
        _denied(user, "hall.countersign.answer", application_id, {"why": "not an officer"})
        raise ApplicationDenied("Only officers countersign.")
    with transaction.atomic():
        countersign = (
            Countersign.objects.select_for_update()
            .filter(application_id=application_id, department_id=user.department_id, state=CountersignState.PENDING)
            .first()
        )
        if countersign is None:
            raise TransitionNotAllowed("Your department has no pending countersign on this application.")
        countersign.state = CountersignState.AGREED if agree else CountersignState.DISAGREED
        countersign.opinion = opinion.strip()[:MAX_REASON]
        countersign.officer_label = getattr(user, "display_name", "") or user.get_username()
        countersign.answered_at = timezone.now()
        countersign.save()
        audit_record(
            action="hall.countersign.answer", actor=actor_from_user(user), target_type="hall.application",
            target_id=application_id, source_address=current_address(), detail={"agree": agree},
        )  # fmt: skip
        application = Application.objects.get(pk=application_id)
        _event(application, "countersign", application.state, application.state, user, countersign.opinion)
        if not Countersign.objects.filter(application_id=application_id, state=CountersignState.PENDING).exists():
            application_transition(user=None, application_id=application_id, transition="countersign_complete")
    return countersign


# ── decision checks (hall.checks): what the officer records before accepting or deciding ─────────────────────────


def _checked_application(user: Any, application_id: int, action: str) -> Application:
    application = (
        Application.objects.select_related("service", "legal_entity", "applicant").filter(pk=application_id).first()
    )
    if application is None or application.state == State.DRAFT:
        raise ApplicationNotFound(f"No application {application_id}.")
    if not may_act(user, application, any_window=application.state == State.SUBMITTED):
        _denied(user, action, application_id, {"why": "not an officer of the application"})
        raise ApplicationDenied("This account may not decide applications of this service.")
    return application


def application_checks(*, user: Any, application_id: int) -> list[ApplicationCheck]:
    """The check items of an application for the officer about to accept or decide it: the items due today are
    kept as shown (a row each, once) and returned with those answered before."""
    application = _checked_application(user, application_id, "hall.application.checks")
    upcoming = [t.name for t in transitions_from(application.state, "officer") if t.name in CHECKED_TRANSITIONS]
    if not upcoming:
        return list(ApplicationCheck.objects.filter(application=application).order_by("id"))
    return checks_open(application, working.today(), upcoming[0])


def application_check_record(
    *, user: Any, application_id: int, check_id: int, applied: bool, reason: str = ""
) -> ApplicationCheck:
    """The officer's answer for one measure: applied, or not applied with a reason. Answered once."""
    reason = reason.strip()
    if not applied and not reason:
        raise ValidationFailed(
            "A measure not applied needs the reason.",
            errors=[{"loc": ["reason"], "rule": "reason.required", "msg": "required when not applied"}],
        )
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "The reason is too long.", errors=[{"loc": ["reason"], "rule": "max_length", "msg": f"<= {MAX_REASON}"}]
        )
    application = _checked_application(user, application_id, "hall.application.check_record")
    with transaction.atomic():
        check = ApplicationCheck.objects.select_for_update().filter(pk=check_id, application=application).first()
        if check is None:
            raise ApplicationNotFound(f"Application {application_id} has no check item {check_id}.")
        if check.recorded_at is not None:
            raise TransitionNotAllowed("This check item is already recorded.")
        check.applied = applied
        check.reason = reason
        check.officer = user
        check.officer_label = getattr(user, "display_name", "") or user.get_username()
        check.recorded_at = timezone.now()
        check.save()
        _event(application, "check_record", application.state, application.state, user,
               f"{check.seen.get('text', '')[:80]} · {check.seen.get('measure', '')[:80]}")  # fmt: skip
        audit_record(
            action="hall.application.check_record", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
            detail={"source": check.source, "item": check.item_reference, "measure": check.measure_code,
                    "applied": applied},
        )  # fmt: skip
    return check


# States whose acceptance or decision is still ahead: a changed list is checked again for them.
DECISION_AHEAD = frozenset({State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW, State.CORRECTION,
                            State.COUNTERSIGNING, State.SUSPENDED})  # fmt: skip


def application_checks_refresh(*, application_id: int, why: str, on: dt.date | None = None) -> tuple[int, int]:
    """Run the decision checks again for an application whose acceptance or decision is ahead (the system, when
    what a check reads has changed: a list entry added or removed): items now due are put before the officer,
    unanswered items no longer due are withdrawn, answered ones stay as seen. A change is noted on the timeline
    and audited. Returns (opened, withdrawn); (0, 0) for an application already decided."""
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",)).select_related("legal_entity", "applicant")
            .filter(pk=application_id).first()
        )  # fmt: skip
        if application is None or application.state not in DECISION_AHEAD:
            return 0, 0
        transition = "accept" if application.state == State.SUBMITTED else "approve"
        opened, withdrawn = checks_refresh(application, on or working.today(), transition)
        if opened or withdrawn:
            _event(application, "check_refresh", application.state, application.state, None, why[:200])
            audit_record(
                action="hall.application.check_refresh", actor=Actor.system("hall"), target_type="hall.application",
                target_id=application.pk, detail={"opened": opened, "withdrawn": withdrawn},
            )  # fmt: skip
    return opened, withdrawn


# ── deadlines ─────────────────────────────────────────────────────────────────────────────────────────────────────


def applications_escalate(*, today: dt.date | None = None) -> dict[str, int]:
    """Flag running applications overdue or within NEAR_DEADLINE_WORKING_DAYS of their deadline, and escalate each
    newly flagged one (an event on its timeline, an audit record). Run periodically (`rongcheng manage
    hall_escalate`); each run changes only applications whose flag changes."""
    today = today or working.today()
    near_limit = working.working_days_add(today, NEAR_DEADLINE_WORKING_DAYS)
    counts = {"overdue": 0, "near": 0}
    running = Application.objects.filter(state__in=RUNNING, deadline__isnull=False)
    for flag, qs in (
        (Flag.OVERDUE, running.filter(deadline__lt=today).exclude(flag=Flag.OVERDUE)),
        (Flag.NEAR, running.filter(deadline__gte=today, deadline__lte=near_limit, flag=Flag.NONE)),
    ):
        for application_id in list(qs.values_list("pk", flat=True)):
            with transaction.atomic():
                changed = (
                    Application.objects.filter(pk=application_id, state__in=RUNNING)
                    .exclude(flag=flag)
                    .update(flag=flag, escalated_at=timezone.now())
                )
                if not changed:
                    continue
                application = Application.objects.get(pk=application_id)
                _event(application, f"escalate_{flag}", application.state, application.state, None, "")
                audit_record(
                    action="hall.application.escalate", actor=Actor.system("hall"), target_type="hall.application",
                    target_id=application_id, detail={"flag": str(flag), "deadline": str(application.deadline)},
                )  # fmt: skip
                counts[str(flag)] += 1
    return counts


# ── after conclusion ──────────────────────────────────────────────────────────────────────────────────────────────

POOR_RATING = 2


def application_rate(*, user: Any, application_id: int, level: int, comment: str = "") -> Rating:
    """The applicant's rating (1 非常不满意 … 5 非常满意) of a concluded application; ≤ 2 opens a follow-up."""
    if not 1 <= level <= 5:
        raise ValidationFailed("A rating is 1 to 5.", errors=[{"loc": ["level"], "rule": "level.range", "msg": "1..5"}])
    with transaction.atomic():
        application = Application.objects.select_for_update().filter(pk=application_id).first()
        if application is None or not owns(user, application):
            raise ApplicationNotFound(f"You have no application {application_id}.")
        if application.state != State.CONCLUDED:
            raise RatingRefused("Rate an application once it is concluded.", state=application.state)
        if Rating.objects.filter(application=application).exists():
            raise RatingRefused("This application is already rated.")
        rating = Rating.objects.create(application=application, level=level, comment=comment.strip()[:MAX_REASON])
        if level <= POOR_RATING:
            FollowUp.objects.create(rating=rating, department_id=application.department_id)
        audit_record(
            action="hall.application.rate", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(), detail={"level": level},
        )  # fmt: skip
    return rating


def follow_up_answer(*, user: Any, follow_up_id: int, answer: str) -> FollowUp:
    """The department's answer to a poor rating; the applicant is told."""
    answer = answer.strip()
    if not answer:
        raise ValidationFailed("Write an answer.", errors=[{"loc": ["answer"], "rule": "required", "msg": "required"}])
    with transaction.atomic():
        follow_up = (
            FollowUp.objects.select_for_update().select_related("rating__application__service")
            .filter(pk=follow_up_id).first()
        )  # fmt: skip
        if follow_up is None:
            raise FollowUpNotFound(f"No follow-up {follow_up_id}.")
        if not is_officer(user) or follow_up.department_id != user.department_id:
            raise ApplicationDenied("Only the department's officers answer its follow-ups.")
        if follow_up.answered_at is not None:
            raise RatingRefused("This follow-up is already answered.")
        follow_up.answer = answer[:MAX_REASON]
        follow_up.answered_by = getattr(user, "display_name", "") or user.get_username()
        follow_up.answered_at = timezone.now()
        follow_up.save()
        application = follow_up.rating.application
        _notify(
            application, MESSAGES["answer"], number=application.number or "", department=str(application.department),
            answer=answer[:500],
        )  # fmt: skip
        audit_record(
            action="hall.follow_up.answer", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
        )  # fmt: skip
    return follow_up


def message_mark_read(*, user: Any, message_id: int) -> None:
    Message.objects.filter(pk=message_id, recipient_id=user.pk, read_at__isnull=True).update(read_at=timezone.now())
