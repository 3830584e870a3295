"""Read use-cases of the OpenID Connect provider: clients, consents, and the ID-number claims.

The ID number is read through the population registry's selectors, so the registry's rules decide what a client
sees: masked for the `id_number_masked` scope (the stored masked form, release audited here), in clear only when the
client's account holds the registry's field entitlement for `id_number` (the registry's own read, audited there).
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from oauth2_provider.models import AccessToken, Application

from rongcheng.accounts.models import User
from rongcheng.accounts.selectors import with_cached_permissions
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.kernel.context import current_address
from rongcheng.kernel.errors import DomainError
from rongcheng.oidc.models import ClientRegistration, ClientStamp, Consent
from rongcheng.oidc.subjects import subject_for
from rongcheng.registries.permissions import clear_fields, may_read, reader_for
from rongcheng.registries.selectors import person_for_resident, person_read


def client_entitled_to_id_number(application: Any) -> bool:
    owner = getattr(application, "user", None)
    if owner is None:
        return False
    reader = reader_for(owner)
    return may_read(reader, "persons") and "id_number" in clear_fields(
        reader, "persons", settings.OIDC_ID_NUMBER_PURPOSE
    )


def id_number_masked_for(*, user: User, client: Any) -> str | None:
    try:
        person = person_for_resident(user=user)
    except DomainError:
        return None
    audit_record(
        action="oidc.claim.release", actor=actor_from_user(user), target_type="registries.person", target_id=person.pk,
        purpose=settings.OIDC_ID_NUMBER_PURPOSE, detail={"client_id": client.client_id, "claim": "id_number_masked"},
    )  # fmt: skip
    return str(person.id_number_masked)


def id_number_clear_for(*, user: User, client: Any) -> str | None:
    """The clear number through the registry's audited read by the client's account; None unless it sees it clear."""
    owner = getattr(client, "user", None)
    if owner is None:
        return None
    try:
        person = person_for_resident(user=user)
        view = person_read(reader=reader_for(owner), person_id=person.pk, purpose=settings.OIDC_ID_NUMBER_PURPOSE)
    except DomainError:
        return None
    return view.id_number if "id_number" in view.clear else None


def consent_get(*, user: User, application: Any) -> Consent | None:
    return Consent.objects.filter(user=user, application=application).first()


@dataclass(frozen=True)
class AuthorizedClient:
    consent_id: int
    client_id: str
    name: str
    department: str
    scopes: tuple[str, ...]
    granted_at: Any


def authorized_clients_for(*, user: User) -> list[AuthorizedClient]:
    consents = (
        Consent.objects.filter(user=user)
        .select_related("application__registration__department", "application__user__department")
        .order_by("-granted_at")
    )
    result = []
    for consent in consents:
        application = consent.application
        registration = _registration(application)
        department = registration.department if registration is not None else None
        if department is None and application.user is not None:
            department = application.user.department
        result.append(
            AuthorizedClient(
                consent_id=consent.pk, client_id=application.client_id, name=application.name,
                department=str(department) if department else "", scopes=tuple(sorted(consent.scopes)),
                granted_at=consent.granted_at,
            )
        )  # fmt: skip
    return result


def _registration(application: Any) -> ClientRegistration | None:
    try:
        registration: ClientRegistration = application.registration
    except ObjectDoesNotExist:
        return None
    return registration


def client_list() -> QuerySet[ClientRegistration]:
    return ClientRegistration.objects.select_related("application", "department").order_by("-registered_at")


def client_get(*, client_id: str) -> ClientRegistration:
    if "\x00" in client_id:
        raise ClientRegistration.DoesNotExist
    return ClientRegistration.objects.select_related("application__user", "department").get(
        application__client_id=client_id
    )


# The token endpoint reads a client once per process and keeps it with the stamp of clients read alongside
# (oidc.models.ClientStamp, bumped by database triggers on any change to a client, its registration or its owner's
# standing). A kept client serves a request only while the stamp is unchanged, so a rotated secret, a disabled or
# deleted client, a changed grant type is seen by every process at its next request: either the stamp is read
# before the client is used (`client_stamp`, one small query), or, for a client-credentials grant on PostgreSQL,
# the token row's INSERT carries the check (`unchecked=True`: the row goes in only under the same stamp, and the
# grant starts again on fresh data when it does not; oidc.validators, oidc.views.TokenView).
_clients: dict[str, tuple[int, Application]] = {}
_STAMP = Coalesce(Subquery(ClientStamp.objects.filter(pk=1).values("value")[:1]), Value(0))


class ClientChanged(Exception):  # a signal to start over, not an error of the caller
    """A client served from this process's cache changed since it was read: the grant starts again, fresh."""


@dataclass(frozen=True)
class ClientForToken:
    application: Application | None
    stamp: int  # the stamp of clients the application was read under
    unchecked: bool  # served from the cache without reading the stamp: the caller's write must check it


def client_stamp() -> int:
    stamp = ClientStamp.objects.filter(pk=1).values_list("value", flat=True).first()
    return int(stamp or 0)


def application_for_token_endpoint(client_id: str | None, *, unchecked: bool = False) -> ClientForToken:
    """The client named `client_id` as the token, introspection and revocation endpoints authenticate it. A kept
    client is checked against the current stamp first, unless `unchecked` (the caller checks the stamp in the same
    statement as its write, and starts over on a mismatch). An unknown client is never kept."""
    if not client_id or "\x00" in client_id:
        return ClientForToken(None, 0, False)  # none given, or a NUL byte PostgreSQL cannot compare: no client has it
    cached = _clients.get(client_id)
    if cached is not None:
        if unchecked:
            return ClientForToken(cached[1], cached[0], True)
        if cached[0] == client_stamp():
            return ClientForToken(cached[1], cached[0], False)
    application: Any = (
        Application.objects.select_related("user", "registration")
        .annotate(client_stamp=_STAMP)
        .filter(client_id=client_id)
        .first()
    )
    if application is None:
        _clients.pop(client_id, None)
        return ClientForToken(None, 0, False)
    if application.user is not None:
        with_cached_permissions(application.user)  # the scopes backend asks has_perm of the owner
    stamp = int(application.client_stamp)
    if len(_clients) > 10_000:
        _clients.clear()
    _clients[client_id] = (stamp, application)
    return ClientForToken(application, stamp, False)


def client_cache_forget(client_id: str) -> None:
    _clients.pop(client_id, None)


INACTIVE: dict[str, Any] = {"active": False}


def token_introspect(*, caller: Any, token_value: str) -> dict[str, Any]:
    """RFC 7662 introspection for an authenticated client: only of a token issued to that same client. A token of
    another client is answered `{"active": false}` (as for an unknown one) and the attempt audited: otherwise any
    client could learn who holds another relying party's token and undo its pairwise subjects. The answer carries
    the pairwise `sub` the client already knows, never the username."""
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    token = (
        AccessToken.objects.select_related("user", "application", "application__registration")
        .filter(token_checksum=checksum)
        .first()
    )
    if token is None or token.application is None or not token.is_valid():
        return INACTIVE
    if token.application_id != caller.pk:
        audit_record(
            action="oidc.token.introspect", actor=Actor("api_client", str(caller.user_id or ""), caller.client_id),
            outcome="denied", target_type="oidc.client", target_id=token.application.client_id,
            source_address=current_address(), detail={"reason": "foreign_token"},
        )  # fmt: skip
        return INACTIVE
    registration = getattr(token.application, "registration", None)
    if registration is not None and registration.disabled_at is not None:
        return INACTIVE
    answer: dict[str, Any] = {
        "active": True,
        "scope": token.scope,
        "client_id": token.application.client_id,
        "exp": int(calendar.timegm(token.expires.timetuple())),
        "token_type": "Bearer",
        "sub": subject_for(token.user, token.application) if token.user_id else token.application.client_id,
    }
    if token.resource:
        answer["aud"] = token.resource
    return answer
