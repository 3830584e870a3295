"""Catalogue pages on a 390 px phone: the provider's answer to a sharing request (the data items to grant, then the
expiry with its label above its date, each on lines of their own: the label ran on after the last item's checkbox and
read as one more data item)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client

from rongcheng.catalogue import services
from rongcheng.catalogue.tests import factories as f
from rongcheng.hall.selectors import city_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_grant_forms_items_and_expiry_each_take_their_own_lines_at_390_px(page, live_server):
    resource = f.resource()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=[i["name"] for i in resource.items], purpose="低保审核",
        scenario="核对申请人经营情况", period_from=city_today(),
        period_until=city_today() + dt.timedelta(days=365), actor=f.requester(),
    )  # fmt: skip
    client = Client()
    client.force_login(f.steward(resource.provider))
    domain = live_server.url.split("://", 1)[1].split(":", 1)[0]
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "domain": domain, "path": "/",
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])  # fmt: skip
    page.goto(f"{live_server.url}/catalogue/sharing/{request.number}/")
    form = page.locator("form", has=page.get_by_role("button", name="同意共享", exact=True))
    items = [label.bounding_box() for label in form.locator("fieldset label").all()]
    assert len(items) == len(resource.items)
    label = form.get_by_text("授权有效期", exact=True).bounding_box()
    date = form.get_by_label("授权有效期", exact=True).bounding_box()
    assert label["y"] >= max(box["y"] + box["height"] for box in items)  # below every item, not beside the last
    assert date["y"] >= label["y"] + label["height"]  # the date under its label
    assert abs(date["x"] - label["x"]) < 1
    assert date["height"] < 3 * label["height"]  # one line's height, not the 12rem of the row's basis
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
