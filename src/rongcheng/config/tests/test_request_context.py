"""One request context per request (kernel.context): built by the outermost middleware, current while the request
runs, its id returned in X-Request-ID; and one function, not five copies, deciding the source address."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from rongcheng.config.middleware import RequestContextMiddleware
from rongcheng.kernel.context import (
    ActorKind,
    RequestContext,
    current,
    current_purpose,
    note_actor,
    purpose_stated,
    request_address,
    running,
    system,
)

PACKAGE = Path(__file__).resolve().parents[2]


def _through_middleware(request: HttpRequest) -> tuple[HttpResponse, list[RequestContext | None]]:
    seen: list[RequestContext | None] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(current())
        return HttpResponse("ok")

    return RequestContextMiddleware(view)(request), seen


def test_the_context_is_current_while_the_request_runs_and_its_id_returned():
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.7")
    response, seen = _through_middleware(request)
    (context,) = seen
    assert context is not None
    assert context.source_address == "198.51.100.7"
    assert context.actor_kind == ActorKind.ANONYMOUS
    assert re.fullmatch(r"[0-9a-f]{32}", context.request_id)
    assert response["X-Request-ID"] == context.request_id
    assert current() is None


def test_the_user_agent_is_kept_cut_to_300_characters():
    _, seen = _through_middleware(RequestFactory().get("/", HTTP_USER_AGENT="浏览器/1.0 " + "x" * 400))
    (context,) = seen
    assert context is not None
    assert context.user_agent == ("浏览器/1.0 " + "x" * 400)[:300]
    _, seen = _through_middleware(RequestFactory().get("/"))
    assert seen[0] is not None
    assert seen[0].user_agent == ""


@pytest.mark.parametrize(
    ("offered", "kept"),
    [("caller-trace-0001", True), ("short", False), ("bad id with spaces", False), ("x" * 65, False)],
)
def test_a_well_formed_incoming_request_id_is_kept(offered, kept):
    response, seen = _through_middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID=offered))
    assert (response["X-Request-ID"] == offered) is kept
    assert seen[0] is not None
    assert seen[0].request_id == response["X-Request-ID"]


@pytest.mark.django_db
def test_every_response_of_the_site_carries_a_request_id(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_who_acts_is_noted_once_authentication_decides():
    class ApiClient:
        pk = 7
        is_authenticated = True
        is_active = True
        is_superuser = False
        kind = "api_client"

        def get_username(self) -> str:
            return "client"

        def has_perm(self, perm: str, obj: object = None) -> bool:
            return False

    with running(system("licence expiry")) as job:
        assert job.actor_kind == ActorKind.SYSTEM
        assert job.job == "licence expiry"
    with running(RequestContext(request_id="r" * 32, source_address="192.0.2.1")):
        note_actor(ApiClient())
        context = current()
        assert context is not None
        assert (context.actor_kind, context.source_address) == (ActorKind.API_CLIENT, "192.0.2.1")
    assert current() is None


def test_no_address_means_none():
    assert request_address(RequestFactory().get("/", REMOTE_ADDR="")) is None


def test_one_place_reads_the_remote_address():
    """The five `_address(request)` copies are gone; a new one would be found here."""
    readers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "/tests/" not in path.as_posix() and "REMOTE_ADDR" in path.read_text(encoding="utf-8")
    ]
    assert readers == ["kernel/context.py"]


def test_a_stated_purpose_holds_for_the_block_only():
    with running(RequestContext(request_id="p" * 32, source_address="192.0.2.2")):
        assert current_purpose() == ""
        with purpose_stated("public_security") as stated:
            assert current_purpose() == "public_security"
            assert (stated.request_id, stated.source_address) == ("p" * 32, "192.0.2.2")
        assert current_purpose() == ""
    with purpose_stated(None):
        assert current_purpose() == ""
    assert current() is None
