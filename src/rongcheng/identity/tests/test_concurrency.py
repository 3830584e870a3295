"""Counters under concurrency (PostgreSQL): failed sign-ins all count, and a TOTP code raced twice is accepted once."""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import connections

from rongcheng.audit.tests.helpers import on_postgresql
from rongcheng.identity.errors import AccountLocked, SignInRefused
from rongcheng.identity.models import SignInGuard
from rongcheng.identity.services import _guard, _refuse_sign_in, totp_sign_in
from rongcheng.identity.tests.factories import current_code, staff

pytestmark = [pytest.mark.django_db(transaction=True), on_postgresql]

THREADS = 8


def _race(target, count: int = THREADS) -> list[BaseException | None]:
    start = threading.Barrier(count)
    outcomes: list[BaseException | None] = [None] * count

    def run(index: int) -> None:
        try:
            start.wait()
            target()
        except BaseException as exc:  # the outcome is what the test checks
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_failures_all_count_and_lock_once(settings):
    settings.IDENTITY_LOCKOUT_THRESHOLD = 5
    user, _ = staff()
    _guard(user)

    def fail_three_times() -> None:
        for _ in range(3):
            with contextlib.suppress(SignInRefused, AccountLocked):
                _refuse_sign_in(user, method="password", reason="wrong_password")

    assert _race(fail_three_times) == [None] * THREADS
    guard = SignInGuard.objects.get(user=user)
    assert guard.failures == 3 * THREADS  # no lost update
    assert guard.locked_until is not None


def test_a_totp_code_raced_by_two_requests_is_accepted_once():
    user, secret = staff()
    code = current_code(secret)
    outcomes = _race(lambda: totp_sign_in(user=user, code=code), count=4)
    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "SignInRefused", "SignInRefused", "SignInRefused"]
