"""Write use-cases of electronic licences. Each owns its transaction, checks the actor's right, writes the rows and
the audit record in the same transaction.

The service hall (and any other higher tier) uses three of them, all keyword-only:

``licence_issue(*, licence_type, holder, face, actor, valid_from=None, valid_until=None, number="", source="api",
source_reference="") -> Licence``
    Issue and sign a licence on approval. `holder` is a registries Person or LegalEntity (or use `holder_resolve` on
    an ID number / credit code first); `actor` is the approving officer's account, which must belong to the type's
    issuing department and hold ``licences.add_licence``. Raises LicenceInputInvalid (face schema, dates),
    LicenceHolderUnknown, IssuingKeyUnavailable, LicenceActionDenied; nothing is stored then.

``holder_authorization_grant(*, holder_user, grantee, application_reference, holder=None, licence_types=(),
valid_for=AUTHORIZATION_LIFETIME) -> HolderAuthorization``
    The signed-in holder lets `grantee` (the hall's or a department system's account) fetch and use their licences
    for one application. Without it nothing below works.

``licences_for_holder(*, holder_code | holder_index, reader, application_reference)``
    The holder's licences (by ID number or credit code, one indexed query) for `reader`, only under a live
    authorization for that application; each licence returned is recorded as fetched (LicenceUse) and audited, the
    fetch rows and the audit record committed together before it returns (on PostgreSQL by one statement, ADR 0011).
    Raises HolderAuthorizationMissing.

``licence_use_record(*, licence, application_reference, actor) -> LicenceUse``
    Record that an application relies on the licence. Takes the licence's row lock and refuses unless it is valid
    at that instant (LicenceNotUsable): a revocation committed before cannot be missed, one committed after waits.
    Needs the holder's authorization for that application and actor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.services import (
    Actor,
    RowsAlongside,
    actor_from_user,
    audit_record,
    read_records_write,
)
from rongcheng.identity.selectors import representation_list_for_user
from rongcheng.kernel.context import current_address
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.events import publish
from rongcheng.kernel.identifiers import IdNumber, holder_code_validate
from rongcheng.kernel.masking import mask_id_number
from rongcheng.kernel.prepared import PreparedQuery
from rongcheng.licences import documents
from rongcheng.licences.errors import (
    HolderAuthorizationMissing,
    LicenceActionDenied,
    LicenceHolderUnknown,
    LicenceInputInvalid,
    LicenceNotFound,
    LicenceNotUsable,
    LicenceTransitionNotAllowed,
)
from rongcheng.licences.events import LicenceIssued
from rongcheng.licences.identifiers import identifier_make
from rongcheng.licences.keys import signing_key_for
from rongcheng.licences.lifecycle import TRANSITIONS, StatusChangeRequest
from rongcheng.licences.models import (
    HolderAuthorization,
    HolderKind,
    Licence,
    LicenceStatus,
    LicenceType,
    LicenceUse,
    SerialCounter,
    StatusChange,
    UseKind,
)
from rongcheng.licences.permissions import is_holder, may_change, may_issue, may_view_as_issuer
from rongcheng.registries.models import EntityStatus, LegalEntity, Person, PersonStatus
from rongcheng.registries.selectors import person_id_number_for_licence
from rongcheng.registries.services import person_index_for

BEIJING = dt.timezone(dt.timedelta(hours=8))
AUTHORIZATION_LIFETIME = dt.timedelta(days=30)
MAX_REFERENCE = 64

Holder = Person | LegalEntity


def today() -> dt.date:
    return timezone.now().astimezone(BEIJING).date()


def _denied(action: str, actor: Actor, detail: dict[str, Any]) -> None:
    """Audit a refusal outside any transaction that could roll it back."""
    audit_record(action=action, actor=actor, outcome="denied", target_type="licences.licence",
                 source_address=current_address(), detail=detail)  # fmt: skip


# --- licence types ---------------------------------------------------------------------------------------------------


def licence_type_define(
    *, code: str, name: str, department_id: int, holder_kind: str, face_schema: Any, validity_years: int | None,
    actor: Actor, one_valid_per_holder: bool = False,
) -> LicenceType:  # fmt: skip
    """Create or update a licence type; existing licences keep the content they were signed with."""
    fields = documents.schema_check(face_schema)
    errors = []
    if not (len(code) == 21 and code[:18].isalnum() and code[:18].upper() == code[:18] and code[18:].isdigit()):
        errors.append(
            {"loc": ["code"], "rule": "type_code.format", "msg": "18-character USCC of the definer + 3 digits"}
        )
    if holder_kind not in HolderKind.values:
        errors.append({"loc": ["holder_kind"], "rule": "holder_kind.choice", "msg": "person or entity"})
    if not name.strip() or len(name) > 60:
        errors.append({"loc": ["name"], "rule": "name.length", "msg": "1 to 60 characters"})
    if errors:
        raise LicenceInputInvalid("The licence type is invalid.", errors=errors)
    with transaction.atomic():
        licence_type, created = LicenceType.objects.update_or_create(
            code=code,
            defaults={"name": name.strip(), "department_id": department_id, "holder_kind": holder_kind,
                      "face_schema": fields, "validity_years": validity_years,
                      "one_valid_per_holder": one_valid_per_holder},
        )  # fmt: skip
        audit_record(
            action="licences.type.define", actor=actor, target_type="licences.licence_type", target_id=code,
            detail={"created": created},
        )  # fmt: skip
    return licence_type


# --- holders ---------------------------------------------------------------------------------------------------------


def holder_index_for_code(code: str) -> tuple[str, str]:
    """(kind, holder index) of an ID number or credit code, validated; the lookup key of "一号" reuse."""
    try:
        parsed = holder_code_validate(code or "", field="holder_code")
    except ValidationFailed as exc:
        raise LicenceInputInvalid(exc.detail, errors=exc.errors) from None
    if isinstance(parsed, IdNumber):
        return HolderKind.PERSON, person_index_for(parsed.value)
    return HolderKind.ENTITY, parsed.value


def holder_resolve(code: str) -> Holder:
    kind, index = holder_index_for_code(code)
    holder: Holder | None
    if kind == HolderKind.PERSON:
        holder = Person.objects.filter(id_number_index=index).first()
    else:
        holder = LegalEntity.objects.filter(credit_code=index).first()
    if holder is None:
        raise LicenceHolderUnknown(
            "No person or legal entity with this code is in the base registries.",
            errors=[{"loc": ["holder_code"], "rule": "holder.known", "msg": "not in the base registries"}],
        )
    return holder


@dataclass(frozen=True)
class _HolderFacts:
    kind: str
    index: str
    name: str
    code: str
    masked: str


def _holder_facts(holder: Holder) -> _HolderFacts:
    if isinstance(holder, Person):
        if holder.status != PersonStatus.LIVING:
            raise LicenceInputInvalid(
                "The holder's registry record is closed.",
                errors=[{"loc": ["holder_code"], "rule": "holder.open", "msg": "record closed"}],
            )
        code = person_id_number_for_licence(holder)
        return _HolderFacts(HolderKind.PERSON, holder.id_number_index, holder.name, code, mask_id_number(code))
    if holder.status != EntityStatus.ACTIVE:
        raise LicenceInputInvalid(
            "The holder's registry record is closed.",
            errors=[{"loc": ["holder_code"], "rule": "holder.open", "msg": "record closed"}],
        )
    return _HolderFacts(HolderKind.ENTITY, holder.credit_code, holder.name, holder.credit_code, holder.credit_code)


# --- issuing ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueRequest:
    holder: Holder
    face: dict[str, Any]
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    number: str = ""
    source_reference: str = ""
    replaces: tuple[str, ...] = ()  # identifiers of the holder's licences this one supersedes (renewal, replacement)


@dataclass(frozen=True)
class _Prepared:
    request: IssueRequest
    facts: _HolderFacts
    face: dict[str, Any]
    valid_from: dt.date
    valid_until: dt.date | None


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _prepare(licence_type: LicenceType, request: IssueRequest, issued_on: dt.date) -> _Prepared:
    errors: list[dict[str, Any]] = []
    try:
        face = documents.face_validate(licence_type.face_schema, request.face)
    except LicenceInputInvalid as exc:
        errors.extend(exc.errors)
        face = {}
    facts = _holder_facts(request.holder)
    if facts.kind != licence_type.holder_kind:
        errors.append(
            {"loc": ["holder_code"], "rule": "holder.kind", "msg": f"this type is held by a {licence_type.holder_kind}"}
        )
    valid_from = request.valid_from or issued_on
    valid_until = request.valid_until
    if valid_until is None and licence_type.validity_years:
        valid_until = _add_years(valid_from, licence_type.validity_years) - dt.timedelta(days=1)
    if valid_until is not None and valid_until < valid_from:
        errors.append({"loc": ["valid_until"], "rule": "validity.order", "msg": "before valid_from"})
    if len(request.number) > 40 or len(request.source_reference) > MAX_REFERENCE:
        errors.append({"loc": ["number"], "rule": "number.length", "msg": "at most 40 characters"})
    if errors:
        raise LicenceInputInvalid("The licence cannot be issued as given.", errors=errors)
    return _Prepared(request, facts, face, valid_from, valid_until)


def licence_face_problems(*, licence_type: LicenceType, face: dict[str, Any]) -> list[dict[str, Any]]:
    """What in `face` would stop an issue of this type (each error's loc is ["face", field]), issuing nothing: a
    caller that will issue later (the hall, on approval) checks the face when the request is made."""
    try:
        documents.face_validate(licence_type.face_schema, face)
    except LicenceInputInvalid as exc:
        return list(exc.errors)
    return []


def _serials(licence_type: LicenceType, issuer_code: str, year: int, count: int) -> list[str]:
    """`count` consecutive serials, taken under the counter's row lock (call inside a transaction)."""
    SerialCounter.objects.get_or_create(licence_type=licence_type, issuer_code=issuer_code, year=year)
    counter = SerialCounter.objects.select_for_update().get(
        licence_type=licence_type, issuer_code=issuer_code, year=year
    )
    first = counter.next_value
    counter.next_value = first + count
    counter.save(update_fields=["next_value"])
    return [f"{year}{value:08d}" for value in range(first, first + count)]


def _issuer_code(licence_type: LicenceType) -> str:
    code = licence_type.department.credit_code
    if not code:
        raise LicenceInputInvalid(
            "The issuing department has no unified social credit code, which the identifier needs.",
            errors=[{"loc": ["department"], "rule": "department.credit_code", "msg": "missing"}],
        )
    return code


def licences_issue_many(
    *, licence_type: LicenceType, requests: Sequence[IssueRequest], actor: User, source: str = "api"
) -> list[Licence]:  # fmt: skip
    """Issue several licences of one type in one transaction (all or none): validated, signed, stored, audited."""
    audit_actor = actor_from_user(actor)
    if not may_issue(actor, licence_type):
        _denied("licences.licence.issue", audit_actor, {"licence_type": licence_type.code})
        raise LicenceActionDenied(
            "Only staff of the type's issuing department with the issuing permission may issue it."
        )
    issued_on = today()
    prepared = [_prepare(licence_type, request, issued_on) for request in requests]
    issuer_code = _issuer_code(licence_type)
    issuer_name = licence_type.department.name
    key, private_key = signing_key_for(licence_type.department_id)
    signed_at = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        # The serial counter's row lock also orders issues of one type: the check below sees every earlier issue.
        serials = _serials(licence_type, issuer_code, issued_on.year, len(prepared))
        if licence_type.one_valid_per_holder:
            _one_valid_per_holder_check(licence_type, prepared)
        licences = []
        for item, serial in zip(prepared, serials, strict=True):
            identifier = str(identifier_make(type_code=licence_type.code, issuer_code=issuer_code, serial=serial))
            facts = item.facts
            licence = Licence(
                identifier=identifier, licence_type=licence_type, title=licence_type.name,
                number=item.request.number or serial, holder_kind=facts.kind,
                holder_person=item.request.holder if isinstance(item.request.holder, Person) else None,
                holder_entity=item.request.holder if isinstance(item.request.holder, LegalEntity) else None,
                holder_index=facts.index, holder_name=facts.name,
                holder_code_cipher=documents.protect_holder_code(facts.code), holder_code_masked=facts.masked,
                face=item.face, department_id=licence_type.department_id, issuer_name=issuer_name,
                issuer_code=issuer_code, issued_on=issued_on, valid_from=item.valid_from, valid_until=item.valid_until,
                key_id=key.key_id, signed_at=signed_at, signature=b"", source=source[:40],
                source_reference=item.request.source_reference,
            )  # fmt: skip
            canonical = documents.content_bytes(documents.licence_content(licence, holder_code=facts.code))
            if canonical is None:
                raise LicenceInputInvalid("The licence content cannot be canonicalised.")
            licence.signature = private_key.sign(canonical)
            licences.append(licence)
        Licence.objects.bulk_create(licences)
        for licence in licences:
            publish(
                LicenceIssued(
                    identifier=licence.identifier, licence_type_code=licence_type.code, holder_kind=licence.holder_kind,
                    holder_key=licence.holder_index, department_id=licence.department_id, issued_on=issued_on,
                    source=licence.source,
                )
            )  # fmt: skip
        detail = {"licence_type": licence_type.code, "key_id": key.key_id, "source": source[:40]}
        if len(licences) == 1:
            audit_record(
                action="licences.licence.issue", actor=audit_actor, target_type="licences.licence",
                target_id=licences[0].identifier, source_address=current_address(), detail=detail,
            )  # fmt: skip
        else:  # one record per batch, naming every licence: a file of 500 rows is one act of the officer
            audit_record(
                action="licences.licence.issue_batch", actor=audit_actor, target_type="licences.licence",
                target_id=f"{len(licences)} licences", source_address=current_address(),
                detail={**detail, "identifiers": [licence.identifier for licence in licences]},
            )  # fmt: skip
    return licences


def _one_valid_per_holder_check(licence_type: LicenceType, prepared: Sequence[_Prepared]) -> None:
    """Refuse a second valid licence of a one-per-holder type, unless the request names the one it supersedes."""
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, item in enumerate(prepared):
        index = item.facts.index
        held = (
            Licence.objects.filter(licence_type=licence_type, holder_index=index,
                                   status__in=(LicenceStatus.VALID, LicenceStatus.SUSPENDED))
            .exclude(identifier__in=item.request.replaces).exists()
        )  # fmt: skip
        if held or index in seen:
            errors.append({"loc": ["holder_code"], "rule": "holder.one_valid", "position": position,
                           "msg": "already holds a valid licence of this type: renew or replace it"})  # fmt: skip
        seen.add(index)
    if errors:
        raise LicenceInputInvalid(
            "The holder already holds a valid licence of this type: a new one can only replace it.", errors=errors
        )


def licence_issue(
    *, licence_type: LicenceType, holder: Holder, face: dict[str, Any], actor: User,
    valid_from: dt.date | None = None, valid_until: dt.date | None = None, number: str = "", source: str = "api",
    source_reference: str = "", replaces: Sequence[str] = (),
) -> Licence:  # fmt: skip
    request = IssueRequest(holder, face, valid_from, valid_until, number, source_reference, tuple(replaces))
    try:
        return licences_issue_many(licence_type=licence_type, requests=[request], actor=actor, source=source)[0]
    except IntegrityError as exc:
        if (
            source_reference
            and Licence.objects.filter(
                department_id=licence_type.department_id, source_reference=source_reference
            ).exists()
        ):
            raise LicenceInputInvalid(
                "A licence with this source reference was issued already.",
                errors=[{"loc": ["source_reference"], "rule": "source_reference.unique", "msg": "already issued"}],
            ) from exc
        raise


# --- other signed documents ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentSignature:
    key_id: str
    signature: bytes


def document_sign(*, department_id: int, content: bytes) -> DocumentSignature:
    """Sign `content` (a document's canonical bytes, a credit report say) with the department's active SM2 key, the
    key its licences are signed with; verified by anyone with `licences.selectors.signature_verifies` against the
    published key. Raises IssuingKeyUnavailable when the department has no usable key."""
    key, private_key = signing_key_for(department_id)
    return DocumentSignature(key.key_id, private_key.sign(content))


# --- lifecycle -------------------------------------------------------------------------------------------------------


def _licence_for_update(licence_id: int) -> Licence:
    licence = Licence.objects.select_for_update().filter(pk=licence_id).first()
    if licence is None:
        raise LicenceNotFound("No such licence.")
    return licence


def licence_transition(
    *, licence: Licence, action: str, reason: str, actor: User, effective_on: dt.date | None = None
) -> Licence:  # fmt: skip
    """Apply one transition of the declared table under the licence's row lock."""
    audit_actor = actor_from_user(actor)
    # Replacing is part of issuing the successor: the issuing permission of the type's department suffices.
    if not (may_change(actor, licence) or (action == "replace" and may_issue(actor, licence.licence_type))):
        _denied("licences.licence.transition", audit_actor, {"identifier": licence.identifier, "action": action})
        raise LicenceActionDenied("Only staff of the issuing department with the change permission may do this.")
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise LicenceInputInvalid(
            f"Unknown action {action!r}.",
            errors=[{"loc": ["action"], "rule": "action.choice", "msg": ", ".join(TRANSITIONS)}],
        )
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise LicenceInputInvalid(
            "A status change needs a reason of at most 200 characters.",
            errors=[{"loc": ["reason"], "rule": "reason.required", "msg": "1 to 200 characters"}],
        )
    effective = effective_on or today()
    with transaction.atomic():
        locked = _licence_for_update(licence.pk)
        if locked.status not in transition.sources:
            raise LicenceTransitionNotAllowed(
                f"A licence that is {locked.status} cannot be {action}d ({transition.label}).",
                licence_status=locked.status, action=action,
            )  # fmt: skip
        transition.check(StatusChangeRequest(locked, action, effective))
        now = timezone.now()
        StatusChange.objects.create(
            licence=locked, action=action, from_status=locked.status, to_status=transition.target, reason=reason,
            effective_on=effective, at=now, actor_id=audit_actor.id, actor_label=audit_actor.label[:150],
        )  # fmt: skip
        previous = locked.status
        locked.status = transition.target
        locked.status_changed_at = now
        locked.save(update_fields=["status", "status_changed_at"])
        audit_record(
            action="licences.licence.transition", actor=audit_actor, target_type="licences.licence",
            target_id=locked.identifier, source_address=current_address(),
            detail={"action": action, "from": previous, "to": transition.target, "reason": reason,
                    "effective_on": effective.isoformat()},
        )  # fmt: skip
    return locked


def licences_expire_due(*, on: dt.date | None = None, actor: Actor | None = None, limit: int = 10_000) -> int:
    """Move licences whose validity ended before `on` to expired (a daily job); returns how many."""
    day = on or today()
    system = actor or Actor.system("licence expiry")
    done = 0
    expire = TRANSITIONS["expire"]
    due = Licence.objects.filter(status__in=expire.sources, valid_until__lt=day).values_list("pk", flat=True)[:limit]
    for licence_id in list(due):
        with transaction.atomic():
            locked = _licence_for_update(licence_id)
            if not expire.allows_from(locked.status):
                continue
            try:
                expire.check(StatusChangeRequest(locked, "expire", day))
            except LicenceTransitionNotAllowed:
                continue
            now = timezone.now()
            StatusChange.objects.create(
                licence=locked, action="expire", from_status=locked.status, to_status=LicenceStatus.EXPIRED,
                reason="validity period ended", effective_on=day, at=now, actor_id=system.id,
                actor_label=system.label,
            )  # fmt: skip
            locked.status, locked.status_changed_at = LicenceStatus.EXPIRED, now
            locked.save(update_fields=["status", "status_changed_at"])
            audit_record(action="licences.licence.transition", actor=system, target_type="licences.licence",
                         target_id=locked.identifier, detail={"action": "expire"})  # fmt: skip
            done += 1
    return done


# --- "一号" reuse: authorizations, fetches and uses ----------------------------------------------------------------


# The hall's references ("hall-42"): the licences app cannot know the hall's applications, only their form.
HALL_REFERENCE = re.compile(r"hall-[1-9][0-9]{0,17}")


def _reference_check(application_reference: str) -> str:
    text = (application_reference or "").strip() if isinstance(application_reference, str) else ""
    if not text or len(text) > MAX_REFERENCE:
        raise LicenceInputInvalid(
            "An application reference of 1 to 64 characters is needed.",
            errors=[{"loc": ["application_reference"], "rule": "application_reference.length", "msg": "1 to 64"}],
        )
    if not text.isprintable() or (text.startswith("hall-") and not HALL_REFERENCE.fullmatch(text)):
        raise LicenceInputInvalid(
            "An application reference is printable text; a hall reference is hall- and the application's number.",
            errors=[{"loc": ["application_reference"], "rule": "application_reference.form", "msg": "printable"}],
        )
    return text


def grantee_may_be(user: User) -> bool:
    """Who a holder may authorize: a system that fetches licences for an application (an API client account, the
    hall's system account among them), active; never a person's or a staff member's account."""
    return bool(user is not None and user.is_active and getattr(user, "kind", None) == AccountKind.API_CLIENT)


def grantees_available() -> list[User]:
    """The accounts a holder may authorize, for the page's choice (by their display name)."""
    return list(User.objects.filter(kind=AccountKind.API_CLIENT, is_active=True).order_by("display_name", "pk"))


def holder_indexes_of_user(user: User) -> list[str]:
    """The holder indexes a signed-in resident may act for: their own person and entities they represent (as the
    registry's legal representative, or through an active identity Representation: 法人代表 or 经办人 in validity)."""
    index = getattr(user, "id_number_index", "") if user is not None and user.is_authenticated else ""
    if not index:
        return []
    entities = LegalEntity.objects.filter(legal_representative__id_number_index=index).values_list(
        "credit_code", flat=True
    )
    represented = [r.legal_entity.credit_code for r in representation_list_for_user(user=user) if r.user_id == user.pk]
    return [index, *dict.fromkeys([*entities, *represented])]


def holder_authorization_grant(
    *, holder_user: User, grantee: User, application_reference: str, holder_index: str | None = None,
    licence_types: Iterable[LicenceType] = (), valid_for: dt.timedelta = AUTHORIZATION_LIFETIME,
) -> HolderAuthorization:  # fmt: skip
    """The holder (signed in) authorizes `grantee` to fetch and use their licences for one application."""
    reference = _reference_check(application_reference)
    own = holder_indexes_of_user(holder_user)
    index = holder_index or (own[0] if own else "")
    if not index or index not in own:
        raise LicenceActionDenied("Only the holder, signed in and bound to the registry, may authorize this.")
    if not grantee_may_be(grantee) or grantee.pk == holder_user.pk:
        raise LicenceInputInvalid(
            "The grantee must be an active service or system account that fetches licences.",
            errors=[{"loc": ["grantee"], "rule": "grantee.kind", "msg": "an active service or system account"}],
        )
    if not timedelta_ok(valid_for):
        raise LicenceInputInvalid(
            "An authorization lasts 1 hour to 1 year.",
            errors=[{"loc": ["valid_for"], "rule": "valid_for.range", "msg": "1 hour to 1 year"}],
        )
    now = timezone.now()
    with transaction.atomic():
        authorization = HolderAuthorization.objects.create(
            holder_index=index, granted_by=holder_user, grantee=grantee, application_reference=reference,
            granted_at=now, expires_at=now + valid_for,
        )  # fmt: skip
        types = list(licence_types)
        if types:
            authorization.licence_types.set(types)
        audit_record(
            action="licences.authorization.grant", actor=actor_from_user(holder_user),
            target_type="licences.authorization", target_id=authorization.pk,
            detail={"grantee": grantee.get_username(), "application_reference": reference,
                    "licence_types": [t.code for t in types]},
        )  # fmt: skip
    return authorization


def timedelta_ok(valid_for: dt.timedelta) -> bool:
    return dt.timedelta(hours=1) <= valid_for <= dt.timedelta(days=366)


def holder_authorization_withdraw(*, authorization: HolderAuthorization, holder_user: User) -> HolderAuthorization:
    if authorization.holder_index not in holder_indexes_of_user(holder_user):
        raise LicenceActionDenied("Only the holder may withdraw their authorization.")
    with transaction.atomic():
        locked = HolderAuthorization.objects.select_for_update().get(pk=authorization.pk)
        if locked.withdrawn_at is None:
            locked.withdrawn_at = timezone.now()
            locked.save(update_fields=["withdrawn_at"])
            audit_record(
                action="licences.authorization.withdraw", actor=actor_from_user(holder_user),
                target_type="licences.authorization", target_id=locked.pk,
            )  # fmt: skip
    return locked


def _live_authorizations(holder_index: str, grantee_id: Any, reference: str, now: Any) -> QuerySet[HolderAuthorization]:
    """The authorizations `grantee_id` holds now for this holder and application, the newest first."""
    return HolderAuthorization.objects.filter(
        holder_index=holder_index,
        grantee_id=grantee_id,
        application_reference=reference,
        withdrawn_at__isnull=True,
        expires_at__gt=now,
    ).order_by("-granted_at")


def _live_authorization(
    holder_index: str, reader: User, reference: str, now: dt.datetime | None = None
) -> HolderAuthorization | None:
    return _live_authorizations(holder_index, reader.pk, reference, now or timezone.now()).first()


def _authorized_licences_query(index: Any, grantee_id: Any, reference: Any, now: Any) -> QuerySet[Licence]:
    """The holder's licences, each with `authorization_id`, the newest live authorization's (a subquery evaluated
    once): only under one, and only of the types it names when it names any; in issue order."""
    authorization = Subquery(_live_authorizations(index, grantee_id, reference, now).values("pk")[:1])
    through = HolderAuthorization.licence_types.through
    types = through.objects.filter(holderauthorization_id=OuterRef("authorization_id"))
    return (
        Licence.objects.filter(holder_index=index)
        .annotate(authorization_id=authorization)
        .filter(authorization_id__isnull=False)
        .filter(~Exists(types) | Q(licence_type_id__in=types.values("licencetype_id")))
        .select_related("licence_type")
        .order_by("id")
    )


# Compiled once per connection: the ORM's compilation of this query cost more CPU than the query (issue 13).
_authorized_licences: PreparedQuery[Licence] = PreparedQuery(
    _authorized_licences_query,
    placeholders=("\x00holder index\x00", -0x7265616465720001, "\x00reference\x00",
                  dt.datetime(1, 1, 1, 0, 0, 0, 271828, tzinfo=dt.UTC)),
)  # fmt: skip


def licences_for_holder(
    *,
    holder_code: str = "",
    holder_index: str = "",
    reader: User,
    application_reference: str,
) -> list[Licence]:
    """Fetch a holder's licences for an application, under the holder's authorization; each fetch is recorded.

    The holder is named by its code (ID number or credit code) or, for a caller that never holds the clear ID
    number (the hall, for a resident), by its holder index (the blind index of the ID number, or the credit code)."""
    reference = _reference_check(application_reference)
    index = holder_index or holder_index_for_code(holder_code)[1]
    audit_actor = actor_from_user(reader)
    now = timezone.now()
    # One query: the holder's licences under the live authorization, of the types it names when it names any.
    result = _authorized_licences(index, reader.pk, reference, now)
    authorization_id: int | None = result[0].authorization_id if result else None  # type: ignore[attr-defined]
    if authorization_id is None:  # no licence: no authorization, or none of the types it opens
        authorization = _live_authorization(index, reader, reference, now)
        if authorization is None:
            _denied("licences.holder.fetch", audit_actor, {"application_reference": reference})
            raise HolderAuthorizationMissing(
                "The holder has not authorized this account to fetch their licences for this application."
            )
        authorization_id = authorization.pk
    _fetch_records_write(result, authorization_id=authorization_id, reference=reference, actor=audit_actor)
    return result


# The fetch records of one fetch, one row per licence in the licences' order, as one INSERT … SELECT whatever their
# number (the licence ids travel as one array): the statement that also writes the audit record (ADR 0011).
_FETCH_ROWS_SQL = (
    f"INSERT INTO {LicenceUse._meta.db_table} "  # noqa: S608 - the model's table
    "(licence_id, kind, application_reference, authorization_id, actor_id, actor_label, at) "
    "SELECT licence, %s, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) WITH ORDINALITY AS fetched(licence, position) "
    "ORDER BY position"
)


def _fetch_records_write(licences: list[Licence], *, authorization_id: int, reference: str, actor: Actor) -> None:
    """A fetch record (LicenceUse) per licence and the fetch's audit record, committed together before the answer
    leaves: on PostgreSQL one statement that is its own transaction (`audit.services.read_records_write`), else one
    transaction whose only writes record this read."""
    now = timezone.now()
    label = actor.label[:150]

    def rows_write() -> None:
        LicenceUse.objects.bulk_create(
            LicenceUse(licence=licence, kind=UseKind.FETCH, application_reference=reference,
                       authorization_id=authorization_id, actor_id=actor.id, actor_label=label, at=now)
            for licence in licences
        )  # fmt: skip

    rows = RowsAlongside(
        sql=_FETCH_ROWS_SQL,
        params=[UseKind.FETCH.value, reference, authorization_id, actor.id, label, now, [x.pk for x in licences]],
        write=rows_write,
    )  # fmt: skip
    read_records_write(
        action="licences.holder.fetch", actor=actor, target_type="licences.authorization",
        target_ids=[authorization_id], purpose="licence_reuse", source_address=current_address(),
        detail={"application_reference": reference, "licences": [licence.identifier for licence in licences]},
        alongside=rows if licences else None,
    )  # fmt: skip


def licence_use_record(*, licence: Licence, application_reference: str, actor: User) -> LicenceUse:
    """An application relies on this licence from now on: it must be valid at this instant (checked under lock)."""
    reference = _reference_check(application_reference)
    audit_actor = actor_from_user(actor)
    authorization = _live_authorization(licence.holder_index, actor, reference)
    if authorization is None:
        _denied("licences.licence.use", audit_actor, {"identifier": licence.identifier,
                "application_reference": reference})  # fmt: skip
        raise HolderAuthorizationMissing("The holder has not authorized this use for this application.")
    with transaction.atomic():
        locked = _licence_for_update(licence.pk)
        day = today()
        if (
            locked.status != LicenceStatus.VALID
            or locked.valid_from > day
            or (locked.valid_until is not None and locked.valid_until < day)
        ):
            raise LicenceNotUsable(
                f"The licence is {locked.status} or outside its validity period and cannot be used.",
                licence_status=locked.status,
            )
        use = LicenceUse.objects.create(
            licence=locked, kind=UseKind.USE, application_reference=reference, authorization=authorization,
            actor_id=audit_actor.id, actor_label=audit_actor.label[:150], at=timezone.now(),
        )  # fmt: skip
        audit_record(
            action="licences.licence.use", actor=audit_actor, target_type="licences.licence",
            target_id=locked.identifier, purpose="licence_reuse", source_address=current_address(),
            detail={"application_reference": reference},
        )  # fmt: skip
    return use


def bulk_reference(licence_type_code: str, holder_code: str, face: dict[str, Any]) -> str:
    """A stable reference of one bulk row without its own: the same row in a re-run file maps to the same licence."""
    text = f"{licence_type_code}|{holder_code}|" + repr(sorted(face.items()))
    return "row:" + hashlib.sha256(text.encode()).hexdigest()[:40]


# Reading a licence whole (its page, its print, its signed document; the API's read and export): one check of who
# may, and one record of each read and each refusal, for the pages and the API alike.
READ = "licences.licence.read"
PRINT = "licences.licence.print"
EXPORT = "licences.licence.export"


def licence_reader_check(*, user: User, licence: Licence, action: str) -> None:
    """Only the holder and the issuing department see a licence whole; anyone else hears LicenceActionDenied, the
    refusal recorded under `action` (READ, PRINT or EXPORT)."""
    if may_view_as_issuer(user, licence) or is_holder(user, licence):
        return
    audit_record(
        action=action, actor=actor_from_user(user), outcome="denied", target_type="licences.licence",
        target_id=licence.identifier, source_address=current_address(),
    )  # fmt: skip
    raise LicenceActionDenied("Only the holder and the issuing department may read this licence.")


def licence_read_record(*, user: User, licence: Licence, action: str, detail: dict[str, Any] | None = None) -> None:
    """The record of a licence read whole by a reader `licence_reader_check` let through (a print's purpose in
    `detail`)."""
    audit_record(
        action=action, actor=actor_from_user(user), target_type="licences.licence", target_id=licence.identifier,
        source_address=current_address(), detail=detail,
    )  # fmt: skip
