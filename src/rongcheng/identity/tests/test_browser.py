"""The identity journeys in a real browser: a staff member's first sign-in (password, TOTP, forced change of the
initial password) up to the admin; a resident ending a session opened in another browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.models import AccountSession
from rongcheng.identity.tests.factories import PASSWORD, resident, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base + "/account/sign-in/?next=/account/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_staff_first_sign_in_with_totp_and_a_forced_password_change(page, live_server):
    user, secret = staff(is_superuser=True, must_change_password=True, display_name="林工")
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    page.goto(live_server.url + "/admin/")
    page.wait_for_url("**/account/sign-in/**")
    page.get_by_label("用户名").fill("officer")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server.url + "/account/sign-in/totp/")
    page.get_by_label("动态口令").fill("000000" if totp.totp(secret, clock.now()) != "000000" else "111111")
    page.get_by_role("button", name="验证").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("动态口令").fill(totp.totp(secret, clock.now()))
    page.get_by_role("button", name="验证").click()

    page.wait_for_url("**/account/password/**")
    assert page.get_by_role("status").inner_text() == "首次登录请先修改初始密码。"
    page.get_by_label("当前密码").fill(PASSWORD)
    page.get_by_label("新密码", exact=True).fill("Fz-Gulou-2017")
    page.get_by_label("再次输入新密码").fill("Fz-Gulou-2017")
    page.get_by_role("button", name="修改密码").click()
    page.wait_for_url(live_server.url + "/admin/")
    assert page.locator("#site-name").is_visible()
    user.refresh_from_db()
    assert (user.must_change_password, user.check_password("Fz-Gulou-2017")) == (False, True)
    assert console_errors == []


def test_a_resident_ends_a_session_opened_elsewhere(page, browser, live_server):
    resident()
    other = browser.new_context(locale="zh-CN")
    elsewhere = other.new_page()
    try:
        _sign_in(elsewhere, live_server.url, "resident")
        elsewhere.wait_for_url(live_server.url + "/account/")

        _sign_in(page, live_server.url, "resident")
        page.wait_for_url(live_server.url + "/account/")
        rows = page.locator("#sessions tbody tr")
        assert rows.count() == 2
        assert page.get_by_text("当前会话").count() == 1
        page.locator("#sessions").get_by_role("button", name="结束").click()
        page.wait_for_url(live_server.url + "/account/")
        assert page.locator("#sessions tbody tr").count() == 1

        elsewhere.reload()
        elsewhere.wait_for_url("**/account/sign-in/**")
        assert AccountSession.objects.filter(ended_at__isnull=True).count() == 1
    finally:
        other.close()
