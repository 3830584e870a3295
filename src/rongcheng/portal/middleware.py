"""A request refused by a rate limit (kernel.ratelimit) outside the API: a 429 page in the site's layout, or a
problem document for the OAuth endpoints machines call, both with Retry-After. The API maps it itself."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rongcheng.kernel.errors import RateLimited
from rongcheng.kernel.problems import problem_response

# Paths answered to programs, not people: their refusals are problem documents.
MACHINE_PATHS = ("/api/", "/oauth/token/", "/oauth/revoke_token/", "/oauth/introspect/", "/oauth/userinfo/")


class RateLimitedMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, RateLimited):
            return None
        return rate_limited_response(request, exception)


def rate_limited_response(request: HttpRequest, exception: RateLimited) -> HttpResponse:
    """The answer to a refused request: a problem document to programs, the 429 page to people; Retry-After."""
    retry_after = int(exception.extra.get("retry_after", 60))
    if request.path.startswith(MACHINE_PATHS):
        return problem_response(
            request, status=429, type_slug=exception.type_slug, title=exception.title, detail=exception.detail,
            retry_after=retry_after,
        )  # fmt: skip
    response = render(request, "errors/429.html", {"status": 429, "retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
