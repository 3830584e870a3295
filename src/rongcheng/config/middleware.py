"""Turn every error response under /api/ into an RFC 9457 problem document.

Django-ninja answers some errors itself (405 on a wrong method, 400 on an unreadable body) and Django answers
others (400 on a bad Host, 403 on CSRF) with HTML; API clients must get the same problem documents everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from rongcheng.kernel.context import from_request, running
from rongcheng.kernel.problems import PROBLEM_CONTENT_TYPE, problem_response

_SLUGS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
          409: "conflict", 413: "payload-too-large", 415: "unsupported-media-type", 422: "validation-failed",
          429: "rate-limited", 500: "internal-error"}  # fmt: skip


class ApiProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith("/api/")
            or response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)
        ):
            return response
        status = response.status_code
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = phrase + "."
        if status == 405 and response.has_header("Allow"):
            detail = f"This path accepts {response['Allow']}."
        if response.get("Content-Type", "").startswith("application/json") and status not in _SLUGS:
            return response
        problem = problem_response(
            request, status=status, type_slug=_SLUGS.get(status, f"http-{status}"), title=phrase, detail=detail
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if response.has_header(header):
                problem[header] = response[header]
        return problem


class RequestContextMiddleware:
    """Build the request context once (kernel.context: request id, source address) and make it current while the
    request runs; the id goes back in X-Request-ID so a caller can quote it and an operator find it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = from_request(request)
        with running(context):
            response = self.get_response(request)
        response["X-Request-ID"] = context.request_id
        return response
