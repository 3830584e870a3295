"""SMS-style one-time codes: issued within rate limits, stored as a keyed digest, single use, short-lived."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from rongcheng.accounts.models import User
from rongcheng.audit.services import Actor, actor_from_user
from rongcheng.identity import policy
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    CodeInvalid,
    CodeRateLimited,
)
from rongcheng.identity.models import (
    CodePurpose,
    OneTimeCode,
    ResidentProfile,
)
from rongcheng.identity.services.context import _audit, _field_error
from rongcheng.identity.services.sign_in import _locked_until, _refuse_locked
from rongcheng.identity.sms import sender
from rongcheng.kernel.crypto import constant_time_equal, hmac_sm3
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.masking import mask_phone
from rongcheng.registries.services import phone_index_for

MOBILE = re.compile(r"1[3-9]\d{9}")
CODE_DIGITS = 6


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
    return phone_index_for(phone)


def _code_digest(code_id: int, code: str) -> str:
    key = hmac_sm3(settings.SECRET_KEY.encode(), b"rongcheng.identity.one-time-code")
    return hmac_sm3(key, f"{code_id}:{code}".encode()).hex()


def _code_send(
    *, purpose: str, phone: str, actor: Actor, user: User | None, id_number_index: str = ""
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
        _audit("identity.code.send", actor=actor, target=user, target_type="accounts.user",
               detail={"purpose": purpose, "phone": mask_phone(phone), "delivered": user is not None})  # fmt: skip
    if user is None:
        return None
    minutes = int(policy.code_lifetime().total_seconds() // 60)
    sender().send(phone=phone, text=f"【榕城】验证码 {code}，{minutes} 分钟内有效。请勿告诉他人。")
    return row


def _code_consume(*, purpose: str, index: str, code: str, user: User | None) -> OneTimeCode:
    now = clock.now()
    filters = Q(purpose=purpose, phone_index=index) if user is None else Q(purpose=purpose, user=user)
    row = OneTimeCode.objects.filter(filters).order_by("-created_at", "-pk").first()
    actor = actor_from_user(user) if user is not None else Actor.anonymous()
    reason = None
    if row is None:
        reason = "no_code"
    elif row.used_at is not None:
        reason = "used"
    elif row.expires_at <= now:
        reason = "expired"
    elif row.attempts >= policy.code_max_attempts():
        reason = "attempts_exhausted"
    elif row.user_id is None or not constant_time_equal(
        row.digest.encode(), _code_digest(row.pk, code.strip()).encode()
    ):
        # A code "sent" to a number without an account was never delivered and never matches, but it ages, counts
        # attempts and is refused exactly like a wrong code to a known number: the answers do not tell them apart.
        OneTimeCode.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
        reason = "wrong"
    elif not OneTimeCode.objects.filter(
        pk=row.pk, used_at__isnull=True, expires_at__gt=now, attempts__lt=policy.code_max_attempts()
    ).update(used_at=now):
        reason = "used"
    if reason is not None or row is None:
        _audit("identity.code.verify", actor=actor, outcome="failure",
               target_id=row.user_id if row is not None and row.user_id else "",
               detail={"purpose": purpose, "reason": reason or "no_code"})  # fmt: skip
        raise CodeInvalid(
            "The code is wrong, used or expired.", errors=[_field_error("code", f"code.{reason}", str(reason))]
        )
    return row


def sign_in_code_send(*, phone: str) -> None:
    """Send a sign-in code to a resident's verified phone (silently nothing for an unknown number)."""
    number = phone_validate(phone)
    profile = (
        ResidentProfile.objects.select_related("user")
        .filter(phone_index=phone_index(number), phone_verified_at__isnull=False, user__is_active=True)
        .first()
    )
    user = profile.user if profile is not None and isinstance(profile.user, User) else None
    _code_send(purpose=CodePurpose.SIGN_IN, phone=number, user=user,
               actor=actor_from_user(user) if user is not None else Actor.anonymous())  # fmt: skip


def sms_sign_in(*, phone: str, code: str) -> User:
    """The first factor by SMS code: single use, short-lived, a few attempts; a locked account stays locked."""
    number = phone_validate(phone)
    row = _code_consume(purpose=CodePurpose.SIGN_IN, index=phone_index(number), code=code, user=None)
    user = User.objects.get(pk=row.user_id or 0)  # _code_consume refuses codes without an account
    until = _locked_until(user, clock.now())
    if until is not None:
        _refuse_locked(user, until, method="sms")
    return user


def codes_expired_delete() -> int:
    """Delete one-time codes that expired over an hour ago (the hourly sending limit per number counts younger
    ones); a code is useless once expired."""
    horizon = clock.now() - dt.timedelta(hours=1) - policy.code_lifetime()
    deleted, _ = OneTimeCode.objects.filter(expires_at__lt=horizon).delete()
    return int(deleted)
