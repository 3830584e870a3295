"""Password rules, changes and the forced change of initial or expired passwords."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.services import actor_from_user
from rongcheng.identity import policy
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    PasswordRejected,
)
from rongcheng.identity.passwords import password_problems
from rongcheng.identity.services.context import _audit, _field_error
from rongcheng.identity.services.sign_in import _count_failure, _locked_until


def password_rules_check(password: str, user: User | None = None, *, field: str = "new_password") -> None:
    errors = [_field_error(field, rule, message) for rule, message in password_problems(password)]
    try:
        validate_password(password, user)
    except ValidationError as exc:
        known = {message for _rule, message in password_problems(password)}
        errors += [_field_error(field, "password.validator", m) for m in exc.messages if m not in known]
    if errors:
        raise PasswordRejected("The password breaks the password rules.", errors=errors)


def password_change(*, user: User, current_password: str, new_password: str) -> User:
    """A wrong current password counts towards the sign-in lockout, as a wrong sign-in does (a session left open
    must not become a way to guess the password); while the account is locked every current password is wrong."""
    now = clock.now()
    locked = _locked_until(user, now) is not None
    right = user.check_password(current_password)  # checked even when locked: the timing does not tell
    if locked or not right:
        actor = actor_from_user(user)
        detail: dict[str, object] = {"reason": "locked" if locked else "wrong_current_password"}
        if not locked:
            guard = _count_failure(user, now)
            detail["failures"] = guard.failures
        _audit("identity.password.change", actor=actor, outcome="failure", target=user,
               detail=detail)  # fmt: skip
        if not locked and guard.locked_until is not None and guard.locked_until > now:
            _audit("identity.lockout", actor=actor, outcome="denied", target=user,
                   detail={"failures": guard.failures, "locked_until": guard.locked_until.isoformat()})  # fmt: skip
        raise PasswordRejected(
            "The current password is wrong.",
            errors=[_field_error("current_password", "password.current", "wrong current password")],
        )
    if new_password == current_password:
        raise PasswordRejected(
            "The new password must differ from the current one.",
            errors=[_field_error("new_password", "password.unchanged", "same as the current password")],
        )
    password_rules_check(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.password_changed_at = clock.now()
        user.save(update_fields=["password", "must_change_password", "password_changed_at"])
        _audit("identity.password.change", actor=actor_from_user(user), target=user)
    return user


def password_change_reason(user: User) -> str | None:
    """'initial' for a password that must be changed at first use, 'expired' for a staff password older than the
    maximum age, else None. An account whose change date is unknown is not treated as expired."""
    if user.must_change_password:
        return "initial"
    changed = user.password_changed_at
    if (
        user.kind == AccountKind.STAFF
        and changed is not None
        and clock.now() - changed > policy.staff_password_max_age()
    ):
        return "expired"
    return None
