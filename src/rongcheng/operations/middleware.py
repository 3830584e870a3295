"""Observation of every request, and the probes answered before the site's own machinery.

- ObservationMiddleware (just inside the request context): counts and times each request by route template, writes
  one JSON access line, and records each call of a department system in the exchange log (its row written once the
  answer has been sent, when the server closes the response). Its process_view stamps
  the moment the request is handed over to be served (after sessions, locale and authentication); the moment the
  inner layers answer is taken when the response comes back to it: the two inner timestamps of the exchange log.
- ProbeMiddleware (next): answers /livez, /readyz and /metrics before sessions, CSRF, locale, authentication and the
  refusal audit run, so a probe never opens or extends a session, sets no cookie and leaves nothing in the trail.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

from rongcheng.kernel.context import current
from rongcheng.operations import metrics

access_logger = logging.getLogger("rongcheng.access")

PROBE_PATHS = ("/livez", "/readyz", "/metrics")
UNMATCHED = "unmatched"
_STATIC = "static"


def route_of(request: HttpRequest) -> str:
    """The route template that answered ("api/v1/hall/applications/<int:id>"), never the raw path; paths no route
    matched are one group, static files another."""
    match = getattr(request, "resolver_match", None)
    if match is not None and (match.route or request.path == "/"):
        return "/" + str(match.route).lstrip("^").rstrip("$")  # the home page's route is the empty one
    if request.path.startswith(settings.STATIC_URL):
        return _STATIC
    if request.path in PROBE_PATHS:
        return request.path
    return UNMATCHED


def _licence_verification(route: str) -> bool:
    return route.startswith(("/licences/verify/", "/api/v1/licences/verify/", "/api/v1/licences/documents/verify"))


class ObservationMiddleware:
    """Cheap on every request: one dict lookup finds the request's counter and histogram (created once per route,
    method and status), three clock readings are floats, and the access line is built only when it is written."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series_of(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = (
                metrics.HTTP_REQUESTS.labels(route, method, str(status)),
                metrics.HTTP_LATENCY.labels(route, method),
            )
            if len(self._series) < 10_000:  # routes are templates, so the set is small; bound it all the same
                self._series[key] = series
        return series

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        """The moment the request is handed over to be served (after sessions, locale and authentication)."""
        request._rongcheng_service_in = time.time()  # type: ignore[attr-defined]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        received_at = time.time()
        started = time.perf_counter()
        response = self.get_response(request)
        answered_at = time.time()
        elapsed = time.perf_counter() - started
        route = route_of(request)
        method = request.method or ""
        status = response.status_code
        try:
            requests, latency = self._series_of(route, method, status)
            requests.inc()
            latency.observe(elapsed)
            if _licence_verification(route) and method in ("GET", "POST"):
                result = (
                    "answered" if status < 400 else "not_found" if status == 404
                    else "invalid" if status in (400, 422) else "refused"
                )  # fmt: skip
                metrics.LICENCE_VERIFICATIONS.labels(result).inc()
        except Exception:
            access_logger.exception("metrics failed")
        context = current()
        if status == 404 and _licence_verification(route):
            from rongcheng.operations.security import licence_verification_failure_count

            licence_verification_failure_count(context.source_address if context else None, "unknown_licence")
        user = _resolved_user(request)
        if access_logger.isEnabledFor(logging.INFO) and request.path not in PROBE_PATHS:
            _access_line(
                {
                    "request_id": context.request_id if context else "",
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                    "client": (context.source_address if context else None) or "",
                    "user_id": str(user.pk) if user is not None else "",
                }
            )
        if user is not None and getattr(user, "kind", "") == "api_client" and route.startswith("/api/"):
            _exchange_record_after_response(
                response,
                client=user.get_username(),
                service=f"{method} {route}",
                purpose=(context.purpose if context else "") or str(request.GET.get("purpose", ""))[:100],
                request_id=context.request_id if context else "",
                request_in_at=_moment(received_at),
                request_out_at=_moment(getattr(request, "_rongcheng_service_in", received_at)),
                response_in_at=_moment(answered_at),
                request_bytes=int(request.META.get("CONTENT_LENGTH") or 0),
                response_bytes=len(response.content) if not response.streaming else 0,
                status=status,
            )
        return response


def _access_line(extra: dict[str, Any]) -> None:
    """The access line, as `access_logger.info("request", extra=extra)` logs it, without looking up the calling
    frame's file and line on every request (logging's findCaller): the line names its logger, and no formatter of the
    site prints a source location."""
    record = access_logger.makeRecord(
        access_logger.name, logging.INFO, __file__, 0, "request", (), None, "ObservationMiddleware.__call__", extra
    )
    access_logger.handle(record)


def _exchange_record_after_response(response: HttpResponseBase, **record: Any) -> None:
    """The call's exchange-log row, written once its answer has been handed over: when the server closes the
    response (WSGI `close()`, after the last byte of the body was given to the server; the test client does the
    same), in the worker thread that served it, before it takes the next request. The caller does not wait for the
    row's round trip, and `response_out_at` is the moment the answer left, not a moment before it was sent.

    The row goes to the process's exchange-log writer (operations.services.exchange_record_later), which appends the
    rows of the calls of the last moments by one statement (settings.EXCHANGE_LOG_WRITE, ADR 0017): one row per call;
    a row is lost only if the worker is killed outright before the writer's next statement. exchange_record_later
    never raises, and Django runs every closer even if one fails."""

    def write() -> None:
        from rongcheng.operations.services import exchange_record_later

        exchange_record_later(**record, response_out_at=timezone.now())

    response._resource_closers.append(write)  # type: ignore[attr-defined]  # run by close(), before request_finished


def _moment(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _resolved_user(request: HttpRequest) -> Any:
    """The account the request was answered for, if authentication ran; never loads a session just to log."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    if isinstance(user, SimpleLazyObject):
        wrapped = user._wrapped
        if wrapped is empty:
            return None
        user = wrapped
    return user if getattr(user, "is_authenticated", False) else None


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in PROBE_PATHS:
            from rongcheng.operations import probes

            return probes.answer(request)
        return self.get_response(request)
