"""Every story of the stories page, walked in a real browser (Debian's chromium) action by action exactly as the page
lists it, as the demo accounts, on the city the demo seeding service makes (no hand-made fixtures). A story whose
label, account or step no longer matches the pages fails here."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rongcheng.cases.models import Case
from rongcheng.demo.identity import demo_totp_secret
from rongcheng.demo.services import demo_city_seed
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.portal.stories import STORIES, Action
from rongcheng.registries.models import Person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_city(tmp_path: Path) -> Path:
    accounts = tmp_path / "demo-accounts.txt"
    demo_city_seed(persons=60, entities=20, accounts_file=accounts)
    return accounts


@pytest.fixture
def frozen_clock():
    """Each staff sign-in moves the identity clock to the next TOTP step: the same account signing in twice within
    30 seconds would otherwise present a replayed code."""
    clock.set(clock.now())
    yield clock
    clock.reset()


def _jpeg() -> bytes:
    image = Image.new("RGB", (64, 48), "green")
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


class Walker:
    def __init__(self, page: Any, base: str, accounts: Path, clock: Any) -> None:
        self.page, self.base, self.accounts_file, self.clock = page, base, accounts, clock
        self.passwords = {
            line.split("\t")[0]: line.split("\t")[1]
            for line in accounts.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")
        }
        self.licence = ""

    def main_text(self) -> str:
        return str(self.page.locator("main").inner_text())

    def do(self, action: Action) -> None:
        page = self.page
        if action.kind == "home":
            page.goto(f"{self.base}/")
        elif action.kind == "sign_in":
            page.locator("header").get_by_role("link", name="登录", exact=True).click()
            page.get_by_label("用户名").fill(action.target)
            page.get_by_label("密码").fill(self.passwords[action.target])
            page.get_by_role("button", name="登录", exact=True).click()
            if action.value == "staff":
                page.wait_for_url(f"{self.base}/account/sign-in/totp/")
                self.clock.advance(dt.timedelta(seconds=totp.STEP_SECONDS))
                secret = demo_totp_secret(self.accounts_file, action.target)
                assert secret is not None
                page.get_by_label("动态口令").fill(totp.totp(secret, self.clock.now()))
                page.get_by_role("button", name="验证", exact=True).click()
            page.wait_for_url(f"{self.base}/")
        elif action.kind == "sign_out":
            page.locator("header").get_by_role("button", name="退出", exact=True).click()
            page.wait_for_load_state()
        elif action.kind == "link":
            page.get_by_role("link", name=action.target, exact=True).first.click()
            page.wait_for_load_state()
        elif action.kind == "button":
            # The first such button, as for links: a page may offer it once per item (a report per credit subject).
            page.locator("main").get_by_role("button", name=action.target, exact=True).first.click()
            page.wait_for_load_state()
        elif action.kind == "fill":
            page.get_by_label(action.target, exact=True).fill(action.value)
        elif action.kind == "choose":
            page.get_by_label(action.target, exact=True).select_option(label=action.value)
        elif action.kind in ("number", "request_number"):
            page.locator("main").get_by_role("link", name=re.compile("^" + re.escape(action.target))).first.click()
            page.wait_for_load_state()
        elif action.kind == "field":
            value = page.locator("main dt", has_text=re.compile(f"^{re.escape(action.target)}$")).locator("+ dd")
            assert value.first.inner_text().strip() == action.value, action
        elif action.kind == "see":
            assert action.target in self.main_text(), action
        elif action.kind == "licence":
            issued = page.locator("#issued-licence")
            self.licence = issued.inner_text().strip()
            assert self.licence
            issued.click()
            page.wait_for_url(f"{self.base}/licences/verify/{self.licence}/")
        elif action.kind == "fill_licence":
            assert self.licence, "story 1 gives the licence this story verifies"
            page.get_by_label(action.target, exact=True).fill(self.licence)
        elif action.kind == "case":  # the case the resident reported in this story: the newest of the city
            number = Case.objects.filter(channel="resident").order_by("-id").values_list("number", flat=True).first()
            assert number
            page.locator("main").get_by_role("link", name=number, exact=True).first.click()
            page.wait_for_load_state()
        elif action.kind == "photo":
            page.get_by_label(action.target, exact=True).set_input_files(
                [{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}]
            )
        else:  # pragma: no cover - a new kind of action needs its walking here
            raise AssertionError(action.kind)


def test_every_story_ends_as_the_stories_page_says(browser, live_server, demo_city, frozen_clock):
    # The registry story searches for the demo resident's own person by name (the first person of seed 2017).
    assert Person.objects.order_by("id").values_list("name", flat=True).first() == "魏华杰"
    walked: list[str] = []
    issued_licence = ""
    for story in STORIES:
        context = browser.new_context(locale="zh-CN")  # each story starts signed out
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("console", lambda message, seen=errors: seen.append(message.text) if message.type == "error" else None)
        walker = Walker(page, live_server.url, demo_city, frozen_clock)
        if story.key == "verify-licence":
            walker.licence = issued_licence
        for number, step in enumerate(story.steps, 1):
            for action in step:
                try:
                    walker.do(action)
                except Exception as exc:
                    raise AssertionError(f"{story.key} step {number}: {action} failed at {page.url}") from exc
        if story.key == "residence-permit":
            issued_licence = walker.licence
        assert errors == [], story.key
        context.close()
        walked.append(story.key)
    assert walked == [
        "residence-permit",
        "food-permit",
        "verify-licence",
        "registry-search",
        "who-read-my-data",
        "data-sharing",
        "card-pay-fee",
        "credit-report",
        "city-case",
        "merchant-settlement",
    ]
