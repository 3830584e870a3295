"""WCAG 2.1 AA on the main pages, checked with axe-core in a real browser (Debian's chromium), in both languages, on
a desktop and on a 390 px phone: no serious or critical violation. axe-core is the copy vendored by the PyPI package
axe-playwright-python, injected into the page; nothing is fetched at run time."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from rongcheng.hall.tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
PAGES = (
    "/",  # home
    "/hall/",  # the catalogue
    "/hall/services/GSJ-001/",  # a service
    "/account/sign-in/",
    "/licences/verify/",
    "/stories/",
    "/no-such-page/",  # the 404 page
    "/cases/report/",  # report a problem in the street (map and form)
    "/credit/",  # public credit search
    "/opendata/",  # the open data portal
    "/ogc/",  # the city's layers
)


def _serious(results: Any) -> list[str]:
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']][:5]}"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize(("locale", "lang"), [("zh-CN", "zh-hans"), ("en-GB", "en")])
def test_the_main_pages_have_no_serious_or_critical_wcag_violation(browser, live_server, locale, lang):
    f.service()
    axe = Axe()
    found: dict[str, list[str]] = {}
    for width, height in ((1280, 900), (390, 844)):
        context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(15_000)
        for path in PAGES:
            page.goto(f"{live_server.url}{path}")
            assert page.locator("html").get_attribute("lang") == lang, path
            serious = _serious(axe.run(page, options=WCAG_21_AA))
            if serious:
                found[f"{path} at {width}px"] = serious
        context.close()
    assert found == {}


def test_the_check_finds_what_it_is_for(page):
    """The vendored axe-core runs in the page and reports a missing label, a missing alternative text, title and
    language as serious or critical: an empty result above means a clean page, not a check that did not run."""
    page.set_content("<html><body><img src='x.png'><input name='q'></body></html>")
    ids = {text.split(" ")[0] for text in _serious(Axe().run(page, options=WCAG_21_AA))}
    assert ids == {"document-title", "html-has-lang", "image-alt", "label"}


def _tab_to(page: Any, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element's text, value or label is `name` (as a keyboard user moves)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement; if (!e) return "";
                 const label = e.labels && e.labels.length ? e.labels[0].innerText : "";
                 return [(e.innerText || "").trim(), (e.value || "").trim(), label.trim()].join("|"); }"""
        )
        if name in focused.split("|"):
            return
    raise AssertionError(f"{name!r} cannot be reached with the Tab key")


def _enter(page: Any) -> None:
    """Press Enter on the focused link or button and wait for the page it opens."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_resident_completes_an_application_with_the_keyboard_alone(page, live_server):
    """Sign in, find the residence permit, apply, fill from the government's records and submit: Tab, typing and
    Enter only, never the mouse (WCAG 2.1.1)."""
    from rongcheng.hall.models import Application, State
    from rongcheng.hall.tests.licensed import property_for, setup_licences

    setup = setup_licences()
    resident = f.applicant("lin")
    property_for(resident, setup)
    base = live_server.url
    page.goto(f"{base}/")
    _tab_to(page, "登录")
    _enter(page)
    assert page.url == f"{base}/account/sign-in/"
    _tab_to(page, "用户名")
    page.keyboard.type("lin")
    _tab_to(page, "密码")
    page.keyboard.type("Rc-test-2017!")
    _enter(page)
    assert page.url == f"{base}/"
    _tab_to(page, "查找事项")
    page.keyboard.type("居住证")
    _enter(page)
    for name in ("居住证办理", "在线申请", "一键填入政府已有材料"):
        _tab_to(page, name)
        _enter(page)
    assert "人口基础信息库" in page.locator(".materials").inner_text()
    _tab_to(page, "提交申请")
    _enter(page)
    assert page.locator("#state").inner_text() == "已提交"
    assert Application.objects.get().state == State.SUBMITTED
