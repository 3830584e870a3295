"""The map component in a real browser at phone width (390 px), under the site's Content-Security-Policy: the
outlines and points drawn from /ogc/ without a tile server, and a click writing the point into the form's inputs."""

from __future__ import annotations

import time

import pytest

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.services import Actor
from rongcheng.registries.models import Address
from rongcheng.spatial.services import poi_register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Rc-test-2017!"
A1 = "福州市鼓楼区鼓东街道鼓东社区杨桥路101号"


def _until(condition, seconds: float = 10.0) -> None:
    """Poll from the test (page.wait_for_function evaluates a string: the site's CSP refuses eval)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the page did not get there in time")
        time.sleep(0.1)


def test_the_map_draws_the_platform_layers_and_a_click_picks_a_point(page, live_server, small_city):
    # The map fetches several layers at once, each counted by the rate limiter (conftest: on SQLite the live server
    # answers them one at a time).
    poi_register(actor=Actor.system("tests"), kind="park", name="西湖公园", x=119.28, y=26.09)
    Address.objects.create(text=A1, division_code="350102", longitude=119.225, latitude=26.025)
    User.objects.create_user(username="lin", password=PASSWORD, kind=AccountKind.RESIDENT)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(live_server.url) else None)

    page.goto(live_server.url + "/ogc/")
    page.wait_for_selector(".rc-map.leaflet-container")
    _until(lambda: page.locator(".rc-map .leaflet-overlay-pane path").count() >= 3)
    assert page.locator(".rc-map").bounding_box()["width"] <= 390

    page.goto(live_server.url + "/account/sign-in/?next=/spatial/geocode/")
    page.get_by_label("用户名").fill("lin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/spatial/geocode/")
    page.get_by_label("地址").fill("鼓楼区鼓东街道杨桥路101号")
    page.get_by_role("button", name="查询").click()
    page.wait_for_selector(".leaflet-marker-icon")
    assert page.input_value("#geocoded-lon") == "119.225000"
    box = page.locator(".rc-map").bounding_box()
    assert box is not None
    page.locator(".rc-map").click(position={"x": 20, "y": box["height"] - 20})  # scrolled into view first
    _until(lambda: page.input_value("#geocoded-lon") != "119.225000")
    lon, lat = float(page.input_value("#geocoded-lon")), float(page.input_value("#geocoded-lat"))
    assert lon < 119.225
    assert lat < 26.025
    assert problems == []
    assert external == []
    # The picked point moved the map, which fetches the layers again: let those requests finish here rather than
    # on the live server while the next test builds its own city.
    page.wait_for_load_state("networkidle")
