"""Who may manage clients: holders of `oidc.manage_client` (a security administrator's role grants it)."""

from __future__ import annotations

from rongcheng.kernel.context import Account

MANAGE_CLIENT = "oidc.manage_client"


def may_manage_clients(user: Account) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.has_perm(MANAGE_CLIENT))
