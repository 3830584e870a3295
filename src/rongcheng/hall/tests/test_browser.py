"""The service hall's main journey in a real browser (Debian's chromium): a resident applies for a residence permit
whose materials are all filled from the government's own records (the population registry and their property
certificate), an officer accepts it and returns it for correction, the resident corrects and resubmits, the officer
approves, and the resident finds the new licence among theirs and verifies it on the public verification page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from rongcheng.hall.models import Application, State
from rongcheng.hall.tests import factories as f
from rongcheng.hall.tests.licensed import police_officer, property_for, setup_licences
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.services import totp_provision

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Rc-test-2017!"


@pytest.fixture
def world():
    setup = setup_licences()
    resident = f.applicant("lin", email="lin@example.cn")
    resident.display_name = "林则徐"
    resident.save()
    setup["property"] = property_for(resident, setup)
    officer = police_officer("gaj-officer")
    officer.display_name = "户政窗口"
    officer.save()
    secret = totp_provision(user=officer, actor=f.SYSTEM)  # staff sign in with a second factor (等保三级)
    return {**setup, "resident": resident, "officer": officer, "totp": secret}


def _sign_in(page: Any, base: str, username: str, secret: bytes | None = None) -> None:
    page.goto(f"{base}/account/sign-in/?next=/hall/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    if secret is not None:
        page.wait_for_url(f"{base}/account/sign-in/totp/")
        page.get_by_label("动态口令").fill(totp.totp(secret, clock.now()))
        page.get_by_role("button", name="验证").click()
    page.wait_for_url(f"{base}/hall/")


@pytest.fixture
def two_pages(browser):
    """The resident's and the officer's browsers, each with its own cookies."""
    contexts = [browser.new_context(locale="zh-CN") for _ in range(2)]
    yield [context.new_page() for context in contexts]
    for context in contexts:
        context.close()


def test_apply_correct_and_approve_without_uploading_anything(two_pages, live_server, world):
    base = live_server.url
    resident_page, officer_page = two_pages
    errors: list[str] = []
    for page in (resident_page, officer_page):
        page.set_default_timeout(15_000)
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    # The resident finds the service in the public catalogue and applies.
    _sign_in(resident_page, base, "lin")
    resident_page.goto(f"{base}/hall/?q=居住证")
    resident_page.get_by_role("link", name="居住证办理").click()
    resident_page.get_by_role("button", name="在线申请").click()
    resident_page.get_by_role("button", name="一键填入政府已有材料").click()
    materials = resident_page.locator(".materials").inner_text()
    assert "林则徐" in materials
    assert "人口基础信息库" in materials
    assert "registries:person.name" not in materials
    assert "以上内容来自您授权使用的电子证照" in materials
    assert world["property"].identifier not in materials
    assert "福州市鼓楼区五四路100号1单元101" in materials
    assert "未提供" not in materials
    resident_page.get_by_label("申请说明").fill("在福州居住满半年")
    resident_page.get_by_role("button", name="提交申请").click()
    expect(resident_page.locator("#state")).to_have_text("已提交")
    application = Application.objects.get()
    assert application.number
    assert application.number in resident_page.content()

    # The officer accepts it from the queue, reviews it and returns it for correction.
    _sign_in(officer_page, base, "gaj-officer", world["totp"])
    # At a phone's width, in English (the longest labels), nothing is wider than the screen.
    officer_page.set_viewport_size({"width": 390, "height": 844})
    officer_page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    officer_page.goto(f"{base}/hall/workbench/?scope=intake")
    assert officer_page.locator("html").get_attribute("lang") == "en"
    assert officer_page.evaluate("document.documentElement.scrollWidth") <= 390
    for box in officer_page.locator("main select, main .table-scroll").evaluate_all(
        "els => els.map(el => el.getBoundingClientRect().right)"
    ):
        assert box <= 390
    officer_page.context.clear_cookies(name="django_language")
    officer_page.set_viewport_size({"width": 1280, "height": 800})
    officer_page.goto(f"{base}/hall/workbench/?scope=intake")
    officer_page.get_by_role("link", name=application.number).click()
    officer_page.locator("[data-transition=accept]").click()
    expect(officer_page.locator("#state")).to_have_text("已受理")
    officer_page.locator("[data-transition=review]").click()
    reason = officer_page.locator("form:has([data-transition=return_for_correction]) input[name=reason]")
    reason.fill("请写明居住事由")
    officer_page.locator("[data-transition=return_for_correction]").click()
    expect(officer_page.locator("#state")).to_have_text("待补正")

    # The resident sees why, corrects and resubmits.
    resident_page.goto(f"{base}/hall/applications/")
    resident_page.get_by_role("link", name=application.number).click()
    expect(resident_page.locator(".timeline")).to_contain_text("请写明居住事由")
    resident_page.get_by_label("申请说明").fill("在福州居住满半年，居住事由：就业")
    resident_page.get_by_role("button", name="提交补正").click()
    expect(resident_page.locator("#state")).to_have_text("审查中")

    # The officer approves and concludes.
    officer_page.reload()
    assert "居住事由：就业" in officer_page.content()
    officer_page.locator("[data-transition=approve]").click()
    expect(officer_page.locator("#state")).to_have_text("准予许可")
    officer_page.locator("[data-transition=conclude]").click()
    expect(officer_page.locator("#state")).to_have_text("办结")

    resident_page.reload()
    assert resident_page.locator("#state").inner_text() == "办结"
    timeline = resident_page.locator(".timeline").inner_text()
    for step in ("提交申请", "受理", "退回补正", "补正后重新提交", "准予许可", "办结"):
        assert step in timeline
    application.refresh_from_db()
    assert application.state == State.CONCLUDED
    assert not application.provided.filter(source="upload").exists()
    issued = resident_page.locator("#issued-licence").inner_text()
    assert issued == application.issued_licence

    # The resident finds the residence permit among their licences and verifies it publicly.
    resident_page.goto(f"{base}/licences/mine/")
    resident_page.get_by_role("link", name="居住证").click()
    expect(resident_page.locator("body")).to_contain_text(issued)
    resident_page.get_by_role("link", name="公开核验页").click()
    verdict = resident_page.locator(".verdict")
    assert verdict.get_attribute("data-verdict") == "valid"
    assert "真实有效" in verdict.inner_text()
    assert "福州市公安局" in resident_page.locator(".licence-fields").inner_text()
    assert errors == []
