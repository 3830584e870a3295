"""Main journey in a real browser: a department portal sends a resident to sign in, the resident consents, the
portal gets its code; later the resident revokes the portal from /oidc/authorized-clients/."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from rongcheng.oidc.models import Consent
from rongcheng.oidc.tests.conftest import PASSWORD, REDIRECT
from rongcheng.oidc.tests.flows import authorize_params, pkce_pair, query

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_resident_consents_then_revokes_in_the_browser(page, live_server, rp, resident):
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    arrived: list[str] = []

    def relying_party(route, request):  # the portal itself is not running: answer for it
        arrived.append(request.url)
        route.fulfill(status=200, content_type="text/plain", body="ok")

    page.route("https://rp.gaj.example/**", relying_party)
    _, challenge = pkce_pair()
    params = authorize_params(rp.registration.application.client_id, REDIRECT, challenge,
                              scope="openid profile id_number_masked")  # fmt: skip
    page.goto(f"{live_server.url}/oauth/authorize/?{urlencode(params)}")
    page.fill('input[name="username"]', resident.username)
    page.fill('input[name="password"]', PASSWORD)
    page.press('input[name="password"]', "Enter")
    page.wait_for_selector("#authorizationForm")
    assert page.locator("h1").inner_text() == "授权确认"
    assert page.locator("ul.claims li").all_inner_texts() == [
        "登录标识（每个应用各不相同的编号）和实名认证等级", "姓名", "身份证号码（隐去出生日期等数字）",
    ]  # fmt: skip
    page.get_by_role("button", name="同意授权").click()
    page.wait_for_url("https://rp.gaj.example/**")
    assert query(arrived[0])["state"] == params["state"]
    assert "code" in query(arrived[0])

    page.goto(f"{live_server.url}/oidc/authorized-clients/")
    assert page.locator("table.clients td").first.inner_text() == "gaj-portal"
    page.get_by_role("button", name="撤销授权").click()
    page.wait_for_selector(".messages")
    assert "已撤销授权" in page.locator(".messages").inner_text()
    assert not Consent.objects.exists()
    assert console_errors == []
