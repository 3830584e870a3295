"""Write use-cases of the identity platform: sign-in (password, TOTP, SMS code), lockout, sessions, passwords,
registration, real-name step-up, counter verification and company representations.

Every authentication event is an audit record with the source address. Refusals are recorded outside any atomic block
that fails, so the trace survives the refusal. Counters (failed sign-ins, code attempts, the TOTP replay guard)
change only through single conditional UPDATE statements.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.http import HttpRequest

from rongcheng.accounts.models import AccountKind, AssuranceLevel, User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.identity import policy, totp
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    AccountLocked,
    AccountNotFound,
    CodeInvalid,
    CodeRateLimited,
    PasswordRejected,
    PersonAlreadyBound,
    RealNameMismatch,
    RegistrationInvalid,
    RepresentationNotFound,
    RepresentationRefused,
    SessionNotFound,
    SignInRefused,
    TotpAlreadyEnrolled,
    TotpNotEnrolled,
    UsernameTaken,
    VerificationRefused,
)
from rongcheng.identity.models import (
    AccountSession,
    CodePurpose,
    InPersonVerification,
    OneTimeCode,
    Representation,
    RepresentationBasis,
    ResidentProfile,
    SessionEnd,
    SignInGuard,
    TotpDevice,
)
from rongcheng.identity.passwords import password_problems
from rongcheng.identity.sms import sender
from rongcheng.kernel.crypto import constant_time_equal, data_keyring, hmac_sm3
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import id_number_validate
from rongcheng.kernel.masking import mask_id_number, mask_phone
from rongcheng.registries.models import EntityStatus, LegalEntity, Person, PersonStatus
from rongcheng.registries.protection import index_of
from rongcheng.registries.services import person_index_for

# Keys of the identity platform's values in Django's session.
SESSION_RECORD = "identity.session"
SESSION_SEEN = "identity.seen"
SESSION_RECORDED = "identity.recorded"
PENDING = "identity.pending"
TOTP_ISSUER = "榕城"
MOBILE = re.compile(r"1[3-9]\d{9}")
CODE_DIGITS = 6
# How often the session record's "last seen" is written: the idle timeout itself is checked on every request.
LAST_SEEN_RESOLUTION = dt.timedelta(seconds=60)
STEP_UP_MISMATCHES_PER_HOUR = 5


@dataclass(frozen=True)
class Context:
    """Where a request came from, for the audit trail and the session list."""

    source_address: str | None = None
    user_agent: str = ""


def context_from(request: HttpRequest) -> Context:
    return Context(request.META.get("REMOTE_ADDR") or None, str(request.META.get("HTTP_USER_AGENT", ""))[:300])


def _audit(
    action: str,
    *,
    actor: Actor,
    context: Context,
    outcome: Any = "success",
    target: User | None = None,
    detail: dict[str, Any] | None = None,
    target_type: str = "accounts.user",
    target_id: str | int = "",
) -> None:
    audit_record(
        action=action, actor=actor, outcome=outcome, target_type=target_type,
        target_id=target_id or (target.pk if target is not None else ""), source_address=context.source_address,
        detail=detail or {},
    )  # fmt: skip


def _field_error(field: str, rule: str, message: str) -> dict[str, Any]:
    return {"loc": [field], "rule": rule, "msg": message}


# --- lockout ---------------------------------------------------------------------------------------------------------


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


def _refuse_sign_in(user: User, *, method: str, reason: str, context: Context) -> None:
    """Count one failure in a single UPDATE (the lock is set in the same statement at the threshold), audit it, and
    raise: AccountLocked if this failure locked the account, else SignInRefused."""
    now = clock.now()
    threshold = policy.lockout_threshold()
    until = now + policy.lockout_duration()
    SignInGuard.objects.filter(user=user).update(
        failures=F("failures") + 1,
        last_failure_at=now,
        locked_until=Case(
            When(failures__gte=threshold - 1, then=Value(until, output_field=DateTimeField())),
            default=F("locked_until"),
        ),
    )
    guard = SignInGuard.objects.get(user=user)
    actor = actor_from_user(user)
    _audit("identity.sign_in", actor=actor, context=context, outcome="failure", target=user,
           detail={"method": method, "reason": reason, "failures": guard.failures})  # fmt: skip
    if guard.locked_until is not None and guard.locked_until > now:
        _audit("identity.lockout", actor=actor, context=context, outcome="denied", target=user,
               detail={"failures": guard.failures, "locked_until": guard.locked_until.isoformat()})  # fmt: skip
        raise AccountLocked("Too many failed sign-ins: the account is locked.", locked_until=guard.locked_until)
    raise SignInRefused("The username, password or code is wrong.")


def _refuse_locked(user: User, until: dt.datetime, *, method: str, context: Context) -> None:
    _audit("identity.sign_in", actor=actor_from_user(user), context=context, outcome="denied", target=user,
           detail={"method": method, "reason": "locked"})  # fmt: skip
    raise AccountLocked("Too many failed sign-ins: the account is locked.", locked_until=until)


def sign_in_guard_release(*, user: User, actor: Actor, context: Context) -> None:
    """A security administrator lifts a lock before it runs out."""
    with transaction.atomic():
        SignInGuard.objects.filter(user=user).update(failures=0, locked_until=None)
        _audit("identity.lockout.release", actor=actor, context=context, target=user)


# --- first factor ----------------------------------------------------------------------------------------------------


def password_sign_in(*, username: str, password: str, context: Context) -> User:
    """Check the first factor. The failure counter is reset only when the whole sign-in completes (session_open),
    so guessing the second factor after a right password still counts towards the lock."""
    user = (
        User.objects.filter(username=username[:150], is_active=True).exclude(kind=AccountKind.API_CLIENT).first()
        if username
        else None
    )
    if user is None:
        make_password(password)  # the same work as for a real account: the timing does not tell
        _audit("identity.sign_in", actor=Actor.anonymous(), context=context, outcome="failure",
               detail={"method": "password", "reason": "unknown_account", "username": username[:150]})  # fmt: skip
        raise SignInRefused("The username, password or code is wrong.")
    until = _locked_until(user, clock.now())
    if until is not None:
        user.check_password(password)  # same work; the answer is not used, so the refusal cannot tell it
        _refuse_locked(user, until, method="password", context=context)
    if not user.has_usable_password() or not user.check_password(password):
        _refuse_sign_in(user, method="password", reason="wrong_password", context=context)
    return user


def second_factor_for(user: User) -> str | None:
    """'totp' when the account has an authenticator, 'totp_enrol' for staff without one (they must enrol before
    their first sign-in completes), None when the password is enough (residents who chose no second factor)."""
    if TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        return "totp"
    if user.kind == AccountKind.STAFF:
        return "totp_enrol"
    return None


# --- TOTP ------------------------------------------------------------------------------------------------------------


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


def totp_enrol_confirm(*, user: User, code: str, context: Context) -> TotpDevice:
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        raise TotpNotEnrolled("Start the enrolment first.")
    now = clock.now()
    step = totp.totp_match(totp_secret(device), code.strip(), now)
    if step is None:
        _audit("identity.totp.enrol", actor=actor_from_user(user), context=context, outcome="failure", target=user)
        raise CodeInvalid("The code does not match.", errors=[_field_error("code", "code.wrong", "wrong code")])
    with transaction.atomic():
        TotpDevice.objects.filter(pk=device.pk).update(confirmed_at=now, last_time_step=step)
        _audit("identity.totp.enrol", actor=actor_from_user(user), context=context, target=user)
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


def totp_sign_in(*, user: User, code: str, context: Context) -> None:
    """The second factor. A code is accepted once: the device's last accepted time step only moves forward, in one
    conditional UPDATE, so a replayed code (or the same code raced twice) is refused."""
    now = clock.now()
    until = _locked_until(user, now)
    if until is not None:
        _refuse_locked(user, until, method="totp", context=context)
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        raise TotpNotEnrolled("This account has no authenticator.")
    step = totp.totp_match(totp_secret(device), code.strip(), now)
    if step is None:
        _refuse_sign_in(user, method="totp", reason="wrong_code", context=context)
    elif not TotpDevice.objects.filter(pk=device.pk, last_time_step__lt=step).update(last_time_step=step):
        _refuse_sign_in(user, method="totp", reason="replayed_code", context=context)


# --- sessions --------------------------------------------------------------------------------------------------------


def session_open(request: HttpRequest, *, user: User, method: str) -> AccountSession:
    """Complete a sign-in: Django's login (a new session key), the session record, the failure counter reset."""
    context = context_from(request)
    login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])  # identity checked the factors itself
    now = clock.now()
    with transaction.atomic():
        record = AccountSession.objects.create(
            user=user, session_key=request.session.session_key or "", method=method, created_at=now,
            last_seen_at=now, source_address=context.source_address, user_agent=context.user_agent,
        )  # fmt: skip
        SignInGuard.objects.filter(user=user).update(failures=0, locked_until=None)
        _audit("identity.sign_in", actor=actor_from_user(user), context=context, target=user,
               detail={"method": method, "session": record.pk})  # fmt: skip
    request.session[SESSION_RECORD] = record.pk
    request.session[SESSION_SEEN] = now.timestamp()
    request.session[SESSION_RECORDED] = now.timestamp()
    return record


def _session_store_delete(session_key: str) -> None:
    if session_key:
        import_module(settings.SESSION_ENGINE).SessionStore().delete(session_key)


def sign_out(request: HttpRequest, *, reason: str = SessionEnd.SIGNED_OUT) -> None:
    """End the current session (the person signed out, or it sat idle too long) and record why."""
    user = request.user
    context = context_from(request)
    record_id = request.session.get(SESSION_RECORD)
    now = clock.now()
    if isinstance(user, User):
        with transaction.atomic():
            if record_id:
                AccountSession.objects.filter(pk=record_id, user=user, ended_at__isnull=True).update(
                    ended_at=now, end_reason=reason
                )
            action = "identity.sign_out" if reason == SessionEnd.SIGNED_OUT else "identity.session.end"
            _audit(action, actor=actor_from_user(user), context=context, target=user,
                   detail={"session": record_id or "", "reason": str(reason)})  # fmt: skip
    logout(request)


def session_end(*, user: User, session_id: int, context: Context) -> AccountSession:
    """The account holder ends one of their sessions: Django's session is deleted, so that browser is signed out."""
    with transaction.atomic():
        record = (
            AccountSession.objects.select_for_update().filter(pk=session_id, user=user, ended_at__isnull=True).first()
        )
        if record is None:
            raise SessionNotFound("No such active session of this account.")
        _session_store_delete(record.session_key)
        record.ended_at = clock.now()
        record.end_reason = SessionEnd.ENDED_BY_USER
        record.save(update_fields=["ended_at", "end_reason"])
        _audit("identity.session.end", actor=actor_from_user(user), context=context, target=user,
               detail={"session": record.pk, "reason": SessionEnd.ENDED_BY_USER})  # fmt: skip
    return record


def session_touch(request: HttpRequest) -> bool:
    """Called by the middleware on each request of a signed-in account. False when the session has been idle longer
    than the timeout (it is then ended and signed out); otherwise notes the activity."""
    now = clock.now()
    seen = request.session.get(SESSION_SEEN)
    if isinstance(seen, (int, float)) and now.timestamp() - seen > policy.idle_timeout().total_seconds():
        sign_out(request, reason=SessionEnd.IDLE)
        return False
    request.session[SESSION_SEEN] = now.timestamp()
    record_id = request.session.get(SESSION_RECORD)
    recorded = request.session.get(SESSION_RECORDED, 0)
    if record_id and now.timestamp() - float(recorded) >= LAST_SEEN_RESOLUTION.total_seconds():
        AccountSession.objects.filter(pk=record_id, ended_at__isnull=True).update(
            last_seen_at=now, session_key=request.session.session_key or F("session_key")
        )
        request.session[SESSION_RECORDED] = now.timestamp()
    return True


def session_rekey(request: HttpRequest) -> None:
    """After Django cycled the session key (password change), point the record at the new key."""
    record_id = request.session.get(SESSION_RECORD)
    if record_id and request.session.session_key:
        AccountSession.objects.filter(pk=record_id).update(session_key=request.session.session_key)


# --- passwords -------------------------------------------------------------------------------------------------------


def password_rules_check(password: str, user: User | None = None, *, field: str = "new_password") -> None:
    errors = [_field_error(field, rule, message) for rule, message in password_problems(password)]
    try:
        validate_password(password, user)
    except ValidationError as exc:
        known = {message for _rule, message in password_problems(password)}
        errors += [_field_error(field, "password.validator", m) for m in exc.messages if m not in known]
    if errors:
        raise PasswordRejected("The password breaks the password rules.", errors=errors)


def password_change(*, user: User, current_password: str, new_password: str, context: Context) -> User:
    if not user.check_password(current_password):
        _audit("identity.password.change", actor=actor_from_user(user), context=context, outcome="failure",
               target=user, detail={"reason": "wrong_current_password"})  # fmt: skip
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
        _audit("identity.password.change", actor=actor_from_user(user), context=context, target=user)
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


# --- one-time codes --------------------------------------------------------------------------------------------------


def phone_validate(phone: str, *, field: str = "phone") -> str:
    value = phone.strip().replace(" ", "").replace("-", "")
    if not MOBILE.fullmatch(value):
        raise ValidationFailed(
            "The phone number is not a mainland mobile number.",
            errors=[_field_error(field, "phone.format", "11 digits starting with 13-19")],
        )
    return value


def phone_index(phone: str) -> str:
    """The same keyed blind index the population registry keeps for a person's phone."""
    return index_of("person.phone", phone)


def _code_digest(code_id: int, code: str) -> str:
    key = hmac_sm3(settings.SECRET_KEY.encode(), b"rongcheng.identity.one-time-code")
    return hmac_sm3(key, f"{code_id}:{code}".encode()).hex()


def _code_send(
    *, purpose: str, phone: str, context: Context, actor: Actor, user: User | None, id_number_index: str = ""
) -> OneTimeCode | None:
    """Issue and send a code, within the rate limits of the phone number. Returns None (and sends nothing) for a
    sign-in code to a number no account has verified, so the answer does not tell which numbers have accounts."""
    now = clock.now()
    index = phone_index(phone)
    recent = OneTimeCode.objects.filter(phone_index=index, created_at__gt=now - dt.timedelta(hours=1))
    latest = recent.order_by("-created_at").values_list("created_at", flat=True).first()
    if latest is not None and now - latest < policy.code_send_interval():
        wait = int((policy.code_send_interval() - (now - latest)).total_seconds()) + 1
        raise CodeRateLimited("A code was sent to this number moments ago.", retry_after=wait)
    if recent.count() >= policy.code_sends_per_hour():
        raise CodeRateLimited("Too many codes were sent to this number in the last hour.", retry_after=3600)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with transaction.atomic():
        row = OneTimeCode.objects.create(
            purpose=purpose, user=user, phone_index=index, phone_masked=mask_phone(phone),
            id_number_index=id_number_index, digest="", created_at=now, expires_at=now + policy.code_lifetime(),
        )  # fmt: skip
        OneTimeCode.objects.filter(pk=row.pk).update(digest=_code_digest(row.pk, code))
        _audit("identity.code.send", actor=actor, context=context, target=user, target_type="accounts.user",
               detail={"purpose": purpose, "phone": mask_phone(phone), "delivered": user is not None})  # fmt: skip
    if user is None:
        return None
    minutes = int(policy.code_lifetime().total_seconds() // 60)
    sender().send(phone=phone, text=f"【榕城】验证码 {code}，{minutes} 分钟内有效。请勿告诉他人。")
    return row


def _code_consume(*, purpose: str, index: str, code: str, user: User | None, context: Context) -> OneTimeCode:
    now = clock.now()
    filters = Q(purpose=purpose, phone_index=index) if user is None else Q(purpose=purpose, user=user)
    row = OneTimeCode.objects.filter(filters).order_by("-created_at", "-pk").first()
    actor = actor_from_user(user) if user is not None else Actor.anonymous()
    reason = None
    if row is None or row.user_id is None:
        reason = "no_code"
    elif row.used_at is not None:
        reason = "used"
    elif row.expires_at <= now:
        reason = "expired"
    elif row.attempts >= policy.code_max_attempts():
        reason = "attempts_exhausted"
    elif not constant_time_equal(row.digest.encode(), _code_digest(row.pk, code.strip()).encode()):
        OneTimeCode.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
        reason = "wrong"
    elif not OneTimeCode.objects.filter(
        pk=row.pk, used_at__isnull=True, expires_at__gt=now, attempts__lt=policy.code_max_attempts()
    ).update(used_at=now):
        reason = "used"
    if reason is not None or row is None:
        _audit("identity.code.verify", actor=actor, context=context, outcome="failure",
               target_id=row.user_id if row is not None and row.user_id else "",
               detail={"purpose": purpose, "reason": reason or "no_code"})  # fmt: skip
        raise CodeInvalid(
            "The code is wrong, used or expired.", errors=[_field_error("code", f"code.{reason}", str(reason))]
        )
    return row


def sign_in_code_send(*, phone: str, context: Context) -> None:
    """Send a sign-in code to a resident's verified phone (silently nothing for an unknown number)."""
    number = phone_validate(phone)
    profile = (
        ResidentProfile.objects.select_related("user")
        .filter(phone_index=phone_index(number), phone_verified_at__isnull=False, user__is_active=True)
        .first()
    )
    user = profile.user if profile is not None and isinstance(profile.user, User) else None
    _code_send(purpose=CodePurpose.SIGN_IN, phone=number, context=context, user=user,
               actor=actor_from_user(user) if user is not None else Actor.anonymous())  # fmt: skip


def sms_sign_in(*, phone: str, code: str, context: Context) -> User:
    """The first factor by SMS code: single use, short-lived, a few attempts; a locked account stays locked."""
    number = phone_validate(phone)
    row = _code_consume(purpose=CodePurpose.SIGN_IN, index=phone_index(number), code=code, user=None, context=context)
    user = User.objects.get(pk=row.user_id or 0)  # _code_consume refuses codes without an account
    until = _locked_until(user, clock.now())
    if until is not None:
        _refuse_locked(user, until, method="sms", context=context)
    return user


# --- registration and real-name assurance ----------------------------------------------------------------------------


def _name_validate(name: str, field: str = "name") -> str:
    value = name.strip()
    if not 2 <= len(value) <= 50 or any(c.isdigit() or c in "<>&\"'" for c in value):
        raise ValidationFailed("The name is not valid.", errors=[_field_error(field, "name.format", "2-50 letters")])
    return value


def resident_register(*, username: str, password: str, name: str, id_number: str, phone: str, context: Context) -> User:
    """A resident account at L1: the name, ID number and phone are only format-checked (self-declared)."""
    errors: list[dict[str, Any]] = []
    checks: list[tuple[str, Any]] = [
        ("name", lambda: _name_validate(name)),
        ("id_number", lambda: id_number_validate(id_number.strip().upper()).value),
        ("phone", lambda: phone_validate(phone)),
        ("password", lambda: password_rules_check(password, None, field="password")),
    ]
    values: dict[str, Any] = {}
    try:
        UnicodeUsernameValidator()(username)
        if not 3 <= len(username) <= 150:
            raise ValidationError("length")
    except ValidationError:
        errors.append(_field_error("username", "username.format", "3-150 letters, digits and @.+-_"))
    for field, check in checks:
        try:
            values[field] = check()
        except ValidationFailed as exc:
            errors += exc.errors
    if errors:
        raise RegistrationInvalid("The registration is not valid.", errors=errors)
    number = values["id_number"]
    try:
        with transaction.atomic():
            user = User(username=username, kind=AccountKind.RESIDENT, display_name=values["name"],
                        assurance_level=AssuranceLevel.L1, password_changed_at=clock.now())  # fmt: skip
            user.set_password(password)
            user.save()
            ResidentProfile.objects.create(
                user=user, name=values["name"], id_number_index=person_index_for(number),
                id_number_masked=mask_id_number(number), phone_index=phone_index(values["phone"]),
                phone_masked=mask_phone(values["phone"]),
            )  # fmt: skip
            _audit("identity.register", actor=actor_from_user(user), context=context, target=user,
                   detail={"level": 1})  # fmt: skip
    except IntegrityError as exc:
        if User.objects.filter(username=username).exists():
            raise UsernameTaken(
                "This username is taken.", errors=[_field_error("username", "username.taken", "taken")]
            ) from exc
        raise
    return user


def _bound_elsewhere(user: User, index: str) -> bool:
    return User.objects.filter(id_number_index=index).exclude(pk=user.pk).exists()


def step_up_start(*, user: User, name: str, id_number: str, phone: str, context: Context) -> OneTimeCode:
    """L2, first half: the name, ID number and phone must match one living person of the population registry; a
    code then goes to that phone. Nothing is bound until the code comes back."""
    number = id_number_validate(id_number.strip().upper()).value
    mobile = phone_validate(phone)
    clean_name = _name_validate(name)
    recent_mismatches = AuditRecord.objects.filter(
        action="identity.step_up", actor_kind="user", actor_id=str(user.pk), outcome="failure",
        occurred_at__gte=clock.now() - dt.timedelta(hours=1),
    ).count()  # fmt: skip
    if recent_mismatches >= STEP_UP_MISMATCHES_PER_HOUR:  # the registry must not become an oracle for guesses
        raise CodeRateLimited("Too many mismatched verifications in the last hour.", retry_after=3600)
    index = person_index_for(number)
    person = Person.objects.filter(id_number_index=index).first()
    if (
        person is None
        or person.status != PersonStatus.LIVING
        or person.name != clean_name
        or not person.phone_index
        or not constant_time_equal(person.phone_index.encode(), phone_index(mobile).encode())
    ):
        _audit("identity.step_up", actor=actor_from_user(user), context=context, outcome="failure", target=user,
               detail={"level": 2, "reason": "registry_mismatch"})  # fmt: skip
        raise RealNameMismatch("The name, ID number and phone do not match the population registry.")
    if (user.id_number_index and user.id_number_index != index) or _bound_elsewhere(user, index):
        _audit("identity.step_up", actor=actor_from_user(user), context=context, outcome="denied", target=user,
               detail={"level": 2, "reason": "bound_elsewhere"})  # fmt: skip
        raise PersonAlreadyBound("This person is bound to another account.")
    row = _code_send(purpose=CodePurpose.STEP_UP, phone=mobile, context=context, actor=actor_from_user(user),
                     user=user, id_number_index=index)  # fmt: skip
    assert row is not None  # noqa: S101  # a step-up code always has its account
    return row


def step_up_confirm(*, user: User, code: str, context: Context) -> User:
    """L2, second half: the code proves the phone; the account is bound to the person (by the ID number's blind
    index) and raised to L2. The phone becomes the account's verified sign-in number."""
    row = _code_consume(purpose=CodePurpose.STEP_UP, index="", code=code, user=user, context=context)
    with transaction.atomic():
        account = User.objects.select_for_update().get(pk=user.pk)
        person = Person.objects.filter(id_number_index=row.id_number_index, status=PersonStatus.LIVING).first()
        if person is None or _bound_elsewhere(account, row.id_number_index):
            raise PersonAlreadyBound("This person is bound to another account.")
        previous = account.assurance_level
        account.id_number_index = row.id_number_index
        account.assurance_level = max(previous, AssuranceLevel.L2)
        account.save(update_fields=["id_number_index", "assurance_level"])
        ResidentProfile.objects.filter(phone_index=row.phone_index, phone_verified_at__isnull=False).exclude(
            user=account
        ).update(phone_verified_at=None)
        ResidentProfile.objects.update_or_create(
            user=account,
            defaults={"name": person.name, "id_number_index": person.id_number_index,
                      "id_number_masked": person.id_number_masked, "phone_index": row.phone_index,
                      "phone_masked": row.phone_masked, "phone_verified_at": clock.now()},
        )  # fmt: skip
        _audit("identity.step_up", actor=actor_from_user(account), context=context, target=account,
               detail={"level": 2, "from": previous, "to": account.assurance_level,
                       "via": "registry_and_sms"})  # fmt: skip
    user.id_number_index, user.assurance_level = account.id_number_index, account.assurance_level
    return account


VERIFY_IN_PERSON = "identity.verify_in_person"


def in_person_verify(
    *, officer: User, username: str, id_number: str, window: str, context: Context
) -> InPersonVerification:
    """L3: an officer with the permission, at a counter of their department, saw the resident and the identity card.
    Binds the account to the person if it was not bound yet."""
    if officer.kind != AccountKind.STAFF or officer.department_id is None or not officer.has_perm(VERIFY_IN_PERSON):
        _audit("identity.in_person.verify", actor=actor_from_user(officer), context=context, outcome="denied",
               detail={"permission": VERIFY_IN_PERSON})  # fmt: skip
        raise VerificationRefused("This account may not verify residents in person.")
    number = id_number_validate(id_number.strip().upper()).value
    counter = window.strip()
    if not counter or len(counter) > 50:
        raise ValidationFailed("Name the counter window.", errors=[_field_error("window", "window.required", "1-50")])
    account = User.objects.filter(
        username=username, kind__in=(AccountKind.RESIDENT, AccountKind.COMPANY_REPRESENTATIVE), is_active=True
    ).first()
    if account is None:
        raise AccountNotFound("No resident account with this username.")
    index = person_index_for(number)
    person = Person.objects.filter(id_number_index=index, status=PersonStatus.LIVING).first()
    if person is None:
        raise RealNameMismatch("No living person with this ID number in the population registry.")
    if (account.id_number_index and account.id_number_index != index) or _bound_elsewhere(account, index):
        raise PersonAlreadyBound("The account or the person is bound elsewhere.")
    assert officer.department is not None  # noqa: S101  # checked above
    with transaction.atomic():
        previous = account.assurance_level
        User.objects.filter(pk=account.pk).update(id_number_index=index, assurance_level=AssuranceLevel.L3)
        ResidentProfile.objects.update_or_create(
            user=account, defaults={"name": person.name, "id_number_index": index,
                                    "id_number_masked": person.id_number_masked},
        )  # fmt: skip
        record = InPersonVerification.objects.create(
            user=account, verified_by=officer, department=officer.department, window=counter, verified_at=clock.now()
        )
        _audit("identity.step_up", actor=actor_from_user(officer), context=context, target=account,
               detail={"level": 3, "from": previous, "to": 3, "via": "counter", "window": counter,
                       "department": officer.department.code})  # fmt: skip
    return record


# --- company representatives -----------------------------------------------------------------------------------------


def representation_is_active(representation: Representation, at: dt.datetime | None = None) -> bool:
    moment = at or clock.now()
    return representation.revoked_at is None and (
        representation.valid_until is None or representation.valid_until > moment
    )


def _entity_by_credit_code(credit_code: str) -> LegalEntity:
    entity = LegalEntity.objects.select_related("legal_representative").filter(credit_code=credit_code.strip()).first()
    if entity is None or entity.status != EntityStatus.ACTIVE:
        raise RepresentationNotFound("No active legal entity with this credit code.")
    return entity


def _is_registry_representative(user: User, entity: LegalEntity) -> bool:
    representative = entity.legal_representative
    return bool(
        user.id_number_index
        and representative is not None
        and constant_time_equal(representative.id_number_index.encode(), user.id_number_index.encode())
    )


def representation_claim(*, user: User, credit_code: str, context: Context) -> Representation:
    """The legal representative named in the registry claims the entity: L2 or above, bound to that person."""
    entity = _entity_by_credit_code(credit_code)
    if user.assurance_level < AssuranceLevel.L2 or not _is_registry_representative(user, entity):
        _audit("identity.representation.claim", actor=actor_from_user(user), context=context, outcome="denied",
               target_type="registries.legalentity", target_id=entity.pk)  # fmt: skip
        raise RepresentationRefused("Only the registered legal representative, verified at L2 or above, may claim.")
    try:
        with transaction.atomic():
            representation = Representation.objects.create(
                user=user, legal_entity=entity, basis=RepresentationBasis.LEGAL_REPRESENTATIVE, valid_from=clock.now()
            )
            _audit("identity.representation.claim", actor=actor_from_user(user), context=context,
                   target_type="registries.legalentity", target_id=entity.pk,
                   detail={"representation": representation.pk})  # fmt: skip
    except IntegrityError as exc:
        raise RepresentationRefused("This account already acts for this entity.") from exc
    return representation


def representation_delegate(
    *, user: User, credit_code: str, delegate_username: str, valid_until: dt.datetime, context: Context
) -> Representation:
    """The legal representative names an agent (经办人) until a date."""
    entity = _entity_by_credit_code(credit_code)
    now = clock.now()
    holds = Representation.objects.filter(
        user=user, legal_entity=entity, basis=RepresentationBasis.LEGAL_REPRESENTATIVE, revoked_at__isnull=True
    ).exists()
    delegate = User.objects.filter(
        username=delegate_username, is_active=True, kind__in=(AccountKind.RESIDENT, AccountKind.COMPANY_REPRESENTATIVE)
    ).first()
    reason = None
    if not holds or not _is_registry_representative(user, entity):
        reason = "not_legal_representative"
    elif delegate is None or delegate.pk == user.pk or delegate.assurance_level < AssuranceLevel.L2:
        reason = "delegate_not_eligible"
    elif valid_until <= now:
        reason = "validity_in_past"
    if reason is not None or delegate is None:
        _audit("identity.representation.delegate", actor=actor_from_user(user), context=context, outcome="denied",
               target_type="registries.legalentity", target_id=entity.pk, detail={"reason": reason})  # fmt: skip
        raise RepresentationRefused(f"The delegation is refused ({reason}).")
    try:
        with transaction.atomic():
            representation = Representation.objects.create(
                user=delegate, legal_entity=entity, basis=RepresentationBasis.DELEGATED, delegated_by=user,
                valid_from=now, valid_until=valid_until,
            )  # fmt: skip
            _audit("identity.representation.delegate", actor=actor_from_user(user), context=context,
                   target_type="registries.legalentity", target_id=entity.pk,
                   detail={"representation": representation.pk, "delegate": delegate.pk,
                           "valid_until": valid_until.isoformat()})  # fmt: skip
    except IntegrityError as exc:
        raise RepresentationRefused("This account already acts for this entity.") from exc
    return representation


def representation_revoke(*, user: User, representation_id: int, context: Context) -> Representation:
    """Revoked by its holder, by whoever delegated it, or by the entity's current legal representative."""
    with transaction.atomic():
        representation = (
            Representation.objects.select_for_update(of=("self",))
            .select_related("legal_entity__legal_representative")
            .filter(pk=representation_id, revoked_at__isnull=True)
            .first()
        )
        allowed = representation is not None and (
            representation.user_id == user.pk
            or representation.delegated_by_id == user.pk
            or _is_registry_representative(user, representation.legal_entity)
        )
        if representation is None or not allowed:
            raise RepresentationNotFound("No such active representation that this account may revoke.")
        representation.revoked_at = clock.now()
        representation.revoked_by = user
        representation.save(update_fields=["revoked_at", "revoked_by"])
        _audit("identity.representation.revoke", actor=actor_from_user(user), context=context,
               target_type="registries.legalentity", target_id=representation.legal_entity_id,
               detail={"representation": representation.pk})  # fmt: skip
    return representation


def assurance_set_by_system(*, user: User, person: Person, level: int, actor: Actor, reason: str) -> User:
    """Bind an account to a person at a level without the resident's own proof: only for trusted setup (the demo
    city, data migrations), never reachable from a page or the API. The phone the registry holds becomes the
    account's verified sign-in number."""
    with transaction.atomic():
        account = User.objects.select_for_update().get(pk=user.pk)
        if _bound_elsewhere(account, person.id_number_index):
            raise PersonAlreadyBound("This person is bound to another account.")
        previous = account.assurance_level
        account.id_number_index = person.id_number_index
        account.assurance_level = max(previous, level)
        account.save(update_fields=["id_number_index", "assurance_level"])
        if person.phone_index:
            ResidentProfile.objects.filter(phone_index=person.phone_index, phone_verified_at__isnull=False).exclude(
                user=account
            ).update(phone_verified_at=None)
        ResidentProfile.objects.update_or_create(
            user=account,
            defaults={"name": person.name, "id_number_index": person.id_number_index,
                      "id_number_masked": person.id_number_masked, "phone_index": person.phone_index,
                      "phone_masked": person.phone_masked,
                      "phone_verified_at": clock.now() if person.phone_index else None},
        )  # fmt: skip
        audit_record(action="identity.step_up", actor=actor, target_type="accounts.user", target_id=account.pk,
                     detail={"level": level, "from": previous, "to": account.assurance_level, "via": "system",
                             "reason": reason})  # fmt: skip
    return account
