"""The identity platform's clock: `timezone.now()` unless a test has set it.

Lockout windows, one-time code expiry, TOTP time steps and idle timeouts all read this clock, so a test moves time
forward instead of sleeping.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


class Clock:
    def __init__(self) -> None:
        self._at: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self._at if self._at is not None else timezone.now()

    def set(self, at: dt.datetime) -> None:
        self._at = at

    def advance(self, delta: dt.timedelta) -> None:
        self._at = self.now() + delta

    def reset(self) -> None:
        self._at = None


clock = Clock()
