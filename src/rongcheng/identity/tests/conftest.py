from __future__ import annotations

import datetime as dt

import pytest

from rongcheng.identity.clock import clock

START = dt.datetime(2026, 11, 29, 8, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _identity_environment(settings, tmp_path):
    """A clock the test moves, and an SMS outbox of its own."""
    settings.IDENTITY_SMS_SENDER = "rongcheng.identity.sms.FileSender"
    settings.IDENTITY_SMS_OUTBOX = tmp_path / "sms-outbox.jsonl"
    clock.set(START)
    yield
    clock.reset()
