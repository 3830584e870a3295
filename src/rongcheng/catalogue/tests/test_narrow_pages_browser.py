"""Catalogue and open data pages on a 390 px phone: the answer to a sharing request, by the provider or by the digital
office once the request is escalated (the data items to grant, then the expiry with its label above its date, each on
lines of their own: the label ran on after the last item's checkbox and read as one more data item); the data items
of a resource and the open data dictionary (named in words, their short cells on one line: 字符型 went a character
a line), the page never scrolling sideways."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from rongcheng.catalogue import services
from rongcheng.catalogue.tests import factories as f
from rongcheng.hall.selectors import city_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Any, live_server: Any, user: Any) -> None:
    client = Client()
    client.force_login(user)
    domain = live_server.url.split("://", 1)[1].split(":", 1)[0]
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "domain": domain, "path": "/",
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])  # fmt: skip


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _lines(cell: Any) -> int:
    """How many lines the cell's text takes: the distinct bottoms of the boxes its text lays out in (the cell itself
    is as tall as its row)."""
    return int(
        cell.evaluate("""e => { const range = document.createRange(); range.selectNodeContents(e);
        return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.bottom))).size; }""")
    )


def _one_line(cell: Any) -> None:
    assert _lines(cell) == 1, cell.inner_text()


@pytest.mark.parametrize("who", ["provider", "office"])
def test_the_grant_forms_items_and_expiry_each_take_their_own_lines_at_390_px(page, live_server, who):
    """The provider answers in time; the digital office answers a request escalated past its deadline. Both forms
    ask which data items to grant, in clear where asked, then until when."""
    resource = f.resource()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=[i["name"] for i in resource.items], purpose="低保审核",
        scenario="核对申请人经营情况", period_from=city_today(),
        period_until=city_today() + dt.timedelta(days=365), actor=f.requester(), clear_items=["legal_person"],
    )  # fmt: skip
    if who == "office":
        assert request.deadline is not None  # a conditional resource's request has one
        assert services.sharing_overdue_escalate(today=request.deadline + dt.timedelta(days=1)) == 1
    _sign_in(page, live_server, f.steward(resource.provider) if who == "provider" else f.office())
    page.goto(f"{live_server.url}/catalogue/sharing/{request.number}/")
    if who == "office":
        page.get_by_text("逾期督办", exact=True).wait_for()  # the escalation is told
    form = page.locator("form", has=page.get_by_role("button", name="同意共享", exact=True))
    items = [label.bounding_box() for label in form.locator("fieldset label").all()]
    assert len(items) == len(resource.items) + 1  # every item, then legal_person in clear
    label = form.get_by_text("授权有效期", exact=True).bounding_box()
    date = form.get_by_label("授权有效期", exact=True).bounding_box()
    assert label["y"] >= max(box["y"] + box["height"] for box in items)  # below every item, not beside the last
    assert date["y"] >= label["y"] + label["height"]  # the date under its label
    assert abs(date["x"] - label["x"]) < 1
    assert date["height"] < 3 * label["height"]  # one line's height, not the 12rem of the row's basis
    number = page.locator("h1 .request-number")
    assert number.inner_text() == request.number
    _one_line(number)  # quoted whole: it broke mid-number (GX2026120745040 / 840)
    _no_sideways_scroll(page)


@pytest.mark.parametrize(("language", "text_type"), [("zh-CN", "字符型"), ("en", "Text")])
def test_a_resources_data_items_are_named_in_words_on_one_line_each_at_390_px(
    browser, live_server, language, text_type
):
    """The data items' table names each item by its title, the API's field name beside it under its own header;
    the type and the name keep one line each, the table scrolls in its own box and the page does not."""
    context = browser.new_context(locale=language, viewport={"width": 390, "height": 844},
                                  extra_http_headers={"Accept-Language": language})  # fmt: skip
    page = context.new_page()
    try:
        resource = f.resource()
        _sign_in(page, live_server, f.requester())
        page.goto(f"{live_server.url}/catalogue/r/{resource.classification}/{resource.sequence}/")
        table = page.get_by_role("region", name="信息项" if language == "zh-CN" else "Data items").locator("table")
        headers = table.locator("thead th").all_inner_texts()
        assert headers[:4] == (["名称", "类型", "个人信息", "接口字段名"] if language == "zh-CN"
                               else ["Name", "Type", "Personal data", "API field"])  # fmt: skip
        first = table.locator("tbody tr").first
        assert first.locator("th").inner_text() == "统一社会信用代码"
        assert first.locator("td").first.inner_text() == text_type
        assert first.locator("td").nth(2).inner_text() == "credit_code"
        for row in table.locator("tbody tr").all():
            _one_line(row.locator("th"))
            _one_line(row.locator("td").first)
        _no_sideways_scroll(page)
    finally:
        context.close()


def test_the_open_data_dictionarys_types_keep_one_line_at_390_px(page, live_server):
    dataset = f.published("population", backing="registries.population_by_division")
    resource = dataset.resources.get()
    page.goto(f"{live_server.url}/opendata/dataset/population/resource/{resource.uuid}")
    table = page.get_by_role("region", name="数据字典").locator("table")
    rows = table.locator("tbody tr").all()
    assert len(rows) >= 4
    for row in rows:
        _one_line(row.locator("th, td").first)  # 行政区划代码
        _one_line(row.locator("th, td").nth(2))  # 字符型
    assert rows[0].locator("th, td").nth(2).inner_text() == "字符型"
    _no_sideways_scroll(page)


def test_the_sharing_forms_items_are_named_by_their_titles_the_api_field_secondary(page, live_server):
    resource = f.resource()
    _sign_in(page, live_server, f.requester())
    page.goto(f"{live_server.url}/catalogue/r/{resource.classification}/{resource.sequence}/request/")
    checkbox = page.get_by_role("checkbox", name="统一社会信用代码 接口字段名 credit_code", exact=True)
    assert checkbox.count() == 1
    label = page.locator("label", has=checkbox)
    assert not label.inner_text().strip().startswith("credit_code")
    assert "（credit_code）" not in label.inner_text()
    field = label.locator(".api-field")
    title_size = float(label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert float(field.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) < title_size  # secondary
    _no_sideways_scroll(page)


def test_the_statistics_headers_and_names_keep_their_words_together_at_390_px(page, live_server):
    """A header (更新逾期, 收到共享申请) takes at most two lines and a department's name at most two, not a character
    or four a line; the figures one line; the table scrolls in its own box and the page does not."""
    f.resource(provider=f.department("FZ-GSJ", "福州市市场监督管理局"))
    _sign_in(page, live_server, f.staff())
    page.goto(f"{live_server.url}/catalogue/statistics/")
    table = page.locator("table.statistics")
    for header in table.locator("thead th").all():
        assert _lines(header) <= 2, header.inner_text()
    name = table.locator("#dept-fz-gsj th")
    assert name.inner_text() == "福州市市场监督管理局"
    assert _lines(name) <= 2
    room = "e => { const s = getComputedStyle(e); return (e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)) / parseFloat(s.fontSize); }"  # noqa: E501
    assert name.evaluate(room) >= 7.9  # eight characters a line (clientWidth is whole pixels)
    for cell in table.locator("#dept-fz-gsj td").all():
        _one_line(cell)
    _no_sideways_scroll(page)


@pytest.mark.parametrize("path", ["/opendata/", "/catalogue/"])
def test_on_a_phone_a_link_above_the_facets_leads_past_them_to_the_results(browser, live_server, path):
    """The facets come first on a phone (forty departments in the demo city put the results thousands of pixels
    down): a link at their top leads to the results; on a wide screen, facets beside the results, it is not shown."""
    for n in range(12):  # twelve providers: the facets are taller than a phone's screen
        department = f.department(f"FZ-T{n:02d}", f"福州市测试局{n:02d}")
        if path == "/opendata/":
            f.published(f"test-{n:02d}", org=department)
        else:
            f.resource(provider=department)
    for width, shown in ((390, True), (1280, False)):
        context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 700},
                                      extra_http_headers={"Accept-Language": "zh-CN"})  # fmt: skip
        page = context.new_page()
        try:
            if path == "/catalogue/":
                _sign_in(page, live_server, f.requester())
            page.goto(f"{live_server.url}{path}")
            link = page.get_by_role("link", name="跳到搜索结果", exact=True)
            results = page.locator("#results")
            assert link.is_visible() is shown
            if shown:
                assert results.bounding_box()["y"] > 700  # below the first screen, under the facets
                link.click()
                page.wait_for_function("location.hash === '#results'")
                assert abs(results.evaluate("e => e.getBoundingClientRect().top")) < 2  # scrolled to the results
                _no_sideways_scroll(page)
        finally:
            context.close()


def test_an_editors_resource_page_with_its_upload_form_fits_390_px(page, live_server):
    """The upload form's file input (its button and "no file chosen") pushed the page 8 px wider than the phone."""
    resource = f.resource()
    _sign_in(page, live_server, f.editor(resource.provider))
    page.goto(f"{live_server.url}/catalogue/r/{resource.classification}/{resource.sequence}/")
    upload = page.locator("input[type=file]")
    assert upload.count() == 1
    box = upload.bounding_box()
    assert box["x"] + box["width"] <= 390
    _no_sideways_scroll(page)
