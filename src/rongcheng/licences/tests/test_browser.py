"""The journey of a licence's QR code in a real browser: valid, then revoked."""

from __future__ import annotations

import pytest

from rongcheng.licences.services import licence_transition
from rongcheng.licences.tests.factories import department, issue_marriage, make_person, marriage_type, officer, with_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_verification_page_from_the_qr_url_shows_valid_then_revoked(live_server, page):
    dept = with_key(department())
    marriage_type(dept)
    clerk = officer(dept)
    licence = issue_marriage(clerk, make_person())
    url = f"{live_server.url}/licences/verify/{licence.identifier}/"  # what the QR code encodes
    page.goto(url)
    verdict = page.locator(".verdict")
    assert verdict.get_attribute("data-verdict") == "valid"
    assert "真实有效" in verdict.inner_text()
    licence_transition(licence=licence, action="revoke", reason="以欺骗手段取得", actor=clerk)
    page.reload()
    assert page.locator(".verdict").get_attribute("data-verdict") == "revoked"
    assert "撤销" in page.locator("[data-status]").inner_text()
