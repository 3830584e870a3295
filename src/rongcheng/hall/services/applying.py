"""Applying: a draft started, prefilled from the registries and licences, materials uploaded, saved."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import translation

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import actor_from_user, audit_record, audit_record_row, audit_records_write
from rongcheng.hall.catalogue import REGISTRY_FIELDS, upload_check
from rongcheng.hall.errors import (
    ApplicantKindRefused,
    ApplicationDenied,
    ApplicationNotFound,
    AssuranceTooLow,
    DraftQuotaReached,
    MaterialInvalid,
    RepresentationInactive,
    ServiceItemNotFound,
    TransitionNotAllowed,
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
    ApplicationMaterial,
    MaterialSource,
    ServiceItem,
    State,
    material_spec,
)
from rongcheng.hall.permissions import (
    acts_for_party,
    assurance_step_up,
    assurance_sufficient,
    is_applicant,
    owns,
    represents,
)
from rongcheng.hall.services._shared import _denied, _event_row
from rongcheng.hall.workflow import created_with_rows
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.crypto import sm3_digest
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import credit_code_validate
from rongcheng.kernel.prepared import PreparedLookup
from rongcheng.registries.errors import PersonNotFound
from rongcheng.registries.models import EntityStatus, LegalEntity
from rongcheng.registries.selectors import person_for_resident

# The applicant's locking read of their draft, compiled once per connection and its plan kept by PostgreSQL
# (kernel.prepared, ADR 0020); the placeholder is an id no application has.
_draft_row: PreparedLookup[Application] = PreparedLookup(
    lambda application_id: (
        Application.objects.select_for_update(of=("self",))
        .select_related("service", "legal_entity")
        .filter(pk=application_id)
        .order_by("pk")[:1]
    ),
    placeholder=-7_305_991_139,
    keep_plan=True,
)


def _own_draft_or_correction(user: Account, application_id: int, action: str) -> Application:
    application = _draft_row(int(application_id))
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


def _party_check(user: Account, application_id: int, action: str) -> None:
    """Refuse (and audit the refusal, outside the transaction that fails) an entity's application to an account that
    no longer represents the entity; the check is repeated under the row lock."""
    application = Application.objects.filter(pk=application_id).first()
    if application is not None and owns(user, application) and not acts_for_party(user, application):
        _denied(user, action, application_id, {"why": "representation inactive",
                                               "legal_entity": application.legal_entity_id})  # fmt: skip
        raise RepresentationInactive("The account no longer represents the legal entity this application is for.")


@contextmanager
def _draft_locked(user: Account, application_id: int, action: str) -> Iterator[Application]:
    """The applicant's own draft (or correction) locked for a change, in a transaction: one read of the row. An
    entity's application refused because the account no longer represents the entity keeps its trace: the refusal is
    audited once the transaction has rolled back (as `_party_check` does before one)."""
    application: Application | None = None
    try:
        with transaction.atomic():
            application = _own_draft_or_correction(user, application_id, action)
            yield application
    except RepresentationInactive:
        if application is None:  # refused under the lock, not by what the change itself called
            entity = Application.objects.filter(pk=application_id).values_list("legal_entity_id", flat=True).first()
            _denied(user, action, application_id, {"why": "representation inactive", "legal_entity": entity})
        raise


def _applicant_party(user: Account, service: ServiceItem, credit_code: str) -> LegalEntity | None:
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


def _draft_quota_check(user: User, service: ServiceItem) -> None:
    """At most HALL_OPEN_DRAFTS_PER_SERVICE drafts of one service per account, counted under a lock on the account
    so that two starts at once cannot both pass."""
    quota = int(settings.HALL_OPEN_DRAFTS_PER_SERVICE)
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    # Counted in a statement of its own, after the lock is held: a count in the locking statement would read the
    # snapshot taken before waiting for the lock, and miss the draft of the start that held it.
    open_drafts = Application.objects.filter(applicant=user, service=service, state=State.DRAFT).count()
    if open_drafts >= quota:
        raise DraftQuotaReached(
            f"The account already has {open_drafts} open drafts of this service (at most {quota}); continue one of "
            "them instead.",
            quota=quota,
        )


_active_service: PreparedLookup[ServiceItem] = PreparedLookup(
    lambda code: ServiceItem.objects.select_related("department").filter(code=code, active=True).order_by("pk")[:1]
)


def application_start(*, user: User, service_code: str, credit_code: str = "") -> Application:
    """A draft application of this account for the service, for the person themself or, with `credit_code`, for a
    legal entity the account represents; the account must reach the service's assurance level."""
    service = _active_service(service_code)
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
        application = Application(service=service, department=service.department, applicant=user, legal_entity=entity)
        # The draft, its timeline event and its audit record in one statement (PostgreSQL), each taking its id.
        audit = audit_record_row(
            action="hall.application.start", actor=actor_from_user(user), target_type="hall.application",
            source_address=current_address(),
            detail={"service": service.code, "legal_entity": entity.pk if entity else None},
        )  # fmt: skip
        created_with_rows(
            application,
            [(_event_row(application, "start", "", State.DRAFT, user, ""), "application"), (audit, "target_id")],
        )
    return application


def application_continue_or_start(*, user: User, service_code: str, credit_code: str = "") -> Application:
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


def _registry_values(
    user: User, application: Application, fields: list[str], reads: list[AuditRecord]
) -> dict[str, dict[str, str]]:
    """The fields of the account's person in the population registry; the read's audit record, not yet written, is
    added to `reads` (the caller writes it with its own, in its transaction)."""
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
    reads.append(
        audit_record_row(
            action="registries.person.read",
            actor=actor_from_user(user),
            target_type="registries.person",
            target_id=person.pk,
            purpose="service_hall",
            source_address=current_address(),
            detail={"via": "hall_prefill", "application": application.pk, "clear": [], "fields": fields},
        )
    )
    return {field: {"value": str(raw[field]), "source": f"registries:{field}", "label": REGISTRY_FIELDS[field][0]}
            for field in fields}  # fmt: skip


def application_prefill(*, user: User, application_id: int, authorize_licences: bool) -> Application:
    """Fill every material the government already holds: registry fields from the population registry, licences
    from the applicant's electronic licences when they authorize their use for this application.

    Materials that cannot be found stay empty for the applicant to upload; the source of each value is stored.
    """
    with _draft_locked(user, application_id, "hall.application.prefill") as application:
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
        reads: list[AuditRecord] = []
        for spec in application.service.materials:
            if spec["source"] == "registry":
                values = _registry_values(user, application, spec["fields"], reads)
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
        # The registry's reads and the prefill itself audited in one statement.
        prefill = audit_record_row(
            action="hall.application.prefill", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(), detail={"filled": filled},
        )  # fmt: skip
        audit_records_write([*reads, prefill])
    return application


def _upload_quota_check(application: Application, material_code: str, size: int) -> None:
    """The uploads of one application together stay within HALL_UPLOAD_BYTES_PER_APPLICATION (the file a new upload
    replaces does not count). The caller holds the application's row lock."""
    provided = ApplicationMaterial.objects.filter(application=application).values_list(
        "code", "source", "file_size", "file"
    )
    _uploads_within_quota(list(provided), material_code, size)


def _uploads_within_quota(provided: list[tuple[str, str, int | None, str]], material_code: str, size: int) -> None:
    """The quota check on the application's materials as read under its lock: (code, source, file size, file)."""
    quota = int(settings.HALL_UPLOAD_BYTES_PER_APPLICATION)
    kept = sum(
        file_size or 0
        for code, source, file_size, _file in provided
        if source == MaterialSource.UPLOAD and code != material_code
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
    *, user: Account, application_id: int, material_code: str, file_name: str, content: bytes
) -> ApplicationMaterial:
    """Attach a file as one material: its type told by its content, its size within the limit, its SM3 digest kept."""
    with _draft_locked(user, application_id, "hall.application.upload") as application:
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
        # One read of the application's materials answers both the quota and the file the upload replaces.
        provided = list(
            ApplicationMaterial.objects.filter(application=application).values_list("code", "source", "file_size",
                                                                                    "file")
        )  # fmt: skip
        _uploads_within_quota(provided, material_code, len(content))
        digest = sm3_digest(content).hex()
        replaced = next((file for code, _source, _size, file in provided if code == material_code), None)
        stored = default_storage.save(
            f"hall/{application.pk}/{material_code}-{digest[:16]}.{file_format}", ContentFile(content)
        )
        # Storage holds exactly the files the records name: the new one is removed if this transaction fails, the
        # replaced one once it commits (its SM3 digest stays in the audit trail).
        if replaced and replaced != stored:
            old: str = replaced
            transaction.on_commit(lambda: _file_discard(old))
        try:
            # Inserted, or replacing the material's earlier upload, in one statement (no savepoints, no re-read).
            (material,) = ApplicationMaterial.objects.bulk_create(
                [ApplicationMaterial(application=application, code=material_code, source=MaterialSource.UPLOAD,
                                     values={}, licence_identifier="", file=stored, file_name=file_name[-200:],
                                     file_format=file_format, file_size=len(content), sm3=digest)],
                update_conflicts=True, unique_fields=["application", "code"],
                update_fields=["source", "values", "licence_identifier", "file", "file_name", "file_format",
                               "file_size", "sm3", "provided_at"],
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


def application_draft_discard(*, user: Account, application_id: int) -> None:
    """The applicant withdraws a draft of theirs that was never submitted: the draft, its materials and its uploaded
    files are deleted (the files once the deletion commits); the audit trail keeps that it existed."""
    with _draft_locked(user, application_id, "hall.application.discard") as application:
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


def application_save(*, user: Account, application_id: int, statement: str) -> Application:
    """Save the applicant's statement of a draft (or during correction); the draft can be resumed later."""
    if len(statement) > 5000:
        raise ValidationFailed(
            "The statement is at most 5000 characters.",
            errors=[{"loc": ["statement"], "rule": "max_length", "msg": "at most 5000 characters"}],
        )
    with _draft_locked(user, application_id, "hall.application.save") as application:
        application.statement = statement
        application.version = F("version") + 1
        application.save(update_fields=["statement", "version", "updated_at"])
        audit_record(
            action="hall.application.save", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
        )  # fmt: skip
    application.refresh_from_db()
    return application
