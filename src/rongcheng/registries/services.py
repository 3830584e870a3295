"""Write use-cases of the base registries. Each owns its transaction, keeps the previous version and writes the
audit record with the acting user in the same transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.context import current_address
from rongcheng.kernel.crypto import data_keyring
from rongcheng.kernel.divisions import division_ever_existed
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import credit_code_validate, id_number_validate
from rongcheng.registries.errors import (
    LegalEntityAlreadyRegistered,
    LegalEntityNotFound,
    PersonAlreadyRegistered,
    PersonNotFound,
    RecordClosed,
    RegistryInputInvalid,
    StaleVersion,
)
from rongcheng.registries.ethnicities import ETHNICITIES
from rongcheng.registries.models import Address, EntityStatus, LegalEntity, Person, PersonStatus, RecordVersion
from rongcheng.registries.protection import Protected, index_of, protect_id_number, protect_phone, reveal

_SNAPSHOT_AD = b"registries.version"
PHONE_PATTERN_DIGITS = frozenset("0123456789-+ ")


@dataclass(frozen=True)
class PersonInput:
    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    ethnicity: str
    division_code: str
    phone: str
    address_text: str


def _collect(errors: list[dict[str, Any]], field: str, exc: ValidationFailed) -> None:
    for error in exc.errors:
        errors.append({**error, "loc": [field]})


def person_input_validate(data: Mapping[str, Any]) -> PersonInput:
    """Validate one person's fields (form, API body or import row); every broken rule is reported together."""
    errors: list[dict[str, Any]] = []
    raw_id = str(data.get("id_number") or "")
    parsed = None
    try:
        parsed = id_number_validate(raw_id)
    except ValidationFailed as exc:
        _collect(errors, "id_number", exc)
    name = str(data.get("name") or "").strip()
    if not name:
        errors.append({"loc": ["name"], "rule": "name.required", "msg": "name is required"})
    elif len(name) > 50:
        errors.append({"loc": ["name"], "rule": "name.length", "msg": "at most 50 characters"})
    ethnicity = str(data.get("ethnicity") or "").strip()
    if ethnicity and ethnicity not in ETHNICITIES:
        errors.append({"loc": ["ethnicity"], "rule": "ethnicity.code", "msg": "not a GB/T 3304 code"})
    division = str(data.get("division_code") or "").strip() or (parsed.division_code if parsed else "")
    if division and not (len(division) == 6 and division.isdigit() and division_ever_existed(division)):
        errors.append({"loc": ["division_code"], "rule": "division.known", "msg": "not a GB/T 2260 division code"})
    phone = str(data.get("phone") or "").strip()
    if phone and (len(phone) > 20 or not set(phone) <= PHONE_PATTERN_DIGITS or sum(c.isdigit() for c in phone) < 7):
        errors.append({"loc": ["phone"], "rule": "phone.format", "msg": "not a phone number"})
    address_text = str(data.get("address") or "").strip()
    if len(address_text) > 200:
        errors.append({"loc": ["address"], "rule": "address.length", "msg": "at most 200 characters"})
    for field in ("sex", "birth_date"):
        given = str(data.get(field) or "").strip()
        if given and parsed:
            expected = parsed.sex if field == "sex" else parsed.birth_date.isoformat()
            if given != expected:
                errors.append(
                    {"loc": [field], "rule": f"{field}.matches_id_number", "msg": "differs from the ID number"}
                )
    if errors or parsed is None:
        raise RegistryInputInvalid("The person's data breaks the registry's rules.", errors=errors)
    return PersonInput(
        id_number=parsed.value,
        name=name,
        sex=parsed.sex,
        birth_date=parsed.birth_date,
        ethnicity=ethnicity,
        division_code=division,
        phone=phone,
        address_text=address_text,
    )


def person_snapshot(person: Person) -> dict[str, Any]:
    return {
        "id_number": reveal("person.id_number", person.id_number_cipher),
        "name": person.name,
        "sex": person.sex,
        "birth_date": person.birth_date.isoformat(),
        "ethnicity": person.ethnicity,
        "division_code": person.division_code,
        "address": person.address.text if person.address else "",
        "phone": reveal("person.phone", person.phone_cipher),
        "status": person.status,
        "closed_on": person.closed_on.isoformat() if person.closed_on else None,
    }


def _supersede(
    *, registry: str, record: Person | LegalEntity, snapshot: dict[str, Any], change: str, reason: str, actor: Actor
) -> dt.datetime:
    """Keep the record's current state as a previous version; returns the moment the new version starts."""
    now = timezone.now()
    RecordVersion.objects.create(
        registry=registry,
        record_id=record.pk,
        version=record.version,
        valid_from=record.valid_from,
        valid_to=now,
        snapshot_cipher=data_keyring().encrypt_text(
            json.dumps(snapshot, ensure_ascii=False, sort_keys=True), associated_data=_SNAPSHOT_AD
        ),
        change=change,
        reason=reason[:200],
        actor_id=actor.id,
        actor_label=actor.label[:150],
    )
    record.version += 1
    record.valid_from = now
    return now


def version_snapshot(version: RecordVersion) -> dict[str, Any]:
    text = data_keyring().decrypt_text(version.snapshot_cipher, associated_data=_SNAPSHOT_AD)
    data: dict[str, Any] = json.loads(text)
    return data


def _address_for(text: str, division_code: str) -> Address | None:
    if not text:
        return None
    address, _ = Address.objects.get_or_create(text=text, division_code=division_code)
    return address


def person_register(*, data: Mapping[str, Any], actor: Actor, reason: str = "registration") -> Person:
    clean = person_input_validate(data)
    protected_id = protect_id_number(clean.id_number)
    protected_phone = protect_phone(clean.phone)
    try:
        with transaction.atomic():
            person = Person.objects.create(
                id_number_cipher=protected_id.cipher,
                id_number_index=protected_id.blind,
                id_number_masked=protected_id.masked,
                name=clean.name,
                sex=clean.sex,
                birth_date=clean.birth_date,
                ethnicity=clean.ethnicity,
                division_code=clean.division_code,
                address=_address_for(clean.address_text, clean.division_code),
                phone_cipher=protected_phone.cipher,
                phone_index=protected_phone.blind,
                phone_masked=protected_phone.masked,
                valid_from=timezone.now(),
            )
            audit_record(
                source_address=current_address(),
                action="registries.person.register", actor=actor, target_type="registries.person", target_id=person.pk,
                detail={"reason": reason},
            )  # fmt: skip
    except IntegrityError as exc:
        if Person.objects.filter(id_number_index=protected_id.blind).exists():
            raise PersonAlreadyRegistered(f"A person with the ID number {protected_id.masked} is registered.") from exc
        raise
    return person


def _person_for_update(person_id: int) -> Person:
    # of=("self",): PostgreSQL cannot lock the nullable side of the outer join to the address.
    person = Person.objects.select_for_update(of=("self",)).select_related("address").filter(pk=person_id).first()
    if person is None:
        raise PersonNotFound(f"No person has the record number {person_id}.")
    return person


def _correction_check(changes: Mapping[str, Any], correctable: tuple[str, ...], reason: str) -> None:
    unknown = sorted(set(changes) - set(correctable))
    if unknown:
        raise RegistryInputInvalid(
            "These fields cannot be corrected.",
            errors=[{"loc": [field], "rule": "field.correctable", "msg": "not correctable"} for field in unknown],
        )
    _reason_required(reason, "A correction")


def _entity_for_update(entity_id: int) -> LegalEntity:
    entity = LegalEntity.objects.select_for_update(of=("self",)).select_related("address").filter(pk=entity_id).first()
    if entity is None:
        raise LegalEntityNotFound(f"No legal entity has the record number {entity_id}.")
    return entity


CORRECTABLE_PERSON_FIELDS = ("name", "ethnicity", "division_code", "phone", "address")


def person_correct(
    *, person_id: int, changes: Mapping[str, Any], actor: Actor, reason: str, expected_version: int | None = None
) -> Person:
    """Correct a person's record; the ID number itself is never corrected (a wrong one is a different person)."""
    _correction_check(changes, CORRECTABLE_PERSON_FIELDS, reason)
    with transaction.atomic():
        person = _person_for_update(person_id)
        if expected_version is not None and person.version != expected_version:
            raise StaleVersion(f"The record is at version {person.version}, not {expected_version}.")
        if person.status != PersonStatus.LIVING:
            raise RecordClosed("The record is closed; it can no longer be corrected.")
        current = person_snapshot(person)
        merged = {**current, **{k: ("" if v is None else v) for k, v in changes.items()}}
        clean = person_input_validate(merged)
        _supersede(registry="persons", record=person, snapshot=current, change="correct", reason=reason, actor=actor)
        person.name = clean.name
        person.ethnicity = clean.ethnicity
        person.division_code = clean.division_code
        person.address = _address_for(clean.address_text, clean.division_code)
        phone = protect_phone(clean.phone)
        person.phone_cipher, person.phone_index, person.phone_masked = phone
        person.save()
        snapshot = person_snapshot(person)
        changed = sorted(k for k in snapshot if snapshot[k] != current[k])
        audit_record(
            source_address=current_address(),
            action="registries.person.correct", actor=actor, target_type="registries.person", target_id=person.pk,
            detail={"fields": changed, "reason": reason},
        )  # fmt: skip
    return person


def _reason_required(reason: str, what: str) -> None:
    if not reason.strip():
        raise RegistryInputInvalid(
            f"{what} needs a reason.", errors=[{"loc": ["reason"], "rule": "reason.required", "msg": "required"}]
        )


def _close(
    record: Person | LegalEntity,
    *,
    registry: str,
    start: dt.date,
    snapshot: dict[str, Any],
    status: str,
    on: dt.date,
    actor: Actor,
    reason: str,
) -> None:
    """Close an open, locked record: keep its current state as a version, set the closing status and date, audit."""
    if record.closed_on is not None:
        raise RecordClosed("The record is already closed.")
    if on < start or on > timezone.localdate():
        raise RegistryInputInvalid(
            "The closing date must lie between the record's start and today.",
            errors=[{"loc": ["on"], "rule": "date.range", "msg": "outside the record's existence"}],
        )
    _supersede(registry=registry, record=record, snapshot=snapshot, change="close", reason=reason, actor=actor)
    record.status = status
    record.closed_on = on
    record.save()
    kind = "person" if registry == "persons" else "entity"
    audit_record(
        source_address=current_address(),
        action=f"registries.{kind}.close", actor=actor, target_type=f"registries.{kind}", target_id=record.pk,
        detail={"status": status, "reason": reason},
    )  # fmt: skip


def person_close(*, person_id: int, status: str, on: dt.date, actor: Actor, reason: str) -> Person:
    """Close a record (death, deregistration): it stays, with its history, but no longer changes."""
    _reason_required(reason, "Closing a record")
    if status not in {PersonStatus.DECEASED, PersonStatus.DEREGISTERED}:
        raise RegistryInputInvalid(
            "A record is closed as deceased or deregistered.",
            errors=[{"loc": ["status"], "rule": "status.closing", "msg": "deceased or deregistered"}],
        )
    with transaction.atomic():
        person = _person_for_update(person_id)
        _close(
            person, registry="persons", start=person.birth_date, snapshot=person_snapshot(person), status=status,
            on=on, actor=actor, reason=reason,
        )  # fmt: skip
    return person


ENTITY_TYPES: dict[tuple[str, str], str] = {
    ("1", "1"): "机关", ("1", "2"): "事业单位", ("1", "3"): "群众团体", ("5", "1"): "社会团体",
    ("5", "2"): "民办非企业单位", ("5", "3"): "基金会", ("9", "1"): "企业", ("9", "2"): "个体工商户",
    ("9", "3"): "农民专业合作社",
}  # fmt: skip


def entity_snapshot(entity: LegalEntity) -> dict[str, Any]:
    return {
        "credit_code": entity.credit_code,
        "name": entity.name,
        "entity_type": entity.entity_type,
        "division_code": entity.division_code,
        "legal_representative_id": entity.legal_representative_id,
        "address": entity.address.text if entity.address else "",
        "registration_authority": entity.registration_authority,
        "established_on": entity.established_on.isoformat(),
        "status": entity.status,
        "closed_on": entity.closed_on.isoformat() if entity.closed_on else None,
    }


def legal_entity_register(*, data: Mapping[str, Any], actor: Actor, reason: str = "registration") -> LegalEntity:
    errors: list[dict[str, Any]] = []
    code = None
    try:
        code = credit_code_validate(str(data.get("credit_code") or ""))
        if code.suspect:
            errors.append({"loc": ["credit_code"], "rule": code.suspect_rule or "credit_code.check",
                           "msg": "suspect code: verify it with the registration authority first"})  # fmt: skip
    except ValidationFailed as exc:
        _collect(errors, "credit_code", exc)
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 120:
        errors.append({"loc": ["name"], "rule": "name.required", "msg": "1 to 120 characters"})
    established = data.get("established_on")
    if isinstance(established, str):
        try:
            established = dt.date.fromisoformat(established)
        except ValueError:
            established = None
    if not isinstance(established, dt.date) or established > timezone.localdate():
        errors.append({"loc": ["established_on"], "rule": "date.valid", "msg": "a real date, not in the future"})
    representative_id = data.get("legal_representative_id")
    representative = None
    if representative_id is not None:
        representative = Person.objects.filter(pk=representative_id).first()
        if representative is None or representative.status != PersonStatus.LIVING:
            errors.append({"loc": ["legal_representative_id"], "rule": "representative.living",
                           "msg": "the legal representative must be a living registered person"})  # fmt: skip
    if errors or code is None or not isinstance(established, dt.date):
        raise RegistryInputInvalid("The legal entity's data breaks the registry's rules.", errors=errors)
    try:
        with transaction.atomic():
            entity = LegalEntity.objects.create(
                credit_code=code.value, name=name, registration_department=code.registration_department,
                category=code.category, entity_type=ENTITY_TYPES.get((code.registration_department, code.category), ""),
                division_code=code.division_code, legal_representative=representative,
                address=_address_for(str(data.get("address") or "").strip(), code.division_code),
                registration_authority=str(data.get("registration_authority") or "")[:100], established_on=established,
                valid_from=timezone.now(),
            )  # fmt: skip
            audit_record(
                source_address=current_address(),
                action="registries.entity.register", actor=actor, target_type="registries.entity",
                target_id=entity.pk, detail={"reason": reason},
            )  # fmt: skip
    except IntegrityError as exc:
        if LegalEntity.objects.filter(credit_code=code.value).exists():
            raise LegalEntityAlreadyRegistered(f"{code.value} is registered.") from exc
        raise
    return entity


def person_index_for(id_number: str) -> str:
    """The blind index of an ID number, for lookups and for accounts bound to a person."""
    return index_of("person.id_number", id_number)


def phone_index_for(phone: str) -> str:
    """The blind index of a phone number, the same the population registry keeps for a person's phone."""
    return index_of("person.phone", phone)


def person_identifiers_protect(*, id_number: str, phone: str) -> tuple[Protected, Protected]:
    """(ciphertext, blind index, masked form) of an ID number and a phone, for bulk loaders writing Person rows
    directly (the demo city): the same protection `person_register` applies."""
    return protect_id_number(id_number), protect_phone(phone)


CORRECTABLE_ENTITY_FIELDS = ("name", "legal_representative_id", "address", "registration_authority", "established_on")


def _entity_changes_validate(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check corrected values of a legal entity by the rules of `legal_entity_register`; all broken rules together."""
    errors: list[dict[str, Any]] = []
    clean: dict[str, Any] = {}
    if "name" in changes:
        name = str(changes["name"] or "").strip()
        if not name or len(name) > 120:
            errors.append({"loc": ["name"], "rule": "name.required", "msg": "1 to 120 characters"})
        clean["name"] = name
    if "address" in changes:
        address = str(changes["address"] or "").strip()
        if len(address) > 200:
            errors.append({"loc": ["address"], "rule": "address.length", "msg": "at most 200 characters"})
        clean["address"] = address
    if "registration_authority" in changes:
        authority = str(changes["registration_authority"] or "").strip()
        if len(authority) > 100:
            errors.append({"loc": ["registration_authority"], "rule": "authority.length", "msg": "at most 100"})
        clean["registration_authority"] = authority
    if "established_on" in changes:
        established = changes["established_on"]
        if isinstance(established, str):
            try:
                established = dt.date.fromisoformat(established)
            except ValueError:
                established = None
        if not isinstance(established, dt.date) or established > timezone.localdate():
            errors.append({"loc": ["established_on"], "rule": "date.valid", "msg": "a real date, not in the future"})
        clean["established_on"] = established
    if "legal_representative_id" in changes:
        representative_id = changes["legal_representative_id"]
        representative = None
        if representative_id is not None:
            representative = Person.objects.filter(pk=representative_id).first()
            if representative is None or representative.status != PersonStatus.LIVING:
                errors.append({"loc": ["legal_representative_id"], "rule": "representative.living",
                               "msg": "the legal representative must be a living registered person"})  # fmt: skip
        clean["legal_representative"] = representative
    if errors:
        raise RegistryInputInvalid("The legal entity's data breaks the registry's rules.", errors=errors)
    return clean


def legal_entity_correct(
    *, entity_id: int, changes: Mapping[str, Any], actor: Actor, reason: str, expected_version: int | None = None
) -> LegalEntity:
    """Correct a legal entity's record; the credit code is never corrected (a wrong one is a different entity)."""
    _correction_check(changes, CORRECTABLE_ENTITY_FIELDS, reason)
    with transaction.atomic():
        entity = _entity_for_update(entity_id)
        if expected_version is not None and entity.version != expected_version:
            raise StaleVersion(f"The record is at version {entity.version}, not {expected_version}.")
        if entity.status != EntityStatus.ACTIVE:
            raise RecordClosed("The record is closed; it can no longer be corrected.")
        clean = _entity_changes_validate(changes)
        current = entity_snapshot(entity)
        _supersede(registry="entities", record=entity, snapshot=current, change="correct", reason=reason, actor=actor)
        if "name" in clean:
            entity.name = clean["name"]
        if "address" in clean:
            entity.address = _address_for(clean["address"], entity.division_code)
        if "registration_authority" in clean:
            entity.registration_authority = clean["registration_authority"]
        if "established_on" in clean:
            entity.established_on = clean["established_on"]
        if "legal_representative" in clean:
            entity.legal_representative = clean["legal_representative"]
        entity.save()
        snapshot = entity_snapshot(entity)
        changed = sorted(k for k in snapshot if snapshot[k] != current[k])
        audit_record(
            source_address=current_address(),
            action="registries.entity.correct", actor=actor, target_type="registries.entity", target_id=entity.pk,
            detail={"fields": changed, "reason": reason},
        )  # fmt: skip
    return entity


def legal_entity_close(*, entity_id: int, status: str, on: dt.date, actor: Actor, reason: str) -> LegalEntity:
    """Close a record (licence revoked, deregistered): it stays, with its history, but no longer changes."""
    _reason_required(reason, "Closing a record")
    if status not in {EntityStatus.REVOKED, EntityStatus.DEREGISTERED}:
        raise RegistryInputInvalid(
            "A legal entity is closed as revoked or deregistered.",
            errors=[{"loc": ["status"], "rule": "status.closing", "msg": "revoked or deregistered"}],
        )
    with transaction.atomic():
        entity = _entity_for_update(entity_id)
        _close(
            entity, registry="entities", start=entity.established_on, snapshot=entity_snapshot(entity),
            status=status, on=on, actor=actor, reason=reason,
        )  # fmt: skip
    return entity
