"""Public pages kept whole for anonymous visitors: the same page with the visitor's own working CSRF token, one
query per view, a change shown at the next view, and nothing kept for a signed-in visitor or a pending message."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from rongcheng.hall.tests import factories as f
from rongcheng.kernel import pagecache

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _view(client: Client, path: str) -> tuple[Any, int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    found = TOKEN.search(response.content.decode())
    assert found is not None
    return response, len(queries), found.group(1)


@pytest.mark.parametrize("path", ["/", "/hall/"])
def test_a_new_visitor_gets_the_kept_page_with_a_token_of_their_own_that_works(path):
    f.service()
    first, _, first_token = _view(Client(), path)
    visitor = Client(enforce_csrf_checks=True)
    again, statements, token = _view(visitor, path)
    assert statements == 1  # the digest of the services shown; nothing loaded or rendered again
    assert token != first_token
    assert again.content.decode().replace(token, "T") == first.content.decode().replace(first_token, "T")
    assert visitor.cookies["csrftoken"].value == token  # the page's token is the cookie's secret
    assert "Cookie" in again["Vary"]
    assert pagecache.CSRF_PLACEHOLDER not in again.content.decode()

    switched = visitor.post("/i18n/setlang/", {"language": "en", "next": path, "csrfmiddlewaretoken": token})
    assert switched.status_code == 302
    assert visitor.cookies["django_language"].value == "en"
    english, _, _ = _view(visitor, path)
    assert '<html lang="en">' in english.content.decode()
    assert "Try these stories" in english.content.decode()
    forged = Client(enforce_csrf_checks=True)
    forged.cookies["csrftoken"] = token
    refused = forged.post("/i18n/setlang/", {"language": "en", "next": path, "csrfmiddlewaretoken": "x" * 32})
    assert refused.status_code == 403


def test_a_returning_visitor_keeps_their_token():
    visitor = Client(enforce_csrf_checks=True)
    _, _, token = _view(visitor, "/")
    _, _, again = _view(visitor, "/")
    assert again == token


def test_a_change_of_a_service_shows_on_the_kept_home_page_at_the_next_view():
    f.service()
    before, _, _ = _view(Client(), "/")
    assert "卫健委" not in before.content.decode()
    f.department("FZ-WJW", "福州市卫生健康委员会")
    f.service("WJW-001", department="FZ-WJW", name="医师执业注册")
    after, _, _ = _view(Client(), "/")
    assert "卫生健康委员会" in after.content.decode()


def test_a_signed_in_visitor_or_a_pending_message_is_never_served_the_kept_page():
    f.service()
    _view(Client(), "/")  # kept
    user = f.applicant("resident-a")
    signed_in = Client()
    signed_in.force_login(user)
    page, statements, _ = _view(signed_in, "/")
    assert statements > 1
    assert "退出" in page.content.decode()

    with_message = Client()
    request = RequestFactory().get("/")
    storage = CookieStorage(request)
    storage.add(constants.SUCCESS, "已退出登录。")
    response = HttpResponse()
    storage.update(response)
    with_message.cookies["messages"] = response.cookies["messages"].value
    shown, _, _ = _view(with_message, "/")
    assert "已退出登录。" in shown.content.decode()
    assert "已退出登录。" not in _view(Client(), "/")[0].content.decode()


def test_a_query_string_renders_afresh():
    f.service()
    f.service("GSJ-002", name="食品经营许可")
    _view(Client(), "/hall/")
    searched, _, _ = _view(Client(), "/hall/?q=食品")
    assert "食品经营许可" in searched.content.decode()
    assert "个体工商户设立登记" not in searched.content.decode()
