"""The service hall's use of electronic licences: prefilling materials, recording each use, issuing the result.

This is the one place that talks to the licences app, so the flow that spans the hall and the licences (a licence
used in an application, a licence issued on approval) stays in the hall's tier. The hall reads licences as its own
account (`hall_account`, an API-client account named 网上办事大厅) under the holder's authorization for one
application, whose reference is `application_reference(application)`: the holder sees each fetch and each use.

When the applicant party is a legal entity (`Application.legal_entity`), the licences are the entity's, fetched by
its credit code; its representative grants the authorization on the entity's behalf, which the hall allows only
while the representation is active (checked by the services before they call in here), and the licence issued on
approval is held by the entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from rongcheng.accounts.models import AccountKind, User
from rongcheng.hall.catalogue import REGISTRY_FIELDS
from rongcheng.hall.errors import MaterialInvalid, TransitionGuardFailed
from rongcheng.hall.models import Application, ApplicationMaterial, material_spec
from rongcheng.licences.errors import LicenceInputInvalid
from rongcheng.licences.models import Licence, LicenceStatus, LicenceType
from rongcheng.licences.selectors import valid_licence_held
from rongcheng.licences.services import (
    holder_authorization_grant,
    licence_face_problems,
    licence_issue,
    licence_transition,
    licence_use_record,
    licences_for_holder,
)
from rongcheng.registries.models import LegalEntity, Person
from rongcheng.registries.selectors import person_for_resident

HALL_ACCOUNT = "hall"


@dataclass(frozen=True)
class LicenceMaterial:
    identifier: str
    values: dict[str, Any]
    labels: dict[str, str]


def hall_account() -> User:
    """The account the hall reads licences as; created on first use (two first uses at once: one creates it), it
    cannot sign in."""
    account = User.objects.filter(username=HALL_ACCOUNT).first()
    if account is not None:
        return account
    account = User(username=HALL_ACCOUNT, kind=AccountKind.API_CLIENT, display_name="网上办事大厅")
    account.set_unusable_password()
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        return User.objects.get(username=HALL_ACCOUNT)
    return account


REFERENCE_PREFIX = "hall-"


def application_reference(application: Application) -> str:
    return f"{REFERENCE_PREFIX}{application.pk}"


def references_describe(references: list[str]) -> dict[str, str]:
    """The hall's references named for people: the application's number (or "draft") and its service."""
    ids = {int(r.removeprefix(REFERENCE_PREFIX)): r for r in references if r.removeprefix(REFERENCE_PREFIX).isdigit()}
    rows = Application.objects.filter(pk__in=ids).values_list("pk", "number", "service__name")
    return {
        ids[pk]: _("办件 %(number)s（%(service)s）") % {"number": number, "service": service}
        if number
        else _("%(service)s 申请草稿") % {"service": service}
        for pk, number, service in rows
    }


def licences_authorize(*, user: User, application: Application, licence_type_codes: list[str]) -> None:
    """The applicant lets the hall fetch and use their licences of these types for this application."""
    types = list(LicenceType.objects.filter(code__in=licence_type_codes))
    entity = application.legal_entity
    holder_authorization_grant(
        holder_user=user, grantee=hall_account(), application_reference=application_reference(application),
        licence_types=types, holder_index=entity.credit_code if entity is not None else None,
    )  # fmt: skip


def licences_fetch(*, user: User, application: Application) -> list[Licence]:
    """The applicant party's licences of the authorized types (the person's by ID number, the entity's by credit
    code), each fetch recorded for the holder to see."""
    if application.legal_entity is not None:
        holder_index = application.legal_entity.credit_code
    else:
        if not getattr(user, "id_number_index", ""):
            return []
        holder_index = person_for_resident(user=user).id_number_index
    return licences_for_holder(
        holder_index=holder_index, reader=hall_account(), application_reference=application_reference(application),
    )  # fmt: skip


def licence_for_material(licences: list[Licence], licence_type: str) -> LicenceMaterial | None:
    """The newest currently valid licence of this type among those fetched, with its face values and labels."""
    candidates = [
        licence for licence in licences
        if licence.licence_type.code == licence_type and licence.status == LicenceStatus.VALID
    ]  # fmt: skip
    if not candidates:
        return None
    licence = max(candidates, key=lambda item: item.pk)
    labels = {field["name"]: field.get("label", field["name"]) for field in licence.licence_type.face_schema}
    values = {"number": licence.number, "holder": licence.holder_name, **licence.face}
    labels.update(number=gettext_noop("证照编号"), holder=gettext_noop("持证人"))
    return LicenceMaterial(licence.identifier, values, labels)


def licence_uses_record(*, application: Application, identifiers: list[str] | None = None) -> None:
    """Each licence the application relies on is recorded as used for it; a licence that is no longer valid
    (revoked, suspended, expired) is refused here, under the licence's row lock. `identifiers`: the licences its
    materials name, when the caller read them under the application's row lock (else read here)."""
    if identifiers is None:
        identifiers = list(
            ApplicationMaterial.objects.filter(application=application, source="licence").values_list(
                "licence_identifier", flat=True
            )
        )
    if not identifiers:
        return
    account = hall_account()
    for licence in Licence.objects.filter(identifier__in=identifiers):
        licence_use_record(
            licence=licence, application_reference=application_reference(application), actor=account,
        )  # fmt: skip


def _result_face(application: Application) -> tuple[dict[str, Any], dict[str, str]]:
    """The face data of the licence issued on approval, from the application's materials as the service maps them
    (`ServiceItem.result_face`: face field → "material:value key", or "=literal"), and the source of each face field
    that the application leaves empty."""
    provided = {m.code: m.values for m in application.provided.all()}
    face: dict[str, Any] = {}
    empty: dict[str, str] = {}
    for field, source in application.service.result_face.items():
        if source.startswith("="):
            face[field] = source[1:]
            continue
        material, _sep, key = source.partition(":")
        value = provided.get(material, {}).get(key)
        value = value["value"] if isinstance(value, dict) else value
        if value is None or value == "":
            empty[field] = source
            continue
        face[field] = value
    return face, empty


def _source_label(application: Application, source: str) -> tuple[str, str]:
    """The material's name and the value's name, as the applicant saw them, of a "material:key" source."""
    material, _sep, key = source.partition(":")
    spec = material_spec(application.service, material) or {"name": material}
    provided: dict[str, Any] = next((m.values for m in application.provided.all() if m.code == material), {})
    label = provided.get(key, {}).get("label") if isinstance(provided.get(key), dict) else None
    return str(spec["name"]), str(label or REGISTRY_FIELDS.get(key, (key,))[0])


def result_face(application: Application) -> dict[str, Any]:
    face, empty = _result_face(application)
    if empty:
        field, source = next(iter(empty.items()))
        raise MaterialInvalid(
            f"The licence's field {field} comes from {source}, which the application does not provide.",
            errors=[{"loc": ["materials", source.partition(":")[0]], "rule": "result_face.source", "msg": source}],
        )
    return face


def result_check(application: Application) -> None:
    """At submission, before an officer sees it: the licence the approval would issue can be issued from what the
    application provides. A value it needs that is missing (an address the registry does not hold, say), or one the
    licence type would refuse, stops the submission with the material and the value named in the reader's
    language; nothing is written."""
    code = application.service.issues_licence_type
    licence_type = LicenceType.objects.filter(code=code).first() if code else None
    if licence_type is None:
        return
    if licence_type.one_valid_per_holder:
        _not_held_already(application, licence_type)
    face, empty = _result_face(application)
    sources = dict(application.service.result_face)
    required = {f["name"] for f in licence_type.face_schema if f.get("required")}
    problems = [field for field in empty if field in required]
    problems += [str(e["loc"][-1]) for e in licence_face_problems(licence_type=licence_type, face=face)
                 if e["loc"][-1] in sources and e["loc"][-1] not in empty]  # fmt: skip
    if not problems:
        return
    messages, errors = [], []
    for field in problems:
        material, label = _source_label(application, sources[field])
        messages.append(_("材料“%(material)s”的“%(field)s”为空或不符合要求，签发%(licence)s需要它。")
                        % {"material": material, "field": label, "licence": licence_type.name})  # fmt: skip
        errors.append({"loc": ["materials", sources[field].partition(":")[0]], "rule": "result_face.value",
                       "msg": messages[-1]})  # fmt: skip
    raise TransitionGuardFailed(" ".join(messages), errors=errors)


def _used_licences(application: Application) -> list[str]:
    """Identifiers of the licences the application uses as materials (a renewal uses the licence it renews)."""
    return list(
        ApplicationMaterial.objects.filter(application=application, source="licence")
        .exclude(licence_identifier="")
        .values_list("licence_identifier", flat=True)
    )


def _holder_index(application: Application) -> str | None:
    if application.legal_entity is not None:
        return application.legal_entity.credit_code
    return getattr(application.applicant, "id_number_index", "") or None  # the blind index of the person's ID number


def _not_held_already(application: Application, licence_type: LicenceType) -> None:
    """A type held once (an identity card, a residence permit, a business licence) is applied for again only as its
    renewal or replacement: the application must use the valid licence it supersedes."""
    index = _holder_index(application)
    held = valid_licence_held(licence_type=licence_type, holder_index=index) if index else None
    if held is None or held.identifier in _used_licences(application):
        return
    message = _(
        "您已持有有效的%(licence)s（证照编号 %(number)s），不能重复申领；如需换领或补领，请办理换领、补领事项。"
    ) % {"licence": licence_type.name, "number": held.number}
    raise TransitionGuardFailed(message, errors=[{"loc": ["service"], "rule": "licence.one_valid", "msg": message}])


def _replace_predecessors(application: Application, licence: Licence, officer: User) -> None:
    """A renewal or replacement supersedes the licence it was made from: a licence of the same type and holder used as
    a material of the application is marked replaced (verification then says so), in the approval's transaction."""
    used = _used_licences(application)
    replaceable = (LicenceStatus.VALID, LicenceStatus.SUSPENDED, LicenceStatus.EXPIRED)
    for old in Licence.objects.filter(identifier__in=used, licence_type_id=licence.licence_type_id,
                                      holder_index=licence.holder_index, status__in=replaceable
                                      ).exclude(pk=licence.pk):  # fmt: skip
        licence_transition(
            licence=old, action="replace", reason=f"换发：{licence.number}"[:200], actor=officer,
        )  # fmt: skip


def licence_issue_for(*, application: Application, officer: User) -> str:
    """Issue the service's licence type to the applicant party (the person, or the legal entity), signed with the
    deciding department's key; its identifier. Runs inside the approval's transaction: if issuing fails, the approval
    does not happen."""
    licence_type = LicenceType.objects.filter(code=application.service.issues_licence_type).first()
    if licence_type is None:
        raise MaterialInvalid(
            f"The licence type {application.service.issues_licence_type} the service issues is not defined.",
            errors=[{"loc": ["service", "issues_licence_type"], "rule": "licence_type.known", "msg": "unknown"}],
        )
    holder: Person | LegalEntity = (
        application.legal_entity
        if application.legal_entity is not None
        else person_for_resident(user=application.applicant)
    )
    try:
        with transaction.atomic():
            licence = licence_issue(
                licence_type=licence_type, holder=holder, face=result_face(application), actor=officer,
                source="hall", source_reference=application.number or application_reference(application),
                replaces=_used_licences(application),
            )  # fmt: skip
        _replace_predecessors(application, licence, officer)
    except LicenceInputInvalid as exc:
        labels = {f["name"]: f.get("label", f["name"]) for f in licence_type.face_schema}
        fields = [labels.get(str(e["loc"][-1]), str(e["loc"][-1])) for e in exc.errors if e.get("loc")]
        raise MaterialInvalid(
            _("%(licence)s无法签发：请核对“%(fields)s”。")
            % {"licence": licence_type.name, "fields": "”“".join(fields) or _("证照内容")},
            errors=exc.errors,
        ) from exc
    return licence.identifier
