"""Access tokens as JWTs (RFC 9068), signed with the provider's key ring; the ring itself.

The token endpoint calls `access_token_generate` (settings OAUTH2_PROVIDER["ACCESS_TOKEN_GENERATOR"]) for every
grant; django-oauth-toolkit then stores only the token's SHA-256 (hashed at rest), which is what revocation and
introspection look up. Protected APIs verify the signature, expiry and audience locally (accounts.api_auth).

Access tokens are signed ES256 (P-256) unless the client's registration asks for RS256
(`ClientRegistration.access_token_algorithm`): an ECDSA signature costs a tenth of an RSA one, which was a quarter of
a client-credentials grant's CPU (ADR 0008, amended 2026-12-06). ID tokens stay RS256 (OpenID Connect's default).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from oauth2_provider.settings import oauth2_settings

from rongcheng.accounts.api_auth import ACCESS_TOKEN_TYPE, api_audience_for
from rongcheng.accounts.models import User
from rongcheng.kernel.keyring import ES256, KeyRing, key_ring
from rongcheng.oidc.subjects import subject_for

ACR_PREFIX = "urn:rongcheng:loa:"
DEFAULT_ACCESS_TOKEN_ALGORITHM = ES256  # a client without a registration row (api_client_create) gets ES256


def signing_keys() -> KeyRing:
    """The provider's key ring (settings.OIDC_KEYS_DIR), one per process."""
    return key_ring(settings.OIDC_KEYS_DIR)


def acr_of(user: User) -> str:
    return f"{ACR_PREFIX}{int(user.assurance_level)}"


_issuers: dict[tuple[str, str, bool], str] = {}


def issuer_of(oauthlib_request: Any) -> str:
    """The toolkit's issuer for this request, remembered per host (it builds a request and reverses a URL: a few
    milliseconds, paid once). Hosts are those ALLOWED_HOSTS let through, so the memo stays small."""
    headers = oauthlib_request.headers
    key = (
        str(headers.get("HTTP_HOST", "")),
        f"{headers.get('SERVER_NAME', '')}:{headers.get('SERVER_PORT', '')}",
        bool(headers.get("X_DJANGO_OAUTH_TOOLKIT_SECURE", False)),
    )
    issuer = _issuers.get(key)
    if issuer is None:
        issuer = str(oauth2_settings.oidc_issuer(oauthlib_request))
        if len(_issuers) < 64:
            _issuers[key] = issuer
    return issuer


def access_token_algorithm_for(client: Any) -> str:
    """The algorithm of the client's access tokens: its registration's choice (loaded with the client, no query)."""
    try:
        registration = client.registration
    except (ObjectDoesNotExist, AttributeError):
        return DEFAULT_ACCESS_TOKEN_ALGORITHM
    return str(registration.access_token_algorithm or DEFAULT_ACCESS_TOKEN_ALGORITHM)


def _audience(request: Any, issuer: str) -> str | list[str]:
    resource = getattr(request, "resource", None)
    if isinstance(resource, str) and resource.strip():
        return resource
    if isinstance(resource, list) and resource:
        return resource[0] if len(resource) == 1 else list(resource)
    return api_audience_for(issuer)


def access_token_generate(request: Any) -> str:
    """The RFC 9068 access token of an oauthlib token request."""
    issuer = issuer_of(request)
    now = int(time.time())
    client = request.client
    user = getattr(request, "user", None)
    claims: dict[str, Any] = {
        "iss": issuer,
        "exp": now + int(getattr(request, "expires_in", None) or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
        "aud": _audience(request, issuer),
        "sub": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(request.scopes or []),
    }
    if user is not None and request.grant_type != "client_credentials":
        claims["sub"] = subject_for(user, client)
        claims["acr"] = acr_of(user)
    return signing_keys().sign(claims, typ=ACCESS_TOKEN_TYPE, algorithm=access_token_algorithm_for(client))
