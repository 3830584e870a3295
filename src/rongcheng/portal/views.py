"""Portal pages: home, problem-type descriptions and error pages (HTML, or problem+json under /api/)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from rongcheng.hall.models import ServiceItem
from rongcheng.hall.selectors import service_catalogue_stamp
from rongcheng.kernel import pagecache
from rongcheng.kernel.problems import problem_response
from rongcheng.portal.capabilities import CAPABILITIES
from rongcheng.portal.stories import ACCOUNTS_FILE, STORIES

PROBLEM_TYPES = {
    "bad-request": "The request could not be understood.",
    "validation-failed": "Input broke a validation rule; `errors` lists each rule with its field path.",
    "unauthenticated": "The request needs a signed-in user or an API client's token.",
    "forbidden": "The caller is not entitled to this action.",
    "csrf-failed": "A form or session call lacked a valid CSRF token; reload the form and send it again.",
    "not-found": "The resource does not exist or is not visible to the caller.",
    "conflict": "The request conflicts with the current state of the resource.",
    "method-not-allowed": "The path does not accept this HTTP method; Allow lists those it accepts.",
    "payload-too-large": "The request body is larger than the server accepts.",
    "unsupported-media-type": "The request body is not in a format this path accepts.",
    "rate-limited": "Too many requests; retry after the time given in Retry-After.",
    "internal-error": "The server failed; the request changed nothing it could not roll back.",
}


# Life events (人生事件) and the catalogue search that finds their services.
LIFE_EVENTS = (
    (_("生育"), "出生"),
    (_("结婚"), "结婚"),
    (_("住房"), "公积金"),
    (_("社会保障"), "保"),
    (_("养老和助残"), "贴"),
    (_("开办企业"), "企业"),
    (_("出行"), "驾驶证"),
)


def home(request: HttpRequest) -> HttpResponse:
    """Tasks first (apply, follow my applications, my licences, verify a licence), then the platform's capabilities:
    those that exist linked (when the viewer may open them), the coming ones said to be coming."""
    if pagecache.cacheable(request):  # anonymous: the same page for everyone, kept until a service changes
        return pagecache.anonymous_page(request, service_catalogue_stamp(), lambda extra: _home(request, extra))
    return _home(request, {})


def _home(request: HttpRequest, extra: dict[str, str]) -> HttpResponse:
    user = request.user
    available: list[dict[str, Any]] = []
    coming: list[dict[str, Any]] = []
    for capability in CAPABILITIES:
        href = None
        if capability.url_name and (not capability.permission or user.has_perm(capability.permission)):
            try:
                href = reverse(capability.url_name)
            except NoReverseMatch:
                href = None
        (available if capability.available else coming).append({"capability": capability, "href": href})
    departments = (
        ServiceItem.objects.filter(active=True).order_by("department__code")
        .values_list("department__code", "department__short_name").distinct()
    )  # fmt: skip
    return render(
        request, "portal/home.html",
        {"available": available, "coming": coming, "life_events": LIFE_EVENTS, "departments": list(departments),
         **extra},
    )  # fmt: skip


def stories(request: HttpRequest) -> HttpResponse:
    """The demo's stories, each with its accounts and numbered steps (portal.stories; walked by a browser test)."""
    return render(request, "portal/stories.html", {"stories": STORIES, "accounts_file": ACCOUNTS_FILE})


def problem_type(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in PROBLEM_TYPES and not slug.startswith("http-"):
        raise Http404(slug)
    return render(request, "portal/problem_type.html", {"slug": slug, "text": PROBLEM_TYPES.get(slug, "")})


def error_page(request: HttpRequest, status: int) -> HttpResponse:
    """The page of an HTTP error in the site's layout (templates/errors/<status>.html, extending errors/base.html),
    with the ways back; other apps render their own statuses (413, 429) the same way."""
    return render(request, f"errors/{status}.html", {"status": status}, status=status)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(request, status=403, type_slug="forbidden", title="Forbidden", detail="Not allowed.")
    return error_page(request, 403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form sent after its token expired (or from elsewhere) is refused in the site's layout,
    telling the user to go back and send it again; under /api/ a problem document. The reason stays in the log."""
    if request.path.startswith("/api/"):
        return problem_response(
            request, status=403, type_slug="csrf-failed", title="CSRF check failed",
            detail="The request lacked a valid CSRF token; reload the form and send it again.",
        )  # fmt: skip
    return render(request, "errors/403_csrf.html", {"status": 403}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(request, status=404, type_slug="not-found", title="Not found", detail="No such path.")
    return error_page(request, 404)


# Django reports a body over DATA_UPLOAD_MAX_MEMORY_SIZE (or over the field and file counts) as a suspicious
# operation, a 400; the caller needs to hear that the body is too large, and that a smaller one would be heard.
_TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    status = 413 if isinstance(exception, _TOO_LARGE) else 400
    if request.path.startswith("/api/"):
        if status == 413:
            return problem_response(
                request, status=413, type_slug="payload-too-large", title="Payload too large",
                detail="The request body is larger than the server accepts.",
            )  # fmt: skip
        return problem_response(
            request, status=400, type_slug="bad-request", title="Bad request", detail="The request is malformed."
        )
    return error_page(request, status)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return problem_response(
            request, status=500, type_slug="internal-error", title="Internal server error", detail="Server error."
        )
    return error_page(request, 500)
