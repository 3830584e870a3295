"""The machine path (config.machine) through Django's WSGI handler, as granian calls config.wsgi.application: a
cookie-less call under /api/ or to the token endpoints gets exactly the answer and headers the whole chain gives it;
a request with a cookie still goes through sessions, accounts and CSRF; each department system's call still leaves
exactly one exchange-log row, written when the server closes the response."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory, override_settings
from tests.api_callers import callers

from rongcheng.accounts.management.commands.api_client_create import api_client_create
from rongcheng.accounts.models import Department
from rongcheng.audit.services import Actor
from rongcheng.config.machine import MACHINE_PREFIXES, SKIPPED_FOR_MACHINE_CALLS, is_machine_call, machine_middleware
from rongcheng.operations.models import ExchangeRecord

pytestmark = pytest.mark.django_db

MACHINE = "rongcheng.config.machine.MachineCallMiddleware"
# Differ between any two answers: the request's own id and the moment of the answer.
VARYING = {"X-Request-ID", "Expires", "Date"}


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def stable_headers(self) -> list[tuple[str, str]]:
        """Every header but those that differ between any two answers; `Vary` without `Cookie` (below)."""
        return sorted(
            (name, _vary_without_cookie(value) if name == "Vary" else value)
            for name, value in self.headers
            if name not in VARYING
        )

    def names(self) -> set[str]:
        return {name for name, _ in self.headers}


def _vary_without_cookie(value: str) -> str:
    """The one difference a machine call's answer may have: the whole chain adds `Vary: Cookie` when something read
    the (empty) session of a cookie-less request, e.g. a rate limit asking whether anyone is signed in. The answer is
    `no-store` and the request carried no cookie, so no cache can have stored it by cookie; the machine chain has no
    session to read and does not add it."""
    return ", ".join(part for part in (p.strip() for p in value.split(",")) if part != "Cookie")


def _environ(method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> dict[str, Any]:
    parts = urlsplit(url)
    environ: dict[str, Any] = RequestFactory()._base_environ(  # type: ignore[attr-defined]
        PATH_INFO=parts.path, QUERY_STRING=parts.query, REQUEST_METHOD=method, CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body)},
    )  # fmt: skip
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


def _call(handler: WSGIHandler, environ: dict[str, Any], *, close: bool = True) -> tuple[Answer, Any]:
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.update(status=status, headers=headers)

    result = handler(environ, start_response)  # type: ignore[arg-type]
    body = b"".join(result)
    if close:
        result.close()
    return Answer(started["status"], started["headers"], body), result


@pytest.fixture
def handlers() -> Iterator[tuple[WSGIHandler, WSGIHandler]]:
    """The site's handler (with the machine path) and the same without it, built side by side. As Django's test
    client does, the connection is not closed at each request's start and end: that would end the test's
    transaction."""
    with override_settings(MIDDLEWARE=[path for path in settings.MIDDLEWARE if path != MACHINE]):
        whole = WSGIHandler()
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler(), whole
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _without_request_id(body: bytes) -> Any:
    document = json.loads(body)
    if isinstance(document, dict):
        document.pop("request_id", None)
        document.pop("access_token", None)
    return document


def test_the_machine_chain_is_the_site_chain_less_only_what_serves_sessions_cookies_and_static_files():
    chain = machine_middleware()
    assert chain == [path for path in settings.MIDDLEWARE if path not in SKIPPED_FOR_MACHINE_CALLS]
    assert settings.MIDDLEWARE[0] == MACHINE
    for kept in ("RequestContextMiddleware", "ObservationMiddleware", "NoStoreMiddleware", "ApiProblemMiddleware",
                 "SecurityMiddleware", "XFrameOptionsMiddleware", "ContentSecurityPolicyMiddleware",
                 "LocaleMiddleware", "CommonMiddleware", "ControlCharacterMiddleware", "RefusalAuditMiddleware",
                 "RateLimitedMiddleware", "WriteRateLimitMiddleware"):  # fmt: skip
        assert any(path.endswith(f".{kept}") for path in chain), kept
    assert len(chain) == len(settings.MIDDLEWARE) - len(SKIPPED_FOR_MACHINE_CALLS)


@pytest.mark.parametrize(
    ("path", "cookie", "machine"),
    [
        ("/api/v1/health", None, True),
        ("/oauth/token/", None, True),
        ("/oauth/introspect/", None, True),
        ("/api/v1/health", "sessionid=x", False),
        ("/api/v1/health", "django_language=en", False),  # any cookie: the whole chain
        ("/oauth/authorize/", None, False),
        ("/oauth/userinfo/", None, False),
        ("/hall/", None, False),
        ("/apiary", None, False),
    ],
)
def test_which_requests_take_the_machine_chain(path: str, cookie: str | None, machine: bool):
    headers = {"Cookie": cookie} if cookie else {}
    request = RequestFactory().get(path, headers=headers)
    assert is_machine_call(request) is machine
    assert all(prefix.endswith("/") for prefix in MACHINE_PREFIXES)


def test_machine_calls_get_the_same_status_headers_and_body_as_through_the_whole_chain(handlers):
    site, whole = handlers
    caller = next(caller for caller in callers() if caller.kind == "client")
    bearer = caller.headers
    Department.objects.create(code="FZ-TJJ", name="福州市统计局")
    application, secret = api_client_create(
        name="machine-path", department_code="FZ-TJJ", scopes=["registries:read"], actor=Actor.system("test")
    )
    basic = {"Authorization": "Basic " + base64.b64encode(f"{application.client_id}:{secret}".encode()).decode(),
             "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    wrong = {**basic, "Authorization": "Basic " + base64.b64encode(f"{application.client_id}:x".encode()).decode()}
    grant = b"grant_type=client_credentials"
    persons = "/api/v1/registries/persons?name=%E5%BC%A0&purpose=service_hall"
    requests: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("GET", "/api/v1/health", b"", {}),
        ("GET", persons, b"", bearer),
        ("GET", persons, b"", {**bearer, "Accept-Language": "en"}),
        ("GET", persons, b"", {}),  # 401
        ("GET", persons, b"", {"Authorization": "Bearer nope"}),
        ("GET", "/api/v1/registries/persons/999999?purpose=service_hall", b"", bearer),  # 404
        ("GET", "/api/v1/staff/accounts", b"", bearer),  # a scope the token lacks: 403, audited
        ("GET", "/api/v1/registries/persons?name=%00&purpose=service_hall", b"", bearer),  # control character
        ("GET", "/api/v1/no/such/route", b"", bearer),
        ("PUT", "/api/v1/health", b"{}", {"Content-Type": "application/json"}),  # 405
        ("POST", "/api/v1/registries/persons/by-id-number", b"{x", {**bearer, "Content-Type": "application/json"}),
        ("POST", "/oauth/token/", grant, basic),
        ("POST", "/oauth/token/", grant, {**basic, "Accept-Language": "en"}),
        ("POST", "/oauth/token/", grant, wrong),  # 401 invalid_client
        ("POST", "/oauth/token/", b"grant_type=password", basic),  # 400 unsupported grant type
        ("GET", "/oauth/token/", b"", {}),
    ]  # fmt: skip
    for method, url, body, headers in requests:
        light, _ = _call(site, _environ(method, url, body=body, headers=headers))
        full, _ = _call(whole, _environ(method, url, body=body, headers=headers))
        where = f"{method} {url} {headers.get('Accept-Language', '')}"
        assert light.status == full.status, where
        assert light.stable_headers() == full.stable_headers(), where
        assert light.names() == full.names(), where
        if light.body.startswith((b"{", b"[")):
            assert _without_request_id(light.body) == _without_request_id(full.body), where
        else:
            assert light.body == full.body, where
        names = light.names()
        assert "X-Request-ID" in names, where
        if url.startswith("/api/"):
            assert dict(light.headers)["Cache-Control"].startswith(("max-age=0, no-cache, no-store", "no-store")), where
        for header in ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Content-Language"):
            assert header in names, (where, header)


def test_a_request_with_a_session_cookie_still_goes_through_sessions_accounts_and_csrf(handlers):
    site, _ = handlers
    officer = next(caller for caller in callers() if caller.kind == "officer").user
    browser = Client()
    browser.force_login(officer)
    session = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    answer, _ = _call(site, _environ("GET", "/api/v1/identity/sessions", headers={"Cookie": session}))
    assert answer.status.startswith("200"), answer.body  # the session's account, read by the session middleware
    assert "Cookie" in dict(answer.headers).get("Vary", "")
    refused, _ = _call(site, _environ("POST", "/api/v1/identity/sessions/1/end", headers={"Cookie": session}))
    assert refused.status.startswith("403"), refused.body  # no CSRF token: refused as before
    assert json.loads(refused.body)["type"] == "/problems/csrf-failed"
    without, _ = _call(site, _environ("GET", "/api/v1/identity/sessions"))
    assert without.status.startswith("401")  # the same call without the cookie: no session to use


def test_each_call_has_exactly_one_exchange_row_written_when_the_server_closes_the_response(handlers):
    site, _ = handlers
    caller = next(caller for caller in callers() if caller.kind == "client")
    url = "/api/v1/registries/persons?name=%E5%BC%A0&purpose=service_hall"
    answer, result = _call(site, _environ("GET", url, headers=caller.headers), close=False)
    assert answer.status.startswith("200")
    assert ExchangeRecord.objects.count() == 0  # the answer is out; its row follows when the server closes it
    result.close()
    assert ExchangeRecord.objects.count() == 1
    for _ in range(4):
        _call(site, _environ("GET", url, headers=caller.headers))
    _call(site, _environ("GET", "/api/v1/registries/persons/999999?purpose=service_hall", headers=caller.headers))
    records = list(ExchangeRecord.objects.order_by("pk"))
    assert len(records) == 6
    assert len({record.request_id for record in records}) == 6
    for record in records:
        assert record.client_id == "system-caller"
        assert record.request_in_at <= record.request_out_at <= record.response_in_at <= record.response_out_at
    assert [record.status for record in records] == [200] * 5 + [404]
    assert records[0].response_bytes == len(answer.body)
    assert records[0].purpose == "service_hall"
