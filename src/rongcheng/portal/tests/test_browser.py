"""Main journey of the web shell in a real browser: open the portal, sign in as staff (password and TOTP), reach the
admin."""

import pytest
from playwright.sync_api import expect

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.services import totp_provision

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def officer() -> bytes:
    """A staff account with an authenticator; the fixture's value is its TOTP secret."""
    department = Department.objects.create(
        code="FZ-SZB", name="福州市数字福州建设领导小组办公室", short_name="市数字办"
    )
    user = User.objects.create_user(
        username="officer",
        password="Rc-browser-2017!",
        kind=AccountKind.STAFF,
        department=department,
        is_staff=True,
        is_superuser=True,
        display_name="林工",
    )
    return totp_provision(user=user, actor=Actor.system("tests"))


def test_staff_signs_in_from_the_portal_and_reaches_the_admin(page, live_server, officer):
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text() == "榕城数字政府平台"
    assert page.locator("#capability-registries h3").inner_text() == "基础数据资源库"
    # Styles come from the platform itself: the masthead is painted by site.css.
    assert page.locator(".masthead").evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(10, 107, 79)"

    page.get_by_role("link", name="登录").click()
    page.get_by_label("用户名").fill("officer")
    page.get_by_label("密码").fill("wrong password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert "/account/sign-in/" in page.url

    page.get_by_label("用户名").fill("officer")
    page.get_by_label("密码").fill("Rc-browser-2017!")
    page.get_by_role("button", name="登录").click()
    page.get_by_label("动态口令").fill(totp.totp(officer, clock.now()))
    page.get_by_role("button", name="验证").click()
    page.wait_for_url(live_server.url + "/")
    assert page.locator(".who").inner_text() == "林工"

    page.get_by_role("link", name="管理后台").click()
    page.wait_for_url(live_server.url + "/admin/")
    assert page.locator("#site-name").is_visible()
    assert page.get_by_role("link", name="Accounts").count() + page.get_by_text("账户").count() >= 1
    assert console_errors == []


def test_portal_switches_to_english(page, live_server):
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Rongcheng digital government platform"
    assert page.locator("#capability-card h3").inner_text() == "Citizen card"
    page.get_by_role("button", name="简体中文").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "榕城数字政府平台"
