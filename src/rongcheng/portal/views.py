"""Portal pages: home, problem-type descriptions and error pages (HTML, or problem+json under /api/)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from rongcheng.kernel.problems import problem_response
from rongcheng.portal.capabilities import CAPABILITIES

PROBLEM_TYPES = {
    "bad-request": "The request could not be understood.",
    "validation-failed": "Input broke a validation rule; `errors` lists each rule with its field path.",
    "unauthenticated": "The request needs a signed-in user or an API client's token.",
    "forbidden": "The caller is not entitled to this action.",
    "not-found": "The resource does not exist or is not visible to the caller.",
    "conflict": "The request conflicts with the current state of the resource.",
    "method-not-allowed": "The path does not accept this HTTP method; Allow lists those it accepts.",
    "payload-too-large": "The request body is larger than the server accepts.",
    "unsupported-media-type": "The request body is not in a format this path accepts.",
    "rate-limited": "Too many requests; retry after the time given in Retry-After.",
    "internal-error": "The server failed; the request changed nothing it could not roll back.",
}


def _capability_items() -> list[dict[str, Any]]:
    items = []
    for capability in CAPABILITIES:
        href = None
        if capability.url_name:
            try:
                href = reverse(capability.url_name)
            except NoReverseMatch:
                href = None
        items.append({"capability": capability, "href": href})
    return items


def home(request: HttpRequest) -> HttpResponse:
    """The portal's home page; its list of capabilities, fixed in the code, is a fragment cached per language for the
    life of the process, so it is built and rendered once."""
    return render(request, "portal/home.html", {"items": SimpleLazyObject(_capability_items)})


def problem_type(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in PROBLEM_TYPES and not slug.startswith("http-"):
        raise Http404(slug)
    return render(request, "portal/problem_type.html", {"slug": slug, "text": PROBLEM_TYPES.get(slug, "")})


def error_page(request: HttpRequest, status: int) -> HttpResponse:
    """The translated page of an error status (400, 403, 404, 500)."""
    return render(request, "portal/error.html", {"status": status}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(request, status=404, type_slug="not-found", title="Not found", detail="No such path.")
    return error_page(request, 404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(request, status=403, type_slug="forbidden", title="Forbidden", detail="Forbidden.")
    return error_page(request, 403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(
            request, status=400, type_slug="bad-request", title="Bad request", detail="Bad request."
        )
    return error_page(request, 400)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(
            request, status=500, type_slug="internal-error", title="Internal server error", detail="Server error."
        )
    return error_page(request, 500)
