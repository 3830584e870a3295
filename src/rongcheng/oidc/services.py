"""Write use-cases of the OpenID Connect provider: registering clients, rotating their secrets, disabling them;
remembering and revoking a person's consent. Each checks its permission, writes atomically and is audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken, clear_expired

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.accounts.permissions import scopes_allowed_for
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.oidc.errors import ClientManagementDenied, ClientNotFound, ConsentNotFound
from rongcheng.oidc.models import ACCESS_TOKEN_ALGORITHMS, ClientRegistration, Consent
from rongcheng.oidc.permissions import MANAGE_CLIENT, may_manage_clients
from rongcheng.oidc.selectors import client_cache_forget

GRANT_TYPES = (Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_CLIENT_CREDENTIALS)


@dataclass(frozen=True)
class IssuedSecret:
    """A client with its secret in clear: the only moment the secret exists in clear."""

    registration: ClientRegistration
    client_secret: str


def _require_manager(actor: User, action: str, detail: dict[str, Any]) -> None:
    if not may_manage_clients(actor):
        audit_record(action=action, actor=actor_from_user(actor), outcome="denied", target_type="oidc.client",
                     detail={**detail, "permission": MANAGE_CLIENT})  # fmt: skip
        raise ClientManagementDenied(f"This account lacks the permission {MANAGE_CLIENT}.")


def _invalid(field: str, message: str, rule: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message, errors=[{"loc": ["body", field], "rule": rule, "msg": message}])


def _scope_permissions(scopes: list[str]) -> list[Permission]:
    wanted = {name for scope in scopes for name in settings.API_SCOPE_PERMISSIONS.get(scope, ())}
    return [
        permission
        for permission in Permission.objects.select_related("content_type")
        if f"{permission.content_type.app_label}.{permission.codename}" in wanted
    ]


def client_register(
    *,
    actor: User,
    name: str,
    department_code: str,
    grant_type: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    api_scopes: list[str] | None = None,
    sector_identifier: str = "",
    access_token_algorithm: str = "ES256",  # noqa: S107  # a JOSE algorithm's name, not a secret
) -> IssuedSecret:
    """A department system's client: an account of kind api_client holding the permissions behind `api_scopes`,
    an application of the toolkit, and its registration. Its access tokens are signed `access_token_algorithm`:
    ES256, or RS256 for resource servers that verify nothing else (RFC 9068 §2.1); ID tokens are RS256 always."""
    detail = {"name": name, "department": department_code, "grant_type": grant_type}
    _require_manager(actor, "oidc.client.register", detail)
    if grant_type not in GRANT_TYPES:
        raise _invalid("grant_type", f"grant_type must be one of {', '.join(GRANT_TYPES)}.", "grant_type.choice")
    if access_token_algorithm not in dict(ACCESS_TOKEN_ALGORITHMS):
        raise _invalid("access_token_algorithm", "access_token_algorithm must be ES256 or RS256.",
                       "access_token_algorithm.choice")  # fmt: skip
    unknown = sorted(set(api_scopes or ()) - set(settings.API_SCOPE_PERMISSIONS))
    if unknown:
        raise _invalid("api_scopes", f"Unknown API scopes: {', '.join(unknown)}.", "scope.known")
    forbidden = sorted(set(api_scopes or ()) - scopes_allowed_for(grant_type))
    if forbidden:
        audit_record(action="oidc.client.register", actor=actor_from_user(actor), outcome="denied",
                     target_type="oidc.client", detail={**detail, "scopes_refused": forbidden})  # fmt: skip
        raise _invalid(
            "api_scopes", f"A client of this kind may not hold the scopes: {', '.join(forbidden)}.", "scope.client_kind"
        )
    if grant_type == Application.GRANT_AUTHORIZATION_CODE and not redirect_uris:
        raise _invalid("redirect_uris", "A client that signs people in needs a redirect URI.", "redirect_uri.required")
    department = Department.objects.filter(code=department_code).first()
    if department is None:
        raise _invalid("department_code", f"No department has the code {department_code!r}.", "department.known")
    if User.objects.filter(username=name).exists():
        raise _invalid("name", f"An account named {name!r} exists already.", "name.unique")
    account = User(username=name, kind=AccountKind.API_CLIENT, department=department, display_name=name)
    account.set_unusable_password()
    secret = generate_client_secret()
    application = Application(
        name=name, client_type=Application.CLIENT_CONFIDENTIAL, authorization_grant_type=grant_type,
        redirect_uris=" ".join(redirect_uris), post_logout_redirect_uris=" ".join(post_logout_redirect_uris or []),
        client_secret=secret, hash_client_secret=True,
    )  # fmt: skip
    try:
        account.full_clean()
        # The toolkit's clean() wants RS256 keys in its settings; ours are in the rotating key ring (ADR 0008).
        application.full_clean(exclude=["user", "client_secret"])
        application.algorithm = Application.RS256_ALGORITHM
    except ValidationError as exc:
        raise ValidationFailed(
            "The client is not valid.",
            errors=[{"loc": ["body", f], "rule": "invalid", "msg": " ".join(m)} for f, m in exc.message_dict.items()],
        ) from exc
    with transaction.atomic():
        account.save()
        account.user_permissions.set(_scope_permissions(api_scopes or []))
        application.user = account
        application.save()
        registration = ClientRegistration.objects.create(
            application=application, department=department, sector_identifier=sector_identifier,
            registered_by=actor.get_username(), access_token_algorithm=access_token_algorithm,
        )  # fmt: skip
        audit_record(
            action="oidc.client.register", actor=actor_from_user(actor), target_type="oidc.client",
            target_id=application.client_id, detail={**detail, "api_scopes": sorted(api_scopes or []),
            "redirect_uris": redirect_uris, "sector_identifier": sector_identifier,
            "access_token_algorithm": access_token_algorithm},
        )  # fmt: skip
    return IssuedSecret(registration, secret)


def _registration_for_update(client_id: str) -> ClientRegistration:
    if "\x00" in client_id:
        raise ClientNotFound("No registered client has this id.")
    registration = (
        ClientRegistration.objects.select_for_update()
        .select_related("application")
        .filter(application__client_id=client_id)
        .first()
    )
    if registration is None:
        raise ClientNotFound(f"No registered client has the id {client_id!r}.")
    return registration


def client_secret_rotate(*, actor: User, client_id: str) -> IssuedSecret:
    """A new secret replaces the old one at once; tokens already issued run to their expiry."""
    _require_manager(actor, "oidc.client.rotate_secret", {"client_id": client_id})
    secret = generate_client_secret()
    with transaction.atomic():
        registration = _registration_for_update(client_id)
        application = registration.application
        application.client_secret = secret
        application.save(update_fields=["client_secret", "updated"])
        registration.secret_rotated_at = timezone.now()
        registration.save(update_fields=["secret_rotated_at"])
        audit_record(action="oidc.client.rotate_secret", actor=actor_from_user(actor), target_type="oidc.client",
                     target_id=client_id)  # fmt: skip
        client_cache_forget(client_id)
        transaction.on_commit(lambda: client_cache_forget(client_id))
    return IssuedSecret(registration, secret)


def _revoke_tokens(application: Any, user: User | None = None) -> int:
    access = AccessToken.objects.filter(application=application)
    refresh = RefreshToken.objects.filter(application=application, revoked__isnull=True)
    if user is not None:
        access, refresh = access.filter(user=user), refresh.filter(user=user)
    now = timezone.now()
    refresh.update(revoked=now, updated=now)
    deleted, _ = access.delete()
    return int(deleted)


def client_disable(*, actor: User, client_id: str) -> ClientRegistration:
    """The client can no longer authenticate, and every token it holds is revoked."""
    _require_manager(actor, "oidc.client.disable", {"client_id": client_id})
    with transaction.atomic():
        registration = _registration_for_update(client_id)
        if registration.disabled_at is None:
            registration.disabled_at = timezone.now()
            registration.save(update_fields=["disabled_at"])
        revoked = _revoke_tokens(registration.application)
        audit_record(action="oidc.client.disable", actor=actor_from_user(actor), target_type="oidc.client",
                     target_id=client_id, detail={"access_tokens_revoked": revoked})  # fmt: skip
        client_cache_forget(client_id)
        transaction.on_commit(lambda: client_cache_forget(client_id))
    return registration


def consent_grant(*, user: User, application: Any, scopes: list[str]) -> Consent:
    """Remember the person's consent; a later request for more scopes asks again."""
    with transaction.atomic():
        consent = Consent.objects.select_for_update().filter(user=user, application=application).first()
        granted = sorted(set(scopes) | (consent.scopes if consent else set()))
        if consent is None:
            consent = Consent(user=user, application=application)
        consent.scope = " ".join(granted)
        consent.granted_at = timezone.now()
        consent.save()
        audit_record(action="oidc.consent.grant", actor=actor_from_user(user), target_type="oidc.client",
                     target_id=application.client_id, detail={"scopes": sorted(scopes)})  # fmt: skip
    return consent


def consent_revoke(*, user: User, consent_id: int) -> None:
    """Forget the consent and revoke every token the client holds for the person."""
    with transaction.atomic():
        consent = (
            Consent.objects.select_for_update().select_related("application").filter(pk=consent_id, user=user).first()
        )
        if consent is None:
            raise ConsentNotFound("You have not authorized this client.")
        application = consent.application
        revoked = _revoke_tokens(application, user)
        consent.delete()
        audit_record(action="oidc.consent.revoke", actor=actor_from_user(user), target_type="oidc.client",
                     target_id=application.client_id, detail={"access_tokens_revoked": revoked})  # fmt: skip


def authorization_refuse(*, user: Account, client_id: str, error: str, required_level: int | None = None) -> None:
    """Record a refused authorization request with its OAuth error (unknown client, unregistered redirect URI, plain
    PKCE, unknown scope, an assurance level the account lacks and no step-up to offer: `required_level`), once."""
    detail: dict[str, Any] = {"error": error}
    if required_level is not None:
        detail["required_level"] = required_level
    audit_record(
        action="oidc.authorize", actor=actor_from_user(user), outcome="denied", target_type="oidc.client",
        target_id=client_id, source_address=current_address(), detail=detail,
    )  # fmt: skip


def token_response_record(*, client_id: str, grant_type: str, error: Any) -> None:
    """The token endpoint's answer in the trail: every refusal (`error`), and every grant made for a person. A
    client-credentials grant is not recorded (one per few minutes per system, and the API calls it makes are).
    `client_id` and `grant_type` are as the caller sent them, made printable; `error` is None for a grant."""
    if error is not None:
        audit_record(
            action="oidc.token.issue", actor=Actor.anonymous(), outcome="denied", target_type="oidc.client",
            target_id=client_id, source_address=current_address(),
            detail={"error": error, "grant_type": grant_type[:60]},
        )  # fmt: skip
    elif grant_type != "client_credentials":
        audit_record(
            action="oidc.token.issue", actor=Actor.anonymous(), target_type="oidc.client", target_id=client_id,
            source_address=current_address(), detail={"grant_type": grant_type},
        )  # fmt: skip


def grants_and_tokens_expired_delete() -> int:
    """Delete expired authorization codes (grants), then let the toolkit clear expired tokens (it keeps revoked
    refresh tokens until they expire, for reuse detection). Returns the number of grants deleted."""
    deleted, _ = Grant.objects.filter(expires__lt=timezone.now()).delete()
    clear_expired()
    return int(deleted)
