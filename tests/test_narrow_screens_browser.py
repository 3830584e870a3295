"""Every main page of the demo city fits a 390 px phone in both languages: nothing wider than the screen (a wide
table scrolls sideways inside its own labelled region, never the page), for the visitor, the resident, the company
and each kind of officer and administrator, on the city the demo seeding service makes (no hand-made fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from rongcheng.accounts.models import User
from rongcheng.demo.services import demo_city_seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 390

PAGES: dict[str | None, tuple[str, ...]] = {
    None: ("/", "/hall/", "/licences/verify/", "/stories/", "/cases/report/", "/credit/", "/opendata/", "/ogc/",
           "/ogc/collections/pois/items"),
    "resident": ("/hall/applications/", "/licences/mine/", "/registries/me/reads/", "/account/", "/card/",
                 "/cases/mine/", "/credit/mine/"),
    "company": ("/licences/mine/", "/hall/applications/"),
    "officer": ("/hall/workbench/", "/hall/calendar/"),
    "police": ("/registries/persons/",),
    "sysadmin": ("/staff/", "/staff/roles/", "/operations/"),
    "secadmin": ("/oidc/clients/", "/staff/duties/", "/operations/security/"),
    "auditor": ("/audit/",),
    "finance": ("/card/finance/clearing/",),
    "busop": ("/card/", "/card/merchant/"),
    "shop": ("/card/merchant/",),
    "cgdispatch": ("/cases/", "/cases/statistics/"),
    "credit": ("/credit/office/",),
    "data-office": ("/catalogue/", "/catalogue/sharing/", "/catalogue/statistics/"),
}  # fmt: skip


@pytest.fixture
def demo_city(tmp_path: Path) -> None:
    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "demo-accounts.txt")


def _session_cookie(username: str, domain: str) -> dict[str, Any]:
    client = Client()
    client.force_login(User.objects.get(username=username))
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {"name": settings.SESSION_COOKIE_NAME, "value": value, "domain": domain, "path": "/"}


def test_every_main_page_fits_a_390_px_phone_in_both_languages(browser, live_server, demo_city):
    base = live_server.url
    domain = base.split("://", 1)[1].split(":", 1)[0]
    too_wide: list[str] = []
    for language, locale in (("zh-hans", "zh-CN"), ("en", "en-GB")):
        for username, urls in PAGES.items():
            context = browser.new_context(locale=locale, viewport={"width": WIDTH, "height": 844})
            cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "domain": domain, "path": "/"}]
            if username:
                cookies.append(_session_cookie(username, domain))
            context.add_cookies(cookies)
            page = context.new_page()
            page.set_default_timeout(15_000)
            for url in urls:
                response = page.goto(f"{base}{url}")
                assert response is not None
                assert response.status == 200, (username, url, response.status)
                assert "/account/sign-in/" not in page.url, (username, url)
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > WIDTH:
                    too_wide.append(f"{url} as {username or 'visitor'} [{language}]: {width} px")
            context.close()
    assert too_wide == []
