"""The resident's card page on a 390 px phone: the receipts say what was paid for on one line (居住证补领工本费 went
three characters a line beside the receipt number), the day of issue on one line, and neither the page nor the table
scrolls sideways."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from rongcheng.accounts.models import Department
from rongcheng.card import services
from rongcheng.card.models import Receipt
from rongcheng.card.tests.factories import SYSTEM, card_with
from rongcheng.registries.tests.factories import make_person, resident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _lines(cell: Any) -> int:
    """How many lines the cell's text takes: the distinct bottoms of the boxes its text lays out in."""
    return int(
        cell.evaluate("""e => { const range = document.createRange(); range.selectNodeContents(e);
        return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.bottom))).size; }""")
    )


@pytest.mark.parametrize(("language", "item_header"), [("zh-CN", "缴费项目"), ("en", "Item")])
def test_the_receipts_say_what_was_paid_for_on_one_line_at_390_px(browser, live_server, language, item_header):
    person = make_person()
    holder = resident("holder", person=person)
    card = card_with(5000, holder=person.id_number_index)
    department = Department.objects.get_or_create(code="FZ-GAJ", defaults={"name": "福州市公安局"})[0]
    client = Client()
    client.force_login(holder)
    for item in ("居住证补领工本费", "居民身份证工本费"):
        bill = services.bill_issue(department_id=department.pk, item=item, payer_name="魏",
                                   payer_index=person.id_number_index, amount=1000, actor=SYSTEM)  # fmt: skip
        assert client.post(f"/card/bills/{bill.payment_code}/pay/", {"card": card.reference}).status_code == 302
    assert Receipt.objects.count() == 2
    context = browser.new_context(locale=language, viewport={"width": 390, "height": 844},
                                  extra_http_headers={"Accept-Language": language})  # fmt: skip
    try:
        domain = live_server.url.split("://", 1)[1].split(":", 1)[0]
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "domain": domain, "path": "/",
                              "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])  # fmt: skip
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/card/")
        table = page.locator("table.receipts")
        assert table.locator("thead th").first.inner_text() == item_header
        rows = table.locator("tbody tr").all()
        assert [row.locator("td").first.inner_text() for row in rows] == ["居民身份证工本费", "居住证补领工本费"]
        for row in rows:
            assert _lines(row.locator("td").first) == 1  # the item on one line
            assert _lines(row.locator(".day")) == 1  # the day on one line
            assert row.get_by_role("link").inner_text().startswith("R")  # the number, to verify the receipt
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert table.evaluate("e => e.scrollWidth <= e.clientWidth")  # nothing hidden to the right
    finally:
        context.close()
