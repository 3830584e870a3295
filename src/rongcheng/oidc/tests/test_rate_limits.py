"""The token and authorization endpoints are rate-limited per address (the URL is wrapped; the views are the
toolkit's): a flood of bogus token requests writes a bounded number of audit records, then 429 problem documents
with Retry-After that write nothing, until one summary record per window."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client
from oauth2_provider.models import Grant

from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.ratelimit import clock as ratelimit_clock
from rongcheng.kernel.ratelimit import refusal_summaries_flush
from rongcheng.oidc.tests.conftest import REDIRECT
from rongcheng.oidc.tests.flows import authorize_params, pkce_pair

pytestmark = pytest.mark.django_db


def test_bogus_token_requests_are_refused_after_the_limit_without_an_audit_record_each(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "oauth.token": {"address": "3/60"}}
    client = Client(REMOTE_ADDR="203.0.113.5")
    bogus = {"grant_type": "client_credentials", "client_id": "no-such-client", "client_secret": "x"}
    admitted = [client.post("/oauth/token/", bogus).status_code for _ in range(3)]
    assert admitted == [401, 401, 401]
    audited = AuditRecord.objects.count()
    refused = [client.post("/oauth/token/", bogus) for _ in range(20)]
    assert {r.status_code for r in refused} == {429}
    assert refused[0]["Content-Type"] == "application/problem+json"
    assert refused[0].json()["type"] == "/problems/rate-limited"
    assert 0 < int(refused[0]["Retry-After"]) <= 60
    assert AuditRecord.objects.count() == audited
    assert refusal_summaries_flush(now=ratelimit_clock() + settings.RATE_LIMIT_SUMMARY_SECONDS) == 1
    summary = AuditRecord.objects.get(action="kernel.rate_limit.refusals")
    assert (summary.target_id, summary.detail["refused"]) == ("oauth.token", 20)


def test_authorization_requests_are_limited_per_account_and_leave_no_grant(settings, resident):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "oauth.authorize": {"account": "2/600"}}
    browser = Client(REMOTE_ADDR="203.0.113.6")
    browser.force_login(resident)
    _, challenge = pkce_pair()
    url = "/oauth/authorize/?" + urlencode(authorize_params("no-such-client", REDIRECT, challenge))
    assert [browser.get(url).status_code for _ in range(2)] == [400, 400]
    before = (Grant.objects.count(), AuditRecord.objects.count())
    refused = browser.get(url)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "请求过于频繁" in refused.content.decode()  # a page: people reach this endpoint in a browser
    assert (Grant.objects.count(), AuditRecord.objects.count()) == before
