"""`rongcheng manage cleanup`: expired grants, one-time codes and idle sessions go; a second run finds nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone
from oauth2_provider.models import Application, Grant

from rongcheng.identity.models import AccountSession, OneTimeCode, SessionEnd
from rongcheng.identity.tests.factories import resident

pytestmark = pytest.mark.django_db


def _run() -> dict[str, int]:
    out = io.StringIO()
    call_command("cleanup", stdout=out)
    return {line.split(":")[0]: int(line.split(":")[1].split()[0]) for line in out.getvalue().splitlines()}


def test_cleanup_deletes_what_expired_and_is_idempotent():
    user = resident("linzexu")
    now = timezone.now()
    application = Application.objects.create(name="rp", user=user, client_type="confidential",
                                             authorization_grant_type="authorization-code",
                                             redirect_uris="https://rp.example/cb")  # fmt: skip
    for index, expires in enumerate((now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=1))):
        Grant.objects.create(user=user, application=application, code=f"code-{index}", expires=expires,
                             redirect_uri="https://rp.example/cb", scope="openid",
                             code_challenge="x" * 43, code_challenge_method="S256")  # fmt: skip
    for index, created in enumerate((now - dt.timedelta(hours=3), now)):
        OneTimeCode.objects.create(
            purpose="sign_in", user=user, phone_index=f"i{index}", phone_masked="138****0000", digest="d",
            created_at=created, expires_at=created + dt.timedelta(minutes=5),
        )  # fmt: skip
    idle = AccountSession.objects.create(
        user=user, session_key="gone", method="password", created_at=now - dt.timedelta(hours=5),
        last_seen_at=now - dt.timedelta(hours=4),
    )  # fmt: skip
    live = AccountSession.objects.create(user=user, session_key="live", method="password", created_at=now,
                                         last_seen_at=now)  # fmt: skip
    Session.objects.create(session_key="expired", session_data="", expire_date=now - dt.timedelta(days=1))

    first = _run()

    assert first["oauth-grants"] == 1
    assert first["identity-codes"] == 1
    assert first["identity-sessions"] == 1
    assert list(Grant.objects.values_list("code", flat=True)) == ["code-1"]
    assert list(OneTimeCode.objects.values_list("phone_index", flat=True)) == ["i1"]
    idle.refresh_from_db()
    live.refresh_from_db()
    assert (idle.end_reason, idle.ended_at) == (SessionEnd.IDLE, idle.last_seen_at + dt.timedelta(seconds=1800))
    assert live.ended_at is None
    assert not Session.objects.filter(session_key="expired").exists()
    assert set(first) == {"identity-codes", "identity-sessions", "oauth-grants", "rate-limit-summaries",
                          "shared-cache", "card-preauthorizations", "card-idempotency",
                          "cases.supervise", "event-outbox"}  # fmt: skip

    second = _run()
    assert second["oauth-grants"] == second["identity-codes"] == second["identity-sessions"] == 0
