"""Sign-in factors: the password, the TOTP authenticator (RFC 6238), and the lockout after repeated failures.

Failures are counted by single conditional UPDATE statements; refusals are audited outside any failing
transaction."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Value, When

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.identity import events, policy, totp
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    AccountLocked,
    CodeInvalid,
    SignInRefused,
    TotpAlreadyEnrolled,
    TotpNotEnrolled,
)
from rongcheng.identity.models import (
    SignInGuard,
    TotpDevice,
)
from rongcheng.identity.services.context import _audit, _field_error
from rongcheng.kernel.context import current_address
from rongcheng.kernel.crypto import data_keyring
from rongcheng.kernel.events import publish

TOTP_ISSUER = "榕城"


def _guard(user: User) -> SignInGuard:
    guard, _ = SignInGuard.objects.get_or_create(user=user)
    return guard


def _locked_until(user: User, now: dt.datetime) -> dt.datetime | None:
    """When the account's lock ends, or None; an expired lock is cleared so counting starts afresh."""
    guard = _guard(user)
    if guard.locked_until is not None and guard.locked_until > now:
        return guard.locked_until
    if guard.locked_until is not None:
        SignInGuard.objects.filter(pk=guard.pk, locked_until__lte=now).update(failures=0, locked_until=None)
    return None


def _count_failure(user: User, now: dt.datetime) -> SignInGuard:
    """Count one failed check of a credential in a single UPDATE (the lock is set in the same statement at the
    threshold); the guard as it is now."""
    threshold = policy.lockout_threshold()
    until = now + policy.lockout_duration()
    _guard(user)
    SignInGuard.objects.filter(user=user).update(
        failures=F("failures") + 1,
        last_failure_at=now,
        locked_until=Case(
            When(failures__gte=threshold - 1, then=Value(until, output_field=DateTimeField())),
            default=F("locked_until"),
        ),
    )
    return SignInGuard.objects.get(user=user)


def _refuse_sign_in(user: User, *, method: str, reason: str) -> None:
    """Count one failure, audit it, and raise: AccountLocked if this failure locked the account, else
    SignInRefused."""
    now = clock.now()
    guard = _count_failure(user, now)
    actor = actor_from_user(user)
    _audit("identity.sign_in", actor=actor, outcome="failure", target=user,
           detail={"method": method, "reason": reason, "failures": guard.failures})  # fmt: skip
    publish(events.SignInFailed(user_id=user.pk, source_address=current_address(), method=method, reason=reason))
    if guard.locked_until is not None and guard.locked_until > now:
        _audit("identity.lockout", actor=actor, outcome="denied", target=user,
               detail={"failures": guard.failures, "locked_until": guard.locked_until.isoformat()})  # fmt: skip
        publish(events.AccountLocked(user_id=user.pk, source_address=current_address(), failures=guard.failures))
        raise AccountLocked("Too many failed sign-ins: the account is locked.", locked_until=guard.locked_until)
    raise SignInRefused("The username, password or code is wrong.")


def _refuse_locked(user: User, until: dt.datetime, *, method: str) -> None:
    _audit("identity.sign_in", actor=actor_from_user(user), outcome="denied", target=user,
           detail={"method": method, "reason": "locked"})  # fmt: skip
    raise AccountLocked("Too many failed sign-ins: the account is locked.", locked_until=until)


def sign_in_guard_release(*, user: User, actor: Actor) -> None:
    """A security administrator lifts a lock before it runs out."""
    with transaction.atomic():
        SignInGuard.objects.filter(user=user).update(failures=0, locked_until=None)
        _audit("identity.lockout.release", actor=actor, target=user)


def password_sign_in(*, username: str, password: str) -> User:
    """Check the first factor. The failure counter is reset only when the whole sign-in completes (session_open),
    so guessing the second factor after a right password still counts towards the lock."""
    user = (
        User.objects.filter(username=username[:150], is_active=True).exclude(kind=AccountKind.API_CLIENT).first()
        if username
        else None
    )
    if user is None:
        make_password(password)  # the same work as for a real account: the timing does not tell
        _audit("identity.sign_in", actor=Actor.anonymous(), outcome="failure",
               detail={"method": "password", "reason": "unknown_account", "username": username[:150]})  # fmt: skip
        publish(events.SignInFailed(user_id=None, source_address=current_address(), method="password",
                             reason="unknown_account"))  # fmt: skip
        raise SignInRefused("The username, password or code is wrong.")
    until = _locked_until(user, clock.now())
    if until is not None:
        user.check_password(password)  # same work; the answer is not used, so the refusal cannot tell it
        _refuse_locked(user, until, method="password")
    if not user.has_usable_password() or not user.check_password(password):
        _refuse_sign_in(user, method="password", reason="wrong_password")
    return user


def second_factor_for(user: User) -> str | None:
    """'totp' when the account has an authenticator, 'totp_enrol' for staff without one (they must enrol before
    their first sign-in completes), None when the password is enough (residents who chose no second factor)."""
    if TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        return "totp"
    if user.kind == AccountKind.STAFF:
        return "totp_enrol"
    return None


def _totp_associated_data(user_id: int) -> bytes:
    return f"identity.totp:{user_id}".encode()


def totp_secret(device: TotpDevice) -> bytes:
    text = data_keyring().decrypt_text(device.secret_cipher, associated_data=_totp_associated_data(device.user_id))
    return totp.secret_from_base32(text)


def _totp_cipher(user: User, secret: bytes) -> str:
    return data_keyring().encrypt_text(totp.secret_base32(secret), associated_data=_totp_associated_data(user.pk))


def totp_uri(user: User, secret: bytes) -> str:
    return totp.otpauth_uri(secret, account=user.get_username(), issuer=TOTP_ISSUER)


def totp_enrol_start(*, user: User) -> tuple[TotpDevice, bytes]:
    """A new, unconfirmed authenticator, or the pending one (a reloaded page shows the same QR code). The secret of
    a confirmed authenticator is never shown again."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is not None and device.confirmed_at is not None:
            raise TotpAlreadyEnrolled("This account already has an authenticator.")
        if device is not None:
            return device, totp_secret(device)
        secret = totp.secret_generate()
        device = TotpDevice.objects.create(user=user, secret_cipher=_totp_cipher(user, secret), created_at=clock.now())
    return device, secret


def totp_enrol_confirm(*, user: User, code: str) -> TotpDevice:
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        raise TotpNotEnrolled("Start the enrolment first.")
    now = clock.now()
    step = totp.totp_match(totp_secret(device), code.strip(), now)
    if step is None:
        _audit("identity.totp.enrol", actor=actor_from_user(user), outcome="failure", target=user)
        raise CodeInvalid("The code does not match.", errors=[_field_error("code", "code.wrong", "wrong code")])
    with transaction.atomic():
        TotpDevice.objects.filter(pk=device.pk).update(confirmed_at=now, last_time_step=step)
        _audit("identity.totp.enrol", actor=actor_from_user(user), target=user)
    device.refresh_from_db()
    return device


def totp_provision(*, user: User, actor: Actor, secret: bytes | None = None) -> bytes:
    """An authenticator set up for the account by the platform (demo accounts, tests); confirmed at once."""
    secret = secret or totp.secret_generate()
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        TotpDevice.objects.create(user=user, secret_cipher=_totp_cipher(user, secret), created_at=clock.now(),
                                  confirmed_at=clock.now())  # fmt: skip
        audit_record(action="identity.totp.enrol", actor=actor, target_type="accounts.user", target_id=user.pk,
                     detail={"provisioned": True})  # fmt: skip
    return secret


def totp_sign_in(*, user: User, code: str) -> None:
    """The second factor. A code is accepted once: the device's last accepted time step only moves forward, in one
    conditional UPDATE, so a replayed code (or the same code raced twice) is refused."""
    now = clock.now()
    until = _locked_until(user, now)
    if until is not None:
        _refuse_locked(user, until, method="totp")
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        raise TotpNotEnrolled("This account has no authenticator.")
    step = totp.totp_match(totp_secret(device), code.strip(), now)
    if step is None:
        _refuse_sign_in(user, method="totp", reason="wrong_code")
    elif not TotpDevice.objects.filter(pk=device.pk, last_time_step__lt=step).update(last_time_step=step):
        _refuse_sign_in(user, method="totp", reason="replayed_code")
