"""Who is calling the API: a department system with an OAuth 2.0 access token, or a person signed in to the pages.

Both end as a `User`. A client-credentials token acts as its application's owner, an account of kind `api_client`,
so the same permissions and field entitlements govern a system and a person. What the caller may then read is decided
by the selectors and services; this module answers "who is it" and, for a token, "was it issued for this kind of
call" (its scope). Operations that change data also name the permission they need here, checked before the
operation runs; a refusal is audited like a refused read.

Tokens come from the OpenID Connect provider's token endpoint (/oauth/token/): ES256 or RS256 JWTs (RFC 9068),
each checked under the algorithm of the key its `kid` names, never the one its header claims. Their
signature, expiry, issuer and audience are checked here, locally, against the provider's key ring (no query); a token
for another audience is refused with `invalid_token`. Then one indexed query reads the token's row (stored hashed)
with its application and account, which the call needs anyway. Each process keeps a token it has admitted, with
that row, for at most settings.API_TOKEN_CACHE_SECONDS (one second; ADR 0019): a revoked token (its row deleted), a
deleted or disabled application or a deactivated account is refused by every process within that bound, and at once
by the process that made the change (model signals clear its cache). The token's expiry is checked on every call.
Other resource servers verify the JWT alone through the JWKS and accept revocation within a token's lifetime
(ADR 0008).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models.base import ModelState
from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth
from ninja.security.base import AuthBase
from ninja.utils import check_csrf
from oauth2_provider.models import AccessToken
from oauth2_provider.scopes import SettingsScopes

from rongcheng.accounts.errors import CsrfFailed, TokenInvalid
from rongcheng.accounts.models import User
from rongcheng.accounts.permissions import SCOPES_BY_CLIENT_KIND, scopes_allowed_for
from rongcheng.accounts.services import api_account_admit, api_token_admit, api_token_refuse
from rongcheng.kernel.keyring import JwtInvalid, KeyRing, key_ring
from rongcheng.kernel.prepared import PreparedLookup

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105  # RFC 9068 §2.1 media type, not a secret


def issuer_for(request: HttpRequest) -> str:
    """The provider's issuer: settings.OIDC_ISSUER, else this server's /oauth as the request names it."""
    return str(settings.OIDC_ISSUER or request.build_absolute_uri("/oauth"))


def api_audience_for(issuer: str) -> str:
    """The `aud` of tokens for the platform's own API (RFC 8707 resource), beside the issuer unless configured."""
    return str(settings.OIDC_API_AUDIENCE or issuer.removesuffix("/oauth") + "/api/v1/")


def verification_keys() -> KeyRing:
    return key_ring(settings.OIDC_KEYS_DIR)


def access_token_verify(token: str, *, issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a valid access token for `audience`: signature, type, expiry, issuer. No database."""
    try:
        return verification_keys().verify(token, audience=audience, issuer=issuer, typ=ACCESS_TOKEN_TYPE)
    except JwtInvalid as exc:
        raise TokenInvalid(f"The access token is invalid: {exc}.") from None


class ClientToken(HttpBearer):
    """`Authorization: Bearer <access token>`: valid, unexpired, carrying `scope`; the caller is the token's user or,
    for client credentials, the account that owns the application."""

    def __init__(self, action: str, *, scope: str, permission: str | None = None) -> None:
        super().__init__()
        self.scope = scope
        self.permission = permission
        self.action = action

    def __call__(self, request: HttpRequest) -> User | None:
        """HttpBearer's own reading of the header, from request.META: `request.headers` would build a mapping of
        every header of the request to read this one."""
        value = request.META.get("HTTP_AUTHORIZATION")
        if not value:
            return None
        scheme, _, token = value.partition(" ")
        if scheme.lower() != self.openapi_scheme:
            return None
        return self.bearer_admitted(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        """HttpBearer's hook, for a caller that goes through it: the same check as `__call__`."""
        return self.bearer_admitted(request, token)

    def bearer_admitted(self, request: HttpRequest, token: str) -> User | None:
        """The account a bearer access token (never a password) admits for this operation, or None."""
        if not token.strip():
            return None  # "Bearer" and nothing: no credentials, as without the header
        try:
            access_token = _access_token(request, token)
            if access_token is None:
                raise TokenInvalid("The access token is unknown, expired or revoked.")
        except TokenInvalid as exc:
            raise api_token_refuse(action=self.action, error=exc) from None
        user = api_token_admit(access_token=access_token, action=self.action, scope=self.scope)
        request.user = user
        return api_account_admit(user=user, action=self.action, permission=self.permission)


# The row of every API request's token, compiled once per connection (the ORM's compilation of these four tables'
# hundred columns cost more CPU than the query); no ORDER BY on a unique column, as get() runs it.
_token_row: PreparedLookup[AccessToken] = PreparedLookup(
    lambda checksum: (
        AccessToken.objects.select_related("application__user", "application__registration", "user")
        .filter(token_checksum=checksum)
        .order_by()[:1]
    )
)


# Tokens this process admitted (ADR 0019): (the token's SHA-256, the audience it was checked for) -> (its row with
# application, registration and owner as read, when it was read). An entry serves for a second at most; the
# expiry is checked on every call. A change to a token, client or account through this process's models clears it
# all (signals, `token_cache_clear`); other processes see the change when their entry runs out. The bound is
# settings.API_TOKEN_CACHE_SECONDS (0: every call reads the row).
TOKEN_CACHE_SIZE = 10_000
_admitted: dict[tuple[str, str], tuple[AccessToken, float]] = {}
_admitted_lock = threading.Lock()


def token_cache_clear(**_: Any) -> None:
    """Forget every admitted token (a receiver of the model signals of tokens, clients and accounts)."""
    with _admitted_lock:
        _admitted.clear()


def _instance_copy(instance: Any) -> Any:
    """A shallow copy of a model instance, as copy.copy makes it (its attributes and its cache of related objects
    copied, the values shared), without the pickling protocol copy.copy goes through (Model.__reduce__)."""
    cls = instance.__class__
    kept = cls.__new__(cls)
    attributes = instance.__dict__.copy()
    state = attributes["_state"]
    copied_state = ModelState.__new__(ModelState)
    copied_state.__dict__.update(state.__dict__)
    copied_state.fields_cache = state.fields_cache.copy()
    attributes["_state"] = copied_state
    kept.__dict__.update(attributes)
    return kept


def _fresh_copy(access_token: AccessToken) -> AccessToken:
    """A copy of a kept row for one request: the request may set attributes on the account (its permission cache,
    `request.user`), never on the kept instances another thread reads."""
    kept = _instance_copy(access_token)
    related = kept._state.fields_cache
    application = related.get("application")
    if application is not None:
        application = related["application"] = _instance_copy(application)
        owner = application._state.fields_cache.get("user")
        if owner is not None:
            application._state.fields_cache["user"] = _instance_copy(owner)
    user = related.get("user")
    if user is not None:
        related["user"] = _instance_copy(user)
    return kept


def _access_token(request: HttpRequest, token: str) -> AccessToken | None:
    """The token's row with its application and owner in one query, once the JWT itself has passed (signature, key,
    expiry, issuer, audience: on every call); a token admitted by this process less than
    settings.API_TOKEN_CACHE_SECONDS ago is served from memory, its expiry checked again."""
    issuer = issuer_for(request)
    audience = api_audience_for(issuer)
    key = (hashlib.sha256(token.encode("utf-8")).hexdigest(), audience)
    seconds: float = settings.API_TOKEN_CACHE_SECONDS
    opaque = "." not in token
    if not opaque:  # every call, kept or not: a retired signing key stops its tokens at once (memoised, ~5 µs)
        access_token_verify(token, issuer=issuer, audience=audience)
    kept = _admitted.get(key)
    if kept is not None and time.monotonic() - kept[1] < seconds:
        return _fresh_copy(kept[0]) if kept[0].is_valid() else None
    read_at = time.monotonic()
    access_token = _token_row(key[0])
    if access_token is None:
        return None
    if not access_token.is_valid() or _application_disabled(access_token.application):
        return None
    if opaque and not access_token.allows_audience(audience):
        # An opaque token (issued before access tokens became JWTs, or written directly by a tool) is known only by
        # its row: its RFC 8707 resource stands in for the audience.
        raise TokenInvalid("The access token is invalid: issued for another audience.")
    if seconds > 0:
        with _admitted_lock:
            if len(_admitted) >= TOKEN_CACHE_SIZE:
                _admitted.clear()
            _admitted[key] = (access_token, read_at)
        return _fresh_copy(access_token)
    return access_token


def _application_disabled(application: Any) -> bool:
    """The OpenID Connect provider's registration of the client (rongcheng.oidc, named here by its relation: this
    tier cannot import it) may disable it; a token issued in the instant before is refused too."""
    try:
        registration = application.registration
    except ObjectDoesNotExist:
        return False
    return registration.disabled_at is not None


class SignedInSession(SessionAuth):
    """Django's session of a signed-in person (the pages call the same API); unsafe methods need the CSRF token."""

    def __init__(self, action: str, *, permission: str | None = None) -> None:
        super().__init__()
        self.permission = permission
        self.action = action

    def _get_key(self, request: HttpRequest) -> str | None:
        if self.param_name not in request.COOKIES:
            return None  # no session, nothing to forge: the caller hears 401, not a CSRF refusal
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request) is not None:
            raise CsrfFailed("The request lacked a valid CSRF token; reload the form and send it again.")
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = request.user
        if key is None or not isinstance(user, User) or not user.is_authenticated:
            return None
        return api_account_admit(user=user, action=self.action, permission=self.permission)


def api_auth(action: str, *, scope: str, permission: str | None = None) -> list[AuthBase]:
    """The `auth=` of an operation: a token carrying `scope`, else a session. `action` names the operation in the
    audit trail; a token without the scope is refused (403) and so, with `permission`, is an account without it,
    each refusal audited before the operation runs."""
    return [ClientToken(action, scope=scope, permission=permission), SignedInSession(action, permission=permission)]


class AccountScopes(SettingsScopes):  # type: ignore[misc]  # django-oauth-toolkit has no type hints
    """The scopes an application may ask for: those its kind of client may hold (SCOPES_BY_CLIENT_KIND) and whose
    permissions its owning account holds (settings.API_SCOPE_PERMISSIONS)."""

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        owner = getattr(application, "user", None)
        required: dict[str, tuple[str, ...]] = settings.API_SCOPE_PERMISSIONS
        allowed = (
            frozenset().union(*SCOPES_BY_CLIENT_KIND.values())
            if application is None
            else scopes_allowed_for(application.authorization_grant_type)
        )
        # The owner's permissions read once (as User.has_perm decides them), not once per scope and permission.
        superuser = owner is not None and owner.is_active and owner.is_superuser
        held = owner.get_all_permissions() if owner is not None and owner.is_active and not superuser else set()
        return [
            scope
            for scope in super().get_available_scopes(application, request, *args, **kwargs)
            if scope in allowed and (scope not in required or superuser or any(p in held for p in required[scope]))
        ]

    def get_default_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list[str]:
        available = set(self.get_available_scopes(application, request))
        return [s for s in super().get_default_scopes(application, request, *args, **kwargs) if s in available]
