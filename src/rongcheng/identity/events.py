"""What identity tells the apps above it (kernel.events): failed sign-ins and locked accounts, by account id and
address only, never a username, a name or a password."""

from __future__ import annotations

from dataclasses import dataclass

from rongcheng.kernel.events import Event


@dataclass(frozen=True, kw_only=True)
class SignInFailed(Event):
    user_id: int | None  # None: no such account (the name tried is not passed on)
    source_address: str | None
    method: str  # password, totp, sms
    reason: str  # wrong_password, unknown_account, wrong_code …


@dataclass(frozen=True, kw_only=True)
class AccountLocked(Event):
    user_id: int
    source_address: str | None
    failures: int
