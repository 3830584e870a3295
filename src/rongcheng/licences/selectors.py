"""Read use-cases of electronic licences: verification for anyone, a holder's own licences and their uses."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext

from rongcheng.accounts.models import User
from rongcheng.kernel.context import current_address
from rongcheng.kernel.events import publish
from rongcheng.kernel.masking import mask_name
from rongcheng.licences import documents
from rongcheng.licences import metadata as md
from rongcheng.licences.errors import LicenceNotFound
from rongcheng.licences.events import LicenceVerificationFailed
from rongcheng.licences.identifiers import LicenceIdentifierInvalid, identifier_parse
from rongcheng.licences.keys import public_key_get
from rongcheng.licences.models import HolderAuthorization, Licence, LicenceStatus, LicenceType, LicenceUse
from rongcheng.licences.services import holder_indexes_of_user, today

MASK = "***"


def licence_get(identifier: str) -> Licence:
    """By identifier; a malformed one or a wrong check character is refused before any query (422)."""
    parsed = identifier_parse(identifier)
    licence = Licence.objects.select_related("licence_type").filter(identifier=str(parsed)).first()
    if licence is None:
        raise LicenceNotFound("No licence has this identifier.")
    return licence


def licence_authentic(licence: Licence) -> bool:
    """Does the signature over the content rebuilt from the row verify under the key the licence names?"""
    public_key = public_key_get(licence.key_id)
    if public_key is None:
        return False
    try:
        content = documents.licence_content(licence)
    except Exception:  # an altered cipher or face column: not authentic, whatever broke
        return False
    canonical = documents.content_bytes(content)
    return canonical is not None and public_key.verify(canonical, bytes(licence.signature))


def signature_verifies(*, key_id: str, content: bytes, signature: bytes) -> bool:
    """Does `signature` over `content` verify under the published department key `key_id` (a document signed with
    `licences.services.document_sign`)?"""
    public_key = public_key_get(key_id)
    return public_key is not None and public_key.verify(content, signature)


def currently_valid(licence: Licence, *, on: dt.date | None = None) -> bool:
    day = on or today()
    return (
        licence.status == LicenceStatus.VALID
        and licence.valid_from <= day
        and (licence.valid_until is None or licence.valid_until >= day)
    )


def effective_status(licence: Licence, *, on: dt.date | None = None) -> str:
    """The status, or expired when the period ended and the nightly expiry has not run yet."""
    day = on or today()
    if licence.status == LicenceStatus.VALID and licence.valid_until is not None and licence.valid_until < day:
        return LicenceStatus.EXPIRED
    return licence.status


@dataclass(frozen=True)
class Verification:
    identifier: str
    authentic: bool
    currently_valid: bool
    status: str
    status_label: str
    title: str
    issuer_name: str
    issuer_code: str
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None
    key_id: str
    holder_name: str
    holder_code: str
    face: list[tuple[str, str]] = field(default_factory=list)  # (label, value), personal fields masked


def _shown(value: Any) -> str:
    if value is True:
        return "是"
    if value is False:
        return "否"
    return str(value)


# A personal identifier in a value: an ID number (18 characters) or a mainland mobile number.
_PERSONAL_NUMBER = re.compile(r"\d{17}[\dXx]|(?<!\d)1[3-9]\d{9}(?!\d)")


def field_shown(item: dict[str, Any], value: Any, holder_kind: str) -> str:
    """A face field as anyone may see it: only a field its licence type declares public, never one it declares
    personal (a type defined before the declaration existed shows none: masked is the safe default); of a person,
    a value carrying an ID or phone number stays masked even in a field wrongly declared public."""
    if not item.get("public") or item.get("personal"):
        return MASK
    text = _shown(value)
    return MASK if holder_kind == "person" and _PERSONAL_NUMBER.search(text) else text


def licence_verify(identifier: str) -> Verification:
    """What the public sees of a licence: authentic?, valid now?, issuer; personal fields masked."""
    licence = licence_get(identifier)
    authentic = licence_authentic(licence)
    if not authentic:  # the security monitoring (operations) raises a critical event
        publish(LicenceVerificationFailed(what="licence", reason="signature", key_id=licence.key_id,
                                          identifier=licence.identifier, source_address=current_address()))  # fmt: skip
    status = effective_status(licence)
    schema = licence.licence_type.face_schema
    face = licence.face if isinstance(licence.face, dict) else {}
    shown = [
        (documents.face_label(item), field_shown(item, face[item["name"]], licence.holder_kind))
        for item in schema
        if item["name"] in face
    ]
    return Verification(
        identifier=licence.identifier, authentic=authentic,
        currently_valid=authentic and currently_valid(licence), status=status,
        status_label=str(LicenceStatus(status).label), title=licence.title, issuer_name=licence.issuer_name,
        issuer_code=licence.issuer_code, issued_on=licence.issued_on, valid_from=licence.valid_from,
        valid_until=licence.valid_until, key_id=licence.key_id,
        holder_name=mask_name(licence.holder_name) if licence.holder_kind == "person" else licence.holder_name,
        holder_code=licence.holder_code_masked, face=shown,
    )  # fmt: skip


def document_verify(document: Any) -> tuple[bool, str]:
    """Check an exported document on its own (content, signature, key id); (authentic, reason). A document that is
    not authentic is announced (LicenceVerificationFailed) for the security monitoring to count."""
    authentic, reason = _document_check(document)
    if not authentic:
        signature = document.get("signature") if isinstance(document, dict) else None
        key_id = signature.get("key_id") if isinstance(signature, dict) else None
        publish(LicenceVerificationFailed(what="document", reason=reason, identifier="",
                                          key_id=key_id[:16] if isinstance(key_id, str) else "",
                                          source_address=current_address()))  # fmt: skip
    return authentic, reason


def _document_check(document: Any) -> tuple[bool, str]:
    if not isinstance(document, dict) or document.get("format") != documents.EXPORT_FORMAT:
        return False, "not a rongcheng-licence/1 document"
    content, signature = document.get("content"), document.get("signature")
    if not isinstance(content, dict) or not isinstance(signature, dict):
        return False, "content or signature missing"
    key_id, value = signature.get("key_id"), signature.get("value")
    if not isinstance(key_id, str) or not isinstance(value, str) or len(value) > 200:
        return False, "signature key id or value missing"
    if content.get(md.SEAL_NAME) != key_id:
        return False, "the content names another signing key"
    try:
        identifier_parse(str(content.get(md.IDENTIFIER, "")))
        raw = base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error, LicenceIdentifierInvalid):
        return False, "malformed identifier or signature"
    public_key = public_key_get(key_id) if len(key_id) == 16 else None
    if public_key is None:
        return False, "unknown signing key"
    canonical = documents.content_bytes(content)
    if canonical is None or not public_key.verify(canonical, raw):
        return False, "the signature does not match the content"
    shown = document.get("canonical")
    if shown is not None and (not isinstance(shown, str) or shown.encode() != canonical):
        # The canonical form is what a checker with openssl verifies; it must be the content, not another holder's.
        return False, "the canonical form does not match the content"
    return True, "authentic"


def licences_of_resident(user: User) -> list[Licence]:
    """All licences of the signed-in resident's person and of the entities they represent, with their uses."""
    indexes = holder_indexes_of_user(user)
    if not indexes:
        return []
    uses = LicenceUse.objects.order_by("-at", "-id")
    return list(
        Licence.objects.filter(holder_index__in=indexes)
        .select_related("licence_type")
        .prefetch_related(Prefetch("uses", queryset=uses), "status_changes")
        .order_by("-issued_on", "-id")
    )


def valid_licence_held(*, licence_type: LicenceType, holder_index: str) -> Licence | None:
    """The holder's valid (or suspended) licence of a type, the newest; None when there is none."""
    return (
        Licence.objects.filter(licence_type=licence_type, holder_index=holder_index,
                               status__in=(LicenceStatus.VALID, LicenceStatus.SUSPENDED))
        .order_by("-issued_on", "-pk").first()
    )  # fmt: skip


def licences_by_holder_index(index: str) -> QuerySet[Licence]:
    """The "一号" lookup: one indexed query on holder_index."""
    return Licence.objects.filter(holder_index=index).order_by("id")


def authorizations_of_resident(user: User) -> list[HolderAuthorization]:
    indexes = holder_indexes_of_user(user)
    return list(
        HolderAuthorization.objects.filter(holder_index__in=indexes)
        .select_related("grantee")
        .order_by("-granted_at", "-id")
    )


def licence_types_issuable(department_id: int | None) -> list[LicenceType]:
    if department_id is None:
        return []
    return list(LicenceType.objects.filter(department_id=department_id, active=True).order_by("code"))


# ── application references named for people ──────────────────────────────────────────────────────────────────────
# The `application_reference` of a licence's use or of a holder's authorization is made by a higher tier (the service
# hall: "hall-42"), which the licences app does not know: that app registers a describer at start-up naming its
# references for people (the application's number and service). A reference nobody describes is shown as given.

Describer = Callable[[list[str]], dict[str, str]]
_DESCRIBERS: dict[str, Describer] = {}


def reference_describer_register(prefix: str, describer: Describer) -> None:
    """`describer` names the references that begin with `prefix` (a mapping reference → words)."""
    _DESCRIBERS[prefix] = describer


def references_describe(references: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(references))
    described = {reference: reference for reference in wanted}
    for prefix, describer in _DESCRIBERS.items():
        mine = [reference for reference in wanted if reference.startswith(prefix)]
        if mine:
            described.update(describer(mine))
    return described


def actors_describe(actor_ids: Iterable[str]) -> dict[str, str]:
    """Who used a licence, in people's words: an account's display name (a system's in the page's language when the
    catalogue knows it: "网上办事大厅" / "Online service hall"), never its internal username."""
    wanted = {actor_id for actor_id in actor_ids if actor_id.isdigit()}
    rows = User.objects.filter(pk__in=[int(actor_id) for actor_id in wanted]).values_list("pk", "display_name")
    return {str(pk): gettext(name) for pk, name in rows if name}


def uses_described(uses: Iterable[LicenceUse]) -> list[LicenceUse]:
    """Uses with `user_label` (who, in people's words) and `reference_label` (the application's number)."""
    rows = list(uses)
    actors = actors_describe(row.actor_id for row in rows)
    references = references_describe(row.application_reference for row in rows)
    for row in rows:
        row.user_label = actors.get(row.actor_id, row.actor_label)  # type: ignore[attr-defined]
        row.reference_label = references.get(row.application_reference, row.application_reference)  # type: ignore[attr-defined]
    return rows
