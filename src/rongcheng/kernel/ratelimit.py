"""Rate limits per address and per account: the one mechanism behind every limited endpoint.

A limit is a scope ("identity.register") with a rate per source address and/or per account, `count/seconds`, in
`settings.RATE_LIMITS` (docs/operations.md lists them; RONGCHENG_RATE_LIMITS overrides). Counting is in fixed
windows in the cache alias `shared`, which every worker process sees (`kernel.cache`), so a limit holds however many
workers granian runs. A refused request raises `RateLimited` with `retry_after`, the seconds until its window ends:
the API answers a problem document, pages a 429 page, both with Retry-After.

A scope in settings.RATE_LIMIT_BATCHED (the machine calls and public reads; ADR 0018) is counted by each worker
process in its own memory, and its counts are added to the shared counter in one statement per sync: a worker
syncs a window on its first request there, when it holds `batch_size` requests not yet added, and at its first
request after RATE_LIMIT_SYNC_SECONDS without a sync. Between syncs it admits while the shared count it last saw
plus what it has admitted since stays within the limit, so one process alone is exact, and N processes together
admit at most (N - 1) * batch_size more than the limit in a window. Every other scope (sign-in, passwords, second
factors, anything that checks a person's credential) counts every request in the shared counter before answering.

A refused request is not audited on its own (a flood would fill the trail, which is kept six months): refusals are
counted per scope in windows of RATE_LIMIT_SUMMARY_SECONDS, and each window's count is handed once to the
subscribers (the audit trail writes one summary record) when the next window sees its first refusal, or when
`rongcheng manage cleanup` runs.
"""

from __future__ import annotations

import functools
import os
import threading
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


@functools.lru_cache(maxsize=4096)
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


DEFAULT_BATCH_SHARE = 0.05
DEFAULT_BATCH_MAX = 100
DEFAULT_SYNC_SECONDS = 0.1
LOCAL_WINDOWS_MAX = 20_000  # windows a process counts locally at once; beyond, new ones are counted in the database


def batch_size(rate: Rate) -> int:
    """How many requests of a batched scope's window one process may admit before adding them to the shared count:
    RATE_LIMIT_BATCH_SHARE of the limit, at least 1, at most RATE_LIMIT_BATCH_MAX. It bounds the overshoot."""
    share = float(getattr(settings, "RATE_LIMIT_BATCH_SHARE", DEFAULT_BATCH_SHARE))
    largest = int(getattr(settings, "RATE_LIMIT_BATCH_MAX", DEFAULT_BATCH_MAX))
    return max(1, min(largest, int(rate.count * share)))


def is_batched(scope: str) -> bool:
    return scope in getattr(settings, "RATE_LIMIT_BATCHED", ())


class _Window:
    """One window of one key as this process knows it."""

    __slots__ = ("ends", "in_flight", "known", "pending", "synced_at")

    def __init__(self, ends: float, now: float) -> None:
        self.ends = ends  # limiter time at which the window is over
        self.known = 0  # the shared count as the last sync returned it
        self.pending = 0  # admitted here since, not yet handed to a sync
        self.in_flight = 0  # handed to a sync whose statement has not answered yet
        self.synced_at = now


@dataclass(frozen=True)
class _Wanted:
    kind: str
    rate: Rate
    window: int
    key: str


class LocalCounts:
    """A process's counts of the batched scopes' windows (module-level `local_counts`; tests make their own to play
    several workers in one process). Thread-safe; the lock is never held across a statement."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._swept_at = 0.0

    def forget(self) -> None:
        with self._lock:
            self._windows.clear()

    def admit(self, wanted: list[_Wanted], now: float) -> _Wanted | None:
        """Count one request in each of `wanted`'s windows; the first whose limit refuses it, or None."""
        sync_every = float(getattr(settings, "RATE_LIMIT_SYNC_SECONDS", DEFAULT_SYNC_SECONDS))
        amounts: dict[str, tuple[int, int]] = {}
        with self._lock:
            windows = self._windows
            for item in wanted:  # a window already full refuses at once, counting nothing
                held = windows.get(item.key)
                if held is not None and held.known + held.in_flight + held.pending >= item.rate.count:
                    return item
            for item in wanted:
                held = windows.get(item.key)
                if held is None:
                    if len(windows) >= LOCAL_WINDOWS_MAX:
                        amounts[item.key] = (1, item.rate.seconds + 5)  # counted in the database, not kept
                        continue
                    held = windows[item.key] = _Window((item.window + 1) * item.rate.seconds, now)
                elif (
                    held.pending + held.in_flight < batch_size(item.rate)
                    and now - held.synced_at < sync_every
                    and held.known + held.in_flight + held.pending < item.rate.count
                ):
                    held.pending += 1  # admitted here; added to the shared count by a later sync
                    continue
                amounts[item.key] = (held.pending + 1, item.rate.seconds + 5)
                held.in_flight += held.pending + 1
                held.pending = 0
            if not amounts:
                return None
            if now - self._swept_at >= sync_every:
                self._sweep(now, sync_every, amounts)
        try:
            counted = _count_many(amounts)
        except BaseException:
            with self._lock:
                for key, (amount, _) in amounts.items():
                    held = self._windows.get(key)
                    if held is not None:
                        held.in_flight -= amount
                        held.pending += amount - (1 if any(item.key == key for item in wanted) else 0)
            raise
        with self._lock:
            for key, (amount, _) in amounts.items():
                held = self._windows.get(key)
                if held is not None:
                    held.in_flight -= amount
                    held.known = max(held.known, counted[key])
                    held.synced_at = now
        for item in wanted:
            if item.key in amounts and counted[item.key] > item.rate.count:
                return item
        return None

    def _sweep(self, now: float, sync_every: float, amounts: dict[str, tuple[int, int]]) -> None:
        """Under the lock: forget ended windows; hand this sync the counts that other windows held too long."""
        self._swept_at = now
        for key, held in list(self._windows.items()):
            if held.ends < now and not held.in_flight:
                del self._windows[key]
            elif held.pending and key not in amounts and now - held.synced_at >= sync_every:
                amounts[key] = (held.pending, max(1, int(held.ends - now)) + 5)
                held.in_flight += held.pending
                held.pending = 0


local_counts = LocalCounts()
if hasattr(os, "register_at_fork"):  # a forked worker starts with no counts of its parent's
    os.register_at_fork(after_in_child=local_counts.forget)


def _count_many(amounts: dict[str, tuple[int, int]]) -> dict[str, int]:
    cache = caches[CACHE_ALIAS]
    if hasattr(cache, "count_many"):  # kernel.cache.SharedDatabaseCache: one statement
        return dict(cache.count_many(amounts))
    counted = {}
    for key, (amount, timeout) in amounts.items():
        if cache.add(key, amount, timeout=timeout):
            counted[key] = amount
            continue
        try:
            counted[key] = int(cache.incr(key, amount))
        except ValueError:  # expired between add and incr
            cache.add(key, amount, timeout=timeout)
            counted[key] = amount
    return counted


def rate_limit_admit(
    scope: str, *, address: str | None, account: object | None = None, counts: LocalCounts | None = None
) -> None:
    """Count one request of `scope` from `address` (and `account`, when signed in); refuse it over a limit.

    A batched scope is counted in `counts` (the process's own unless a test plays another worker)."""
    now = clock()
    rates = rates_for(scope)
    if is_batched(scope):
        wanted = []
        for kind, rate in rates.items():
            identity = (address or "unknown") if kind == "address" else account
            if identity is not None:
                window = int(now // rate.seconds)
                wanted.append(_Wanted(kind, rate, window, f"rl:{scope}:{kind}:{_digest(str(identity))}:{window}"))
        refused = (counts or local_counts).admit(wanted, now) if wanted else None
        if refused is not None:
            _refuse(scope, refused.kind, refused.rate, refused.window, now)
        return
    for kind, rate in rates.items():
        identity = (address or "unknown") if kind == "address" else account
        if identity is None:
            continue
        window = int(now // rate.seconds)
        key = f"rl:{scope}:{kind}:{_digest(str(identity))}:{window}"
        if _count(key, timeout=rate.seconds + 5) > rate.count:
            _refuse(scope, kind, rate, window, now)


def _refuse(scope: str, kind: str, rate: Rate, window: int, now: float) -> None:
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
