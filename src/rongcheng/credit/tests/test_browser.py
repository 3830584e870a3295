"""An officer records the joint measures for a black-listed company in a real browser (Debian's chromium): the
accept button is refused until each measure is recorded, then the application is accepted and the record kept."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from rongcheng.credit.tests import factories as cf
from rongcheng.hall import services
from rongcheng.hall.models import Application, ApplicationCheck
from rongcheng.hall.tests import factories as f
from rongcheng.hall.tests.entities import SERVICE, setup_company
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.services import totp_provision

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Rc-test-2017!"


@pytest.fixture
def world():
    setup = setup_company()
    office = cf.office()
    cf.memorandum(user=office)
    entity = setup["entity"]
    cf.listed(office, code=entity.credit_code, name=entity.name)
    agent = setup["agent"]
    application = services.application_start(user=agent, service_code=SERVICE, credit_code=entity.credit_code)
    services.application_prefill(user=agent, application_id=application.pk, authorize_licences=True)
    services.application_submit(user=agent, application_id=application.pk)
    officer = setup["officer"]
    officer.set_password(PASSWORD)
    officer.display_name = "市场监管窗口"
    officer.save()
    secret = totp_provision(user=officer, actor=f.SYSTEM)
    return {"application": application, "officer": officer, "totp": secret}


def _sign_in(page: Any, base: str, username: str, secret: bytes) -> None:
    page.goto(f"{base}/account/sign-in/?next=/hall/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/account/sign-in/totp/")
    page.get_by_label("动态口令").fill(totp.totp(secret, clock.now()))
    page.get_by_role("button", name="验证").click()
    page.wait_for_url(f"{base}/hall/")


def test_an_officer_records_the_joint_measures_before_accepting(browser, live_server, world):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    base = live_server.url
    _sign_in(page, base, world["officer"].username, world["totp"])
    application = world["application"]
    page.goto(f"{base}/hall/workbench/{application.pk}/")
    checks = page.locator("#checks")
    assert "联合奖惩核查" in checks.inner_text()
    assert "失信被执行人" in checks.inner_text()
    assert "限制参与政府采购" in checks.inner_text()

    page.locator('button[data-transition="accept"]').click()
    expect(page.locator("body")).to_contain_text("请先逐项记录联合奖惩措施的执行情况")
    assert Application.objects.get(pk=application.pk).state == "submitted"

    first = page.locator(".check-item").nth(0)
    first.get_by_label("已执行").check()
    first.get_by_role("button", name="记录").click()
    page.wait_for_load_state()
    second = page.locator(".check-item").nth(1)
    second.get_by_label("未执行", exact=True).check()
    second.get_by_label("未执行的理由").fill("本事项不涉及政府采购")
    second.get_by_role("button", name="记录").click()
    page.wait_for_load_state()
    assert "本事项不涉及政府采购" in page.locator("#checks").inner_text()

    page.locator('button[data-transition="accept"]').click()
    page.wait_for_load_state()
    assert "操作已完成" in page.locator("body").inner_text()
    assert Application.objects.get(pk=application.pk).state == "accepted"
    recorded = list(ApplicationCheck.objects.order_by("id").values_list("measure_code", "applied", "reason"))
    assert recorded == [("M1", True, ""), ("M2", False, "本事项不涉及政府采购")]
    assert errors == []
    context.close()
