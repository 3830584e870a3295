"""Whole public pages kept rendered for anonymous visitors, keyed on what they show.

A public page (the portal's home, the hall's catalogue) looks the same to every visitor who is not signed in, apart
from the CSRF token of its language and sign-out forms. `anonymous_page` renders such a page once per path, language
and *stamp* (a digest of the rows the page shows, read by the view in one narrow query, so a change shows at the next
view: nothing is invalidated by time) with a placeholder for the token, keeps the bytes in the worker, and answers
later visitors with the bytes and their own masked token. Every other request renders as usual: a query string, a
session or messages cookie, an Authorization header, a method other than GET/HEAD.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language

# Rendered where `{% csrf_token %}` writes the token; never a valid token (CSRF tokens are 64 letters and digits).
CSRF_PLACEHOLDER = "rongcheng-csrf-placeholder"
_PLACEHOLDER = CSRF_PLACEHOLDER.encode()
_MESSAGES_COOKIE = "messages"  # django.contrib.messages' CookieStorage
_LIMIT = 256  # pages kept per worker: paths x languages x stamps; the oldest half is dropped beyond it

_pages: dict[tuple[Hashable, ...], tuple[bytes, str]] = {}


def cacheable(request: HttpRequest) -> bool:
    """An anonymous GET or HEAD of the bare path, with nothing personal to show."""
    return (
        request.method in ("GET", "HEAD")
        and not request.META.get("QUERY_STRING")
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and _MESSAGES_COOKIE not in request.COOKIES
        and "HTTP_AUTHORIZATION" not in request.META
    )


def anonymous_page(
    request: HttpRequest, stamp: Hashable, render: Callable[[dict[str, str]], HttpResponse]
) -> HttpResponse:
    """`render(extra_context)` draws the page; for a cacheable request the extra context holds the placeholder token
    and the answer is kept under (path, language, stamp)."""
    if not cacheable(request):
        return render({})
    key = (request.path, get_language(), stamp)
    kept = _pages.get(key)
    if kept is None:
        response = render({"csrf_token": CSRF_PLACEHOLDER})
        if response.streaming:
            return response
        if response.status_code != 200 or response.cookies:  # not kept; its own visitor gets their token
            response.content = response.content.replace(_PLACEHOLDER, csrf_secret(request).encode())
            return response
        kept = (response.content, response["Content-Type"])
        if len(_pages) >= _LIMIT:
            for old in list(_pages)[: _LIMIT // 2]:
                _pages.pop(old, None)
        _pages[key] = kept
    body, content_type = kept
    answer = HttpResponse(body.replace(_PLACEHOLDER, csrf_secret(request).encode()), content_type=content_type)
    patch_vary_headers(answer, ("Cookie",))  # a signed-in visitor sees another page
    return answer


def csrf_secret(request: HttpRequest) -> str:
    """The visitor's CSRF secret, as the form token of a kept page; a new one (and its cookie) for a first visit.

    Django's `get_token` masks the secret afresh for every response so that a compressed page reflecting a visitor's
    input cannot leak it (BREACH); a kept page reflects nothing (no query string, no form data, no session), so the
    secret itself, which CsrfViewMiddleware accepts as the form token, is as safe there. The masking and Django's
    letter-by-letter secret cost a quarter of a millisecond per page here; one read of the system's random source does
    the same work."""
    secret = request.META.get("CSRF_COOKIE")  # set by CsrfViewMiddleware from a well-formed cookie
    if secret:
        request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True  # as get_token: the cookie's expiry is renewed
        return str(secret)
    secret = _new_secret()
    request.META.update({"CSRF_COOKIE": secret, "CSRF_COOKIE_NEEDS_UPDATE": True})
    return secret


def _new_secret() -> str:
    """CSRF_SECRET_LENGTH characters of CSRF_ALLOWED_CHARS, uniformly: bytes below 248 (4 x 62) taken modulo 62."""
    letters = len(CSRF_ALLOWED_CHARS)
    limit = 256 - 256 % letters
    chosen: list[str] = []
    while len(chosen) < CSRF_SECRET_LENGTH:
        chosen.extend(CSRF_ALLOWED_CHARS[b % letters] for b in os.urandom(2 * CSRF_SECRET_LENGTH) if b < limit)
    return "".join(chosen[:CSRF_SECRET_LENGTH])


def forget_pages() -> None:
    """Drop every kept page (tests; a deployment's templates changed in place)."""
    _pages.clear()
