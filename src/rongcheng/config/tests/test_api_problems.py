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
        "request_id": response["X-Request-ID"],
    }


def test_bad_host_header_is_a_problem_too(client):
    response = client.get("/api/v1/health", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_problem_type_uris_resolve_to_a_description(client):
    response = client.get("/problems/validation-failed")
    assert response.status_code == 200
    assert "field path" in response.content.decode()


OVER_LIMIT = 3 * 1024 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE is Django's 2.5 MB


@pytest.mark.django_db
@pytest.mark.parametrize("year", ["0", "-1", "10000", "99999999999999999999999"])
def test_a_calendar_year_out_of_range_is_a_422_problem_not_a_500(client, year):
    response = client.get("/api/v1/hall/calendar", {"year": year})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "year"]


@pytest.mark.django_db
def test_an_oversized_body_on_the_public_verification_endpoint_is_a_413_problem(client):
    response = client.post(
        "/api/v1/licences/documents/verify", json.dumps({"content": "x" * OVER_LIMIT}), content_type="application/json"
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/payload-too-large"


@pytest.mark.django_db
def test_an_oversized_form_on_a_page_is_a_styled_413_page(client):
    response = client.post("/account/sign-in/", {"username": "x" * OVER_LIMIT, "password": "y"})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'data-status="413"' in page  # the site's error layout
    assert "<h1>提交的内容太大</h1>" in page
    assert "请缩小文件或分次提交" in page
    assert 'href="/"' in page  # the way back


@pytest.mark.django_db
def test_a_file_name_too_long_to_parse_is_a_400_problem(client):
    boundary = "b0undary"
    name = "材" * 5000 + ".pdf"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n%%EOF\n\r\n--{boundary}--\r\n"
    ).encode()
    response = client.generic(
        "POST", "/api/v1/hall/applications/1/materials/premises", body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )  # fmt: skip
    assert response.status_code in (400, 401)
    assert response["Content-Type"] == "application/problem+json"
