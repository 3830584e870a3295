"""The level-3 protection settings (GB/T 22239-2019 8.1.4.1), read on each use so tests and operators can change them.

The standard fixes no numbers; the defaults are the usual assessor settings (standards.md §8).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def lockout_threshold() -> int:
    return int(_setting("IDENTITY_LOCKOUT_THRESHOLD", 5))


def lockout_duration() -> dt.timedelta:
    return dt.timedelta(seconds=int(_setting("IDENTITY_LOCKOUT_SECONDS", 1800)))


def idle_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=int(_setting("IDENTITY_IDLE_TIMEOUT_SECONDS", 1800)))


def password_min_length() -> int:
    return int(_setting("IDENTITY_PASSWORD_MIN_LENGTH", 8))


def password_character_classes() -> tuple[str, ...]:
    return tuple(_setting("IDENTITY_PASSWORD_CLASSES", ("upper", "lower", "digit", "special")))


def staff_password_max_age() -> dt.timedelta:
    return dt.timedelta(days=int(_setting("IDENTITY_STAFF_PASSWORD_MAX_AGE_DAYS", 90)))


def code_lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=int(_setting("IDENTITY_CODE_SECONDS", 300)))


def code_max_attempts() -> int:
    return int(_setting("IDENTITY_CODE_MAX_ATTEMPTS", 5))


def code_send_interval() -> dt.timedelta:
    return dt.timedelta(seconds=int(_setting("IDENTITY_CODE_SEND_INTERVAL_SECONDS", 60)))


def code_sends_per_hour() -> int:
    return int(_setting("IDENTITY_CODE_SENDS_PER_HOUR", 5))


def pending_sign_in_lifetime() -> dt.timedelta:
    """How long the first factor stays good while the second is asked for."""
    return dt.timedelta(seconds=int(_setting("IDENTITY_PENDING_SIGN_IN_SECONDS", 300)))


def sms_sender_path() -> str:
    return str(_setting("IDENTITY_SMS_SENDER", "rongcheng.identity.sms.FileSender"))
