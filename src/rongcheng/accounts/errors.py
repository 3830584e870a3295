"""Refusals of the API's authentication (RFC 6750): mapped to problem documents, with their challenge, by config."""

from __future__ import annotations

from rongcheng.kernel.errors import NotAuthenticated, PermissionDenied

REALM = "rongcheng"


class TokenInvalid(NotAuthenticated):
    """RFC 6750 invalid_token: unknown, expired or revoked, or its application is gone."""

    type_slug = "invalid-token"
    title = "Invalid access token"
    challenge = f'Bearer realm="{REALM}", error="invalid_token"'


class TokenScopeInsufficient(PermissionDenied):
    """RFC 6750 insufficient_scope: a valid token that was not issued for this kind of call."""

    type_slug = "insufficient-scope"
    title = "Insufficient scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"The access token was not issued with the scope {scope}.", required_scope=scope)
        self.challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'


class OperationDenied(PermissionDenied):
    pass


class CsrfFailed(PermissionDenied):
    """A session's unsafe call without a valid CSRF token (ninja's own refusal would be an untyped http-403)."""

    type_slug = "csrf-failed"
    title = "CSRF check failed"
