"""Admitting an API caller: the checks API authentication makes once it knows who is calling, each refusal audited
here, once (outside any transaction: ninja runs authentication before the operation, so nothing rolls it back).

`accounts.api_auth` (the adapter) reads the request: the bearer token or the session, and the issuer. What the
caller may do with the token, and the audit record of a refusal, are decided here; the address and request id of
the record come from the request context (`kernel.context`).
"""

from __future__ import annotations

from typing import Any

from rongcheng.accounts.errors import OperationDenied, TokenInvalid, TokenScopeInsufficient
from rongcheng.accounts.models import AccountKind, User
from rongcheng.accounts.permissions import scopes_allowed_for
from rongcheng.accounts.selectors import with_cached_permissions
from rongcheng.audit.services import Actor, actor_from_user, refusal_record


def _refused(*, action: str, actor: Actor, detail: dict[str, str]) -> None:
    refusal_record(action=action, actor=actor, target_type=action.rpartition(".")[0], detail=detail)


def api_token_refuse(*, action: str, error: TokenInvalid) -> TokenInvalid:
    """An unknown, expired, revoked or malformed token: recorded as an anonymous refusal; returns the error to
    raise."""
    _refused(action=action, actor=Actor.anonymous(), detail={"error": "invalid_token", "reason": error.detail})
    return error


def api_token_admit(*, access_token: Any, action: str, scope: str) -> User:
    """The account a valid access token acts for: the token's user or, for client credentials, the account owning
    the application; the token must carry `scope`, a scope its kind of client may hold. Each refusal of a known
    caller is audited. The operation's permission is `api_account_admit`'s to check, as for a session."""
    user: User | None = access_token.user if access_token.user_id else getattr(access_token.application, "user", None)
    if user is None or not user.is_active:
        raise TokenInvalid("The access token belongs to no active account.")
    if not access_token.user_id and user.kind != AccountKind.API_CLIENT:
        raise TokenInvalid("Client-credentials tokens act for API client accounts only.")
    if scope not in access_token.scope.split():
        _refused(action=action, actor=actor_from_user(user), detail={"scope": scope})
        raise TokenScopeInsufficient(scope)
    kind = "authorization-code" if access_token.user_id else "client-credentials"
    if scope not in scopes_allowed_for(kind) or (
        kind == "client-credentials" and access_token.application.authorization_grant_type != kind
    ):
        # A token row (or a client's account) edited behind the services' back: not a scope this kind holds.
        _refused(action=action, actor=actor_from_user(user), detail={"scope": scope, "client_kind": kind})
        raise TokenScopeInsufficient(scope)
    return user


def api_account_admit(*, user: User, action: str, permission: str | None) -> User:
    """A signed-in account (by token or session) calling an operation that needs `permission`: refused and audited
    without it."""
    with_cached_permissions(user)
    if permission and not user.has_perm(permission):
        _refused(action=action, actor=actor_from_user(user), detail={"permission": permission})
        raise OperationDenied(f"This account lacks the permission {permission}.")
    return user
