"""Rate limits of the anonymous identity pages: registration, sign-in and SMS codes, with the limits set low.

A refused request answers a 429 page in the site's layout with Retry-After, and changes nothing: no account, no
code, no audit record; the refusals of a window become one summary record.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.identity.models import OneTimeCode
from rongcheng.identity.tests.factories import PASSWORD, resident
from rongcheng.kernel.ratelimit import clock as ratelimit_clock
from rongcheng.kernel.ratelimit import refusal_summaries_flush
from rongcheng.registries.tests.factories import make_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_limits(settings):
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "identity.register": {"address": "2/3600"},
        "identity.sign_in": {"address": "3/600"},
        "identity.sms": {"address": "1/3600", "account": "1/3600"},
    }
    settings.RATE_LIMIT_SUMMARY_SECONDS = 600


def _registration(sequence: int) -> dict[str, str]:
    return {"username": f"newcomer{sequence}", "password": "Fz-Gulou-2017", "name": "陈宝琛",
            "id_number": make_id_number(sequence=sequence), "phone": f"1370000{sequence:04d}"}  # fmt: skip


def test_registration_is_limited_per_address_and_the_refusal_changes_nothing(low_limits):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for sequence in (1, 2):
        assert client.post(reverse("identity:register"), _registration(sequence)).status_code == 302
        client.logout()
    users, records = User.objects.count(), AuditRecord.objects.count()

    refused = client.post(reverse("identity:register"), _registration(3))

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    page = refused.content.decode()
    assert "请求过于频繁" in page
    assert '<a href="/">返回首页</a>' in page or "返回首页" in page
    assert "榕城数字政府平台" in page  # the site's layout
    assert (User.objects.count(), AuditRecord.objects.count()) == (users, records)
    assert not User.objects.filter(username="newcomer3").exists()
    # another address is not affected
    assert Client(REMOTE_ADDR="198.51.100.8").post(reverse("identity:register"), _registration(4)).status_code == 302


def test_the_429_page_is_in_english_too(low_limits):
    client = Client(REMOTE_ADDR="198.51.100.9", headers={"Accept-Language": "en"})
    for sequence in (5, 6, 7):
        response = client.post(reverse("identity:register"), _registration(sequence))
        client.logout()
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many requests; try again in" in page
    assert "请求过于频繁" not in page


def test_refusals_are_summarised_once_per_window(low_limits):
    client = Client(REMOTE_ADDR="198.51.100.10")
    for _ in range(3):
        client.post(reverse("identity:sign-in"), {"username": "nobody", "password": "wrong"})
    before = AuditRecord.objects.count()
    statuses = [client.post(reverse("identity:sign-in"), {"username": "nobody", "password": "wrong"}).status_code
                for _ in range(5)]  # fmt: skip
    assert statuses == [429] * 5
    assert AuditRecord.objects.count() == before  # refusals are counted, not audited one by one

    later = ratelimit_clock() + 600
    assert refusal_summaries_flush(now=later) == 1
    assert refusal_summaries_flush(now=later) == 0  # each window once
    summary = AuditRecord.objects.get(action="kernel.rate_limit.refusals")
    assert (summary.actor_kind, summary.outcome, summary.target_id) == ("system", "denied", "identity.sign_in")
    assert summary.detail["refused"] == 5
    assert summary.detail["window_seconds"] == 600
    assert AuditRecord.objects.count() == before + 1


def test_sms_codes_are_limited_per_address(low_limits):
    client = Client(REMOTE_ADDR="198.51.100.11")
    first = client.post(reverse("identity:sign-in-sms"), {"action": "send", "phone": "13900000001"})
    assert first.status_code == 200
    codes, records = OneTimeCode.objects.count(), AuditRecord.objects.count()
    refused = client.post(reverse("identity:sign-in-sms"), {"action": "send", "phone": "13900000002"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert (OneTimeCode.objects.count(), AuditRecord.objects.count()) == (codes, records)


def test_sign_in_stays_open_below_the_limit(low_limits):
    resident("linzexu")
    client = Client(REMOTE_ADDR="198.51.100.12")
    response = client.post(reverse("identity:sign-in"), {"username": "linzexu", "password": PASSWORD})
    assert response.status_code == 302
