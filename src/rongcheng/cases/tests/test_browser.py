"""The city-case journey in a real browser (Debian's chromium): a resident reports a problem with a photo and a pin
on the map, the command centre registers and dispatches it, the unit handles it and reports back with a photo, the
grid worker verifies it on a phone-width page, the centre closes it, and the resident sees it closed and rates it."""

from __future__ import annotations

from typing import Any

import pytest

from rongcheng.cases.models import Case, GridAssignment
from rongcheng.cases.tests import factories as f
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.services import totp_provision

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("cases-browser")]
PASSWORD = "Rc-test-2017!"


def _sign_in(page: Any, base: str, username: str, secret: bytes | None = None) -> None:
    page.goto(f"{base}/account/sign-in/?next=/cases/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    if secret is not None:
        page.wait_for_url(f"{base}/account/sign-in/totp/")
        page.get_by_label("动态口令").fill(totp.totp(secret, clock.now()))
        page.get_by_role("button", name="验证").click()
    page.wait_for_url(f"{base}/cases/**")


def _step(page: Any, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    page.wait_for_load_state()


def test_report_dispatch_fix_verify_close_and_rate(browser, live_server):
    f.world()
    users = {
        "lin": f.resident("lin"),
        "centre": f.centre("centre"),
        "unit": f.unit_officer(username="unit"),
        "worker": f.grid_worker(username="worker"),
    }
    GridAssignment.objects.create(worker=users["worker"], cell_code=f.CELL2)
    secrets = {name: totp_provision(user=users[name], actor=f.SYSTEM) for name in ("centre", "unit", "worker")}
    base = live_server.url
    pages = {}
    for name in users:
        phone = name in ("lin", "worker")
        context = browser.new_context(locale="zh-CN", viewport={"width": 390 if phone else 1280, "height": 844})
        pages[name] = context.new_page()
        pages[name].set_default_timeout(15_000)
        _sign_in(pages[name], base, name, secrets.get(name))

    # The resident pins the problem on the map, describes it and adds a photo.
    lin = pages["lin"]
    with lin.expect_response(lambda response: "/collections/grid-cells" in response.url):
        lin.goto(f"{base}/cases/report/")
    lin.wait_for_timeout(800)  # the map fits the city's grid once it has its extent
    lin.locator(".rc-map").click()
    assert lin.get_by_label("经度").input_value()
    assert lin.get_by_label("纬度").input_value()
    lin.get_by_label("问题类别").select_option("C0101")
    lin.get_by_label("问题描述").fill("井盖缺失，有人差点摔倒")
    lin.locator("#photos").set_input_files([{"name": "a.jpg", "mimeType": "image/jpeg", "buffer": f.jpeg()}])
    lin.get_by_role("button", name="提交").click()
    lin.wait_for_url(f"{base}/cases/c/**")
    case = Case.objects.get()
    assert "信息收集" in lin.content()
    assert lin.evaluate("document.documentElement.scrollWidth") <= 390

    # The command centre registers and dispatches it from its queue.
    centre = pages["centre"]
    centre.goto(f"{base}/cases/centre/")
    centre.get_by_role("link", name=case.number).click()
    _step(centre, "立案")
    _step(centre, "派遣")
    assert "已派遣" in centre.content()

    # The unit takes it and reports back with a photo of the result.
    unit = pages["unit"]
    unit.goto(f"{base}/cases/unit/")
    unit.get_by_role("link", name=case.number).click()
    _step(unit, "接收处置")
    unit.locator("#photos-back").set_input_files(
        [{"name": "b.jpg", "mimeType": "image/jpeg", "buffer": f.jpeg(color="green")}]
    )
    _step(unit, "处置反馈")
    assert "处置反馈待核查" in unit.content()

    # The grid worker verifies it at a phone's width.
    worker = pages["worker"]
    worker.goto(f"{base}/cases/grid/")
    assert worker.evaluate("document.documentElement.scrollWidth") <= 390
    worker.get_by_role("link", name=case.number).first.click()
    _step(worker, "核查通过")
    assert worker.evaluate("document.documentElement.scrollWidth") <= 390

    centre.reload()
    _step(centre, "结案")

    # The resident sees it closed and rates it.
    lin.goto(f"{base}/cases/mine/")
    assert "已结案" in lin.locator("main").inner_text()
    lin.get_by_role("link", name=case.number).click()
    lin.get_by_label("满意度（1–5 星）").select_option("5")
    _step(lin, "评价")
    case.refresh_from_db()
    assert (case.state, case.rating) == ("evaluated", 5)
    assert "已评价" in lin.content()
