"""Rate limits per address and per account: the one mechanism behind every limited endpoint.

A limit is a scope ("identity.register") with a rate per source address and/or per account, `count/seconds`, in
`settings.RATE_LIMITS` (docs/operations.md lists them; RONGCHENG_RATE_LIMITS overrides). Counting is in fixed
windows in the cache alias `shared`, which every worker process sees (`kernel.cache`), so a limit holds however many
workers granian runs. A refused request raises `RateLimited` with `retry_after`, the seconds until its window ends:
the API answers a problem document, pages a 429 page, both with Retry-After.

A refused request is not audited on its own (a flood would fill the trail, which is kept six months): refusals are
counted per scope in windows of RATE_LIMIT_SUMMARY_SECONDS, and each window's count is handed once to the
subscribers (the audit trail writes one summary record) when the next window sees its first refusal, or when
`rongcheng manage cleanup` runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from rongcheng.kernel.context import request_address
from rongcheng.kernel.crypto import sm3_digest
from rongcheng.kernel.errors import RateLimited

CACHE_ALIAS = "shared"
KINDS = ("address", "account")
DEFAULT_SUMMARY_SECONDS = 600
SUMMARY_LOOKBACK_SECONDS = 2 * 86400  # refusal counts older than this are dropped unsummarised


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`count/seconds`, e.g. `30/600`: at most 30 in each 600-second window."""
        count, _, seconds = text.partition("/")
        try:
            rate = cls(int(count), int(seconds))
        except ValueError:
            raise ImproperlyConfigured(f"Rate {text!r} is not count/seconds, e.g. 30/600.") from None
        if rate.count < 0 or rate.seconds <= 0:
            raise ImproperlyConfigured(f"Rate {text!r} needs a count of 0 or more and a period of 1 second or more.")
        return rate


@dataclass(frozen=True)
class RefusalSummary:
    """How many requests of one scope were refused in one summary window."""

    scope: str
    window_start: int  # Unix time
    seconds: int
    refused: int


_subscribers: list[Callable[[RefusalSummary], object]] = []


def refusal_summaries_subscribe(subscriber: Callable[[RefusalSummary], object]) -> None:
    """Called (by the audit app when it is ready) for every window of refusals, once."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


# Parsed rates by scope, each with a copy of the settings entry it was parsed from: every limited request asks
# (a token grant twice), and parsing is the larger part of the question. Checked against the current entry on every
# call (one small dict comparison), so settings replaced or changed in place by tests are seen at once.
_parsed: dict[str, tuple[dict[str, str], dict[str, Rate]]] = {}


def rates_for(scope: str) -> dict[str, Rate]:
    """The rates of `scope` by kind (do not change the answer: it is shared)."""
    configured: dict[str, dict[str, str]] = getattr(settings, "RATE_LIMITS", {})
    entry = configured.get(scope)
    if entry is None:
        raise ImproperlyConfigured(f"No rate limit is configured for {scope!r} (settings.RATE_LIMITS).")
    known = _parsed.get(scope)
    if known is not None and known[0] == entry:
        return known[1]
    rates = {kind: Rate.parse(text) for kind, text in entry.items() if kind in KINDS and text}
    _parsed[scope] = (dict(entry), rates)
    return rates


def _summary_seconds() -> int:
    return int(getattr(settings, "RATE_LIMIT_SUMMARY_SECONDS", DEFAULT_SUMMARY_SECONDS))


def _digest(value: str) -> str:
    """Cache keys carry no address or account id in clear (and stay short and memcached-safe)."""
    return sm3_digest(value.encode()).hex()[:32]


CLOCK_OFFSET = 0.0  # seconds added to the limiter's clock; tests set it so that no window ends during a test


def clock() -> float:
    """The limiter's time in seconds since the epoch: fixed windows are numbered by it."""
    return time.time() + CLOCK_OFFSET


def _count(key: str, timeout: int) -> int:
    cache = caches[CACHE_ALIAS]
    if hasattr(cache, "count"):  # kernel.cache.SharedDatabaseCache: one statement
        return int(cache.count(key, timeout=timeout))
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


def rate_limit_admit(scope: str, *, address: str | None, account: object | None = None) -> None:
    """Count one request of `scope` from `address` (and `account`, when signed in); refuse it over a limit."""
    now = clock()
    for kind, rate in rates_for(scope).items():
        identity = (address or "unknown") if kind == "address" else account
        if identity is None:
            continue
        window = int(now // rate.seconds)
        key = f"rl:{scope}:{kind}:{_digest(str(identity))}:{window}"
        if _count(key, timeout=rate.seconds + 5) > rate.count:
            _refusal_count(scope, now)
            retry_after = max(1, int((window + 1) * rate.seconds - now + 0.999))
            raise RateLimited(
                f"Too many requests of this kind from this {kind}: at most {rate.count} in {rate.seconds} seconds. "
                f"Try again in {retry_after} seconds.",
                retry_after=retry_after,
            )


def _refusal_count(scope: str, now: float) -> None:
    seconds = _summary_seconds()
    window = int(now // seconds)
    if _count(f"rl-refused:{scope}:{window}", timeout=SUMMARY_LOOKBACK_SECONDS) == 1:
        refusal_summaries_flush(now=now, scopes=[scope])  # a new window: summarise the ones before it


def refusal_summaries_flush(*, now: float | None = None, scopes: Iterable[str] | None = None) -> int:
    """Hand every finished window's refusal count to the subscribers, each window once; returns how many."""
    cache = caches[CACHE_ALIAS]
    seconds = _summary_seconds()
    current = int((clock() if now is None else now) // seconds)
    windows = range(current - SUMMARY_LOOKBACK_SECONDS // seconds, current)
    handed = 0
    for scope in scopes if scopes is not None else getattr(settings, "RATE_LIMITS", {}):
        keys = {f"rl-refused:{scope}:{window}": window for window in windows}
        found = cache.counts(keys) if hasattr(cache, "counts") else cache.get_many(list(keys))
        for key, refused in found.items():
            if not refused or not cache.add(f"rl-summarised:{scope}:{keys[key]}", 1, SUMMARY_LOOKBACK_SECONDS):
                continue
            summary = RefusalSummary(scope, keys[key] * seconds, seconds, int(refused))
            for subscriber in _subscribers:
                subscriber(summary)
            handed += 1
    return handed


View = TypeVar("View", bound=Callable[..., Any])


def request_account(request: HttpRequest) -> str | None:
    """The signed-in account's primary key: the API's token or session (`request.auth`), or the page's user."""
    for user in (getattr(request, "auth", None), getattr(request, "user", None)):
        if user is not None and getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None:
            return str(user.pk)
    return None


def rate_limit_request(scope: str, request: HttpRequest) -> None:
    """`rate_limit_admit` for a request: its source address and its signed-in account, if any. API operations call
    it first thing (a decorator would hide their signature from django-ninja)."""
    rate_limit_admit(scope, address=request_address(request), account=request_account(request))


def rate_limited(scope: str, *, methods: Iterable[str] = ("POST",)) -> Callable[[View], View]:
    """Decorate a page view, a class-based view's `as_view()` or an API operation with the limits of `scope`.

    Requests of other methods pass uncounted. The view's attributes (csrf_exempt …) are kept.
    """
    limited = frozenset(method.upper() for method in methods)
    rates_for(scope)  # a scope without configured limits fails at import, not at the first request

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method in limited:
                rate_limit_request(scope, request)
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


# `openapi_extra` of a limited API operation: the 429 answer with its Retry-After.
OPENAPI_RATE_LIMITED: dict[str, Any] = {
    "responses": {
        429: {
            "description": "Too many requests from this address or account; retry after Retry-After seconds.",
            "headers": {"Retry-After": {"description": "Seconds until the limit's window ends",
                                        "schema": {"type": "integer"}}},
            "content": {"application/problem+json": {"schema": {"type": "object"}}},
        }
    }
}  # fmt: skip
