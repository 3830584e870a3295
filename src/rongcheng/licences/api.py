"""Electronic licences over HTTP: /api/v1/licences/.

Anyone may verify a licence (`GET /verify/{identifier}`, `POST /documents/verify`) and read the published keys;
those calls are rate-limited per address. Department systems issue (`POST /`, scope `licences:issue`, permission
`licences.add_licence`, issuing department only) and change status (`POST /{identifier}/transitions`). A system or
the service hall fetches a holder's licences by ID number or credit code (`POST /holder-queries`, scope
`licences:read`) and records their use (`POST /{identifier}/uses`) only under the holder's authorization for that
application, which the holder grants signed in (`POST /authorizations`). ID numbers travel in bodies, never in paths.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Body, Field, Router, Schema, Status

from rongcheng.accounts.api_auth import api_auth
from rongcheng.accounts.models import User
from rongcheng.kernel.ratelimit import OPENAPI_RATE_LIMITED, rate_limit_request
from rongcheng.kernel.schema_types import NOT_BLANK, CreditCodeText, HolderCodeText
from rongcheng.licences import selectors, services
from rongcheng.licences.documents import licence_export
from rongcheng.licences.errors import LicenceInputInvalid, LicenceTypeNotFound
from rongcheng.licences.identifiers import IDENTIFIER_FORMAT, IDENTIFIER_PATTERN
from rongcheng.licences.keys import published_keys
from rongcheng.licences.lifecycle import TRANSITIONS
from rongcheng.licences.models import Licence, LicenceType, LicenceUse
from rongcheng.licences.services import MAX_REFERENCE

LicenceIdentifierText = Annotated[
    str,
    Field(
        description="GB/T 36904 licence identifier, as issued (upper case), with its ISO 7064 check character",
        json_schema_extra={"pattern": IDENTIFIER_PATTERN, "format": IDENTIFIER_FORMAT},
    ),
]
ApplicationReference = Annotated[
    str,
    Field(json_schema_extra={**NOT_BLANK, "maxLength": MAX_REFERENCE}, description="the application (办件) it is for"),
]

router = Router(tags=["licences"])

READ = "licences:read"
ISSUE = "licences:issue"
ISSUE_AUTH = api_auth("licences.licence.issue", scope=ISSUE, permission="licences.add_licence")
CHANGE_AUTH = api_auth("licences.licence.transition", scope=ISSUE, permission="licences.change_licence")
READ_AUTH = api_auth("licences.licence.read", scope=READ)
FETCH_AUTH = api_auth("licences.holder.fetch", scope=READ)
USE_AUTH = api_auth("licences.licence.use", scope=READ)
MINE_AUTH = api_auth("licences.mine.read", scope=READ)
GRANT_AUTH = api_auth("licences.authorization.grant", scope=READ)


def _user(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return user


class VerificationOut(Schema):
    identifier: str
    authentic: bool = Field(description="the signature over the stored content verifies under the named key")
    currently_valid: bool = Field(description="authentic, status valid and today within the validity period")
    status: Literal["valid", "suspended", "revoked", "cancelled", "expired"]
    title: str
    issuer_name: str
    issuer_code: str
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None
    key_id: str
    holder_name: str = Field(description="masked for persons")
    holder_code: str = Field(description="masked")
    face: dict[str, str] = Field(description="face fields by label, personal ones masked")


class DocumentVerificationOut(Schema):
    authentic: bool
    reason: str
    identifier: str | None
    currently_valid: bool | None = Field(description="null when the identifier is unknown here")


class KeyOut(Schema):
    key_id: str
    department: str
    department_code: str
    algorithm: str = "SM2"
    signer_id: str = "1234567812345678"
    status: str
    created_at: dt.datetime
    not_after: dt.datetime
    retired_at: dt.datetime | None
    public_key_pem: str


class LicenceTypeOut(Schema):
    code: str
    name: str
    department: str
    holder_kind: str
    validity_years: int | None
    face_schema: list[dict[str, Any]]


class LicenceOut(Schema):
    identifier: str
    licence_type: str
    title: str
    number: str
    holder_kind: str
    holder_name: str
    holder_code: str = Field(description="masked")
    face: dict[str, Any]
    issuer_name: str
    issuer_code: str
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None
    status: str
    key_id: str
    verification_url: str

    @staticmethod
    def resolve_licence_type(obj: Licence) -> str:
        return obj.licence_type.code

    @staticmethod
    def resolve_holder_code(obj: Licence) -> str:
        return obj.holder_code_masked

    @staticmethod
    def resolve_status(obj: Licence) -> str:
        return selectors.effective_status(obj)

    @staticmethod
    def resolve_verification_url(obj: Licence) -> str:
        return f"/licences/verify/{obj.identifier}/"


class IssueIn(Schema):
    licence_type: str = Field(description="21-character licence type code")
    holder_code: HolderCodeText
    face: dict[str, Any] = Field(description="face fields as declared by the type's schema")
    valid_from: dt.date | None = None
    valid_until: dt.date | None = Field(None, description="default: from the type's validity in years")
    number: str = Field("", description="licence number printed on it; default: the serial")
    source_reference: str = Field("", description="your record's id: issuing it twice is refused")


class LicenceTransitionIn(Schema):
    action: Literal["suspend", "reinstate", "revoke", "cancel", "expire"]
    reason: str = Field(json_schema_extra=NOT_BLANK)
    effective_on: dt.date | None = None


class StatusOut(Schema):
    identifier: str
    status: str
    status_changed_at: dt.datetime | None


class HolderQueryIn(Schema):
    holder_code: HolderCodeText
    application_reference: ApplicationReference


class UseIn(Schema):
    application_reference: ApplicationReference


class UseOut(Schema):
    identifier: str
    kind: str
    application_reference: str
    by: str
    at: dt.datetime

    @staticmethod
    def resolve_identifier(obj: LicenceUse) -> str:
        return obj.licence.identifier

    @staticmethod
    def resolve_by(obj: LicenceUse) -> str:
        return obj.actor_label


class AuthorizationIn(Schema):
    grantee: str = Field(
        json_schema_extra=NOT_BLANK, description="username of the system or service account allowed to fetch"
    )
    application_reference: ApplicationReference
    licence_types: list[str] = Field(default_factory=list, description="type codes; empty: all")
    valid_days: int = Field(30, ge=1, le=366)
    holder_code: CreditCodeText | None = Field(None, description="an entity you represent; default: yourself")


class AuthorizationOut(Schema):
    id: int
    grantee: str
    application_reference: str
    granted_at: dt.datetime
    expires_at: dt.datetime


@router.get(
    "/verify/{identifier}", response=VerificationOut, auth=None, summary="Verify a licence (public)",
    openapi_extra=OPENAPI_RATE_LIMITED,
)  # fmt: skip
def verify(request: HttpRequest, identifier: LicenceIdentifierText) -> dict[str, Any]:
    rate_limit_request("licences.verify", request)
    result = selectors.licence_verify(identifier)
    return {**result.__dict__, "face": dict(result.face)}


@router.post(
    "/documents/verify", response=DocumentVerificationOut, auth=None, summary="Verify an exported licence (public)",
    openapi_extra=OPENAPI_RATE_LIMITED,
)  # fmt: skip
def document_verify(request: HttpRequest, document: Body[dict[str, Any]]) -> dict[str, Any]:
    rate_limit_request("licences.verify", request)
    authentic, reason = selectors.document_verify(document)
    identifier = document.get("content", {}).get("ZZBS") if isinstance(document.get("content"), dict) else None
    valid: bool | None = None
    if authentic and isinstance(identifier, str):
        licence = Licence.objects.filter(identifier=identifier).first()
        valid = selectors.currently_valid(licence) if licence is not None else None
    return {"authentic": authentic, "reason": reason, "identifier": identifier if authentic else None,
            "currently_valid": valid}  # fmt: skip


@router.get("/keys", response=list[KeyOut], auth=None, summary="Published signing keys of the departments")
def keys(request: HttpRequest) -> list[dict[str, Any]]:
    return keys_document()


def keys_document() -> list[dict[str, Any]]:
    return [
        {"key_id": key.key_id, "department": key.department.name, "department_code": key.department.code,
         "status": key.status, "created_at": key.created_at, "not_after": key.not_after,
         "retired_at": key.retired_at, "public_key_pem": key.public_key_pem}
        for key in published_keys()
    ]  # fmt: skip


@router.get("/types", response=list[LicenceTypeOut], auth=None, summary="Licence types and their face fields")
def types(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"code": t.code, "name": t.name, "department": t.department.name, "holder_kind": t.holder_kind,
         "validity_years": t.validity_years, "face_schema": t.face_schema}
        for t in LicenceType.objects.filter(active=True).select_related("department").order_by("code")
    ]  # fmt: skip


@router.post("/", response={201: LicenceOut}, auth=ISSUE_AUTH, summary="Issue a licence (issuing department)")
def issue(request: HttpRequest, payload: IssueIn) -> Status[Licence]:
    licence_type = LicenceType.objects.select_related("department").filter(code=payload.licence_type).first()
    if licence_type is None:
        raise LicenceTypeNotFound(f"No licence type has the code {payload.licence_type!r}.")
    holder = services.holder_resolve(payload.holder_code)
    licence = services.licence_issue(
        licence_type=licence_type, holder=holder, face=payload.face, actor=_user(request),
        valid_from=payload.valid_from, valid_until=payload.valid_until, number=payload.number, source="api",
        source_reference=payload.source_reference,
    )  # fmt: skip
    return Status(201, licence)


@router.get("/mine", response=list[LicenceOut], auth=MINE_AUTH, summary="The signed-in holder's licences")
def mine(request: HttpRequest) -> list[Licence]:
    return selectors.licences_of_resident(_user(request))


@router.get("/mine/uses", response=list[UseOut], auth=MINE_AUTH, summary="Every fetch and use of my licences")
def my_uses(request: HttpRequest) -> list[LicenceUse]:
    return [use for licence in selectors.licences_of_resident(_user(request)) for use in licence.uses.all()]


@router.post("/holder-queries", response=list[LicenceOut], auth=FETCH_AUTH, summary="A holder's licences (authorized)")
def holder_query(request: HttpRequest, payload: HolderQueryIn) -> list[Licence]:
    return services.licences_for_holder(
        holder_code=payload.holder_code, reader=_user(request),
        application_reference=payload.application_reference,
    )  # fmt: skip


@router.post("/authorizations", response={201: AuthorizationOut}, auth=GRANT_AUTH, summary="Authorize a reuse")
def authorization_grant(request: HttpRequest, payload: AuthorizationIn) -> Status[dict[str, Any]]:
    grantee = User.objects.filter(username=payload.grantee, is_active=True).first()
    if grantee is None:
        raise LicenceInputInvalid(
            "No active account has this username.",
            errors=[{"loc": ["grantee"], "rule": "grantee.known", "msg": "unknown account"}],
        )
    holder_index = services.holder_index_for_code(payload.holder_code)[1] if payload.holder_code else None
    types_ = list(LicenceType.objects.filter(code__in=payload.licence_types))
    if len(types_) != len(set(payload.licence_types)):
        raise LicenceInputInvalid(
            "Unknown licence type code.",
            errors=[{"loc": ["licence_types"], "rule": "licence_type.known", "msg": "unknown code"}],
        )
    authorization = services.holder_authorization_grant(
        holder_user=_user(request), grantee=grantee, application_reference=payload.application_reference,
        holder_index=holder_index, licence_types=types_, valid_for=dt.timedelta(days=payload.valid_days),
    )  # fmt: skip
    return Status(201, {"id": authorization.pk, "grantee": grantee.username,
                        "application_reference": authorization.application_reference,
                        "granted_at": authorization.granted_at, "expires_at": authorization.expires_at})  # fmt: skip


def _readable(request: HttpRequest, identifier: str, action: str) -> Licence:
    licence = selectors.licence_get(identifier)
    services.licence_reader_check(user=_user(request), licence=licence, action=action)
    return licence


@router.get("/{identifier}", response=LicenceOut, auth=READ_AUTH, summary="A licence (holder or issuer)")
def licence_read(request: HttpRequest, identifier: LicenceIdentifierText) -> Licence:
    licence = _readable(request, identifier, services.READ)
    services.licence_read_record(user=_user(request), licence=licence, action=services.READ)
    return licence


@router.get("/{identifier}/document", response=dict[str, Any], auth=READ_AUTH, summary="Export the signed document")
def licence_document(request: HttpRequest, identifier: LicenceIdentifierText) -> dict[str, Any]:
    licence = _readable(request, identifier, services.EXPORT)
    services.licence_read_record(user=_user(request), licence=licence, action=services.EXPORT)
    return licence_export(licence)


@router.post("/{identifier}/transitions", response=StatusOut, auth=CHANGE_AUTH, summary="Change a licence's status")
def transition(request: HttpRequest, identifier: LicenceIdentifierText, payload: LicenceTransitionIn) -> Licence:
    licence = selectors.licence_get(identifier)
    return services.licence_transition(
        licence=licence, action=payload.action, reason=payload.reason, actor=_user(request),
        effective_on=payload.effective_on,
    )  # fmt: skip


@router.post("/{identifier}/uses", response={201: UseOut}, auth=USE_AUTH, summary="Record a use in an application")
def use(request: HttpRequest, identifier: LicenceIdentifierText, payload: UseIn) -> Status[LicenceUse]:
    licence = selectors.licence_get(identifier)
    return Status(
        201,
        services.licence_use_record(
            licence=licence, application_reference=payload.application_reference, actor=_user(request),
        ),
    )  # fmt: skip


TRANSITION_ACTIONS = tuple(TRANSITIONS)
