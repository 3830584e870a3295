"""Every API error is an RFC 9457 problem document with a stable type URI."""

import json

import pytest
from django.test import RequestFactory
from ninja.errors import AuthenticationError

from rongcheng.config.api import api
from rongcheng.kernel.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)


@pytest.mark.parametrize(
    ("exc", "status", "type_uri", "title"),
    [
        (ValidationFailed("bad", errors=[{"loc": ["body", "x"], "rule": "r", "msg": "m"}]), 422,
         "/problems/validation-failed", "Validation failed"),
        (NotAuthenticated("who?"), 401, "/problems/unauthenticated", "Authentication required"),
        (PermissionDenied("no"), 403, "/problems/forbidden", "Forbidden"),
        (NotFound("gone"), 404, "/problems/not-found", "Not found"),
        (Conflict("twice"), 409, "/problems/conflict", "Conflict"),
        (RateLimited("slow down", retry_after=30), 429, "/problems/rate-limited", "Too many requests"),
    ],
)  # fmt: skip
def test_domain_errors_map_to_problem_documents(exc, status, type_uri, title):
    request = RequestFactory().get("/api/v1/anything?x=1")
    response = api.on_exception(request, exc)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["type"] == type_uri
    assert body["title"] == title
    assert body["status"] == status
    assert body["detail"] == exc.detail
    assert body["instance"] == "/api/v1/anything?x=1"
    if status == 429:
        assert response["Retry-After"] == "30"
        assert body["retry_after"] == 30
    if status == 422:
        assert body["errors"] == [{"loc": ["body", "x"], "rule": "r", "msg": "m"}]


def test_authentication_error_is_401():
    response = api.on_exception(RequestFactory().get("/api/v1/x"), AuthenticationError())
    assert response.status_code == 401
    assert json.loads(response.content)["type"] == "/problems/unauthenticated"


def test_unexpected_error_is_500_without_internals(caplog):
    response = api.on_exception(RequestFactory().get("/api/v1/x"), RuntimeError("password=hunter2 in traceback"))
    assert response.status_code == 500
    body = json.loads(response.content)
    assert body["type"] == "/problems/internal-error"
    assert "hunter2" not in response.content.decode()
    assert "Unhandled error in API request GET /api/v1/x" in caplog.text


def test_wrong_method_is_a_405_problem_naming_the_allowed_methods(client):
    response = client.post("/api/v1/health", data="{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response["Allow"] == "GET"
    assert json.loads(response.content) == {
        "type": "/problems/method-not-allowed",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "This path accepts GET.",
        "instance": "/api/v1/health",
    }


def test_bad_host_header_is_a_problem_too(client):
    response = client.get("/api/v1/health", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_problem_type_uris_resolve_to_a_description(client):
    response = client.get("/problems/validation-failed")
    assert response.status_code == 200
    assert "field path" in response.content.decode()
