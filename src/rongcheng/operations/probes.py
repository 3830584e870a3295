"""The three machine endpoints: /livez (the process answers, no I/O), /readyz (health checks, application/health+json)
and /metrics (Prometheus text or OpenMetrics by the Accept header, for a bearer token or an allowed network).

They are answered by `middleware.ProbeMiddleware` before sessions, CSRF, locale and authentication: no cookie is
read or set, nothing is audited, and a probe every few seconds costs no session write."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from rongcheng.kernel.context import request_address
from rongcheng.kernel.crypto import constant_time_equal, sm3_digest
from rongcheng.operations import health

METRICS_TOKEN_FILE = "metrics-token.sm3"  # noqa: S105 - a file name


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _verbose(request: HttpRequest) -> bool:
    return "verbose" in request.GET


def answer(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(status=405)
        response["Allow"] = "GET, HEAD"
        return _no_store(response)
    if request.path == "/livez":
        return _health_response({"status": "pass", "serviceId": "rongcheng"}, "pass")
    if request.path == "/readyz":
        checks = health.readiness()
        document = health.health_document(checks, verbose=_verbose(request))
        return _health_response(document, document["status"])
    return metrics_answer(request)


def _health_response(document: dict[str, object], status: str) -> HttpResponse:
    body = json.dumps(document, ensure_ascii=False, indent=2 if "checks" in document else None)
    response = HttpResponse(body, status=503 if status == "fail" else 200, content_type=health.HEALTH_CONTENT_TYPE)
    return _no_store(response)


# --- metrics ----------------------------------------------------------------------------------------------------------


def metrics_token_digest() -> str:
    """The SM3 digest (hex) of the scrapers' bearer token: RONGCHENG_METRICS_TOKEN_SM3, else the data directory's
    metrics-token.sm3 (written by `metrics_token_issue`); empty when no token is configured."""
    configured = str(getattr(settings, "OPERATIONS_METRICS_TOKEN_SM3", "") or "")
    if configured:
        return configured.strip().lower()
    path = Path(settings.DATA_DIR) / METRICS_TOKEN_FILE
    return path.read_text(encoding="ascii").strip().lower() if path.exists() else ""


def _token_allowed(request: HttpRequest) -> bool:
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    scheme, _, token = header.partition(" ")
    digest = metrics_token_digest()
    if scheme.lower() != "bearer" or not token.strip() or not digest:
        return False
    return constant_time_equal(sm3_digest(token.strip().encode()).hex().encode(), digest.encode())


def _network_allowed(request: HttpRequest) -> bool:
    address = request_address(request)
    networks = getattr(settings, "OPERATIONS_METRICS_NETWORKS", ())
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def metrics_answer(request: HttpRequest) -> HttpResponse:
    if not (_network_allowed(request) or _token_allowed(request)):
        response = HttpResponse("Unauthorized: a bearer token or an allowed network is required.\n", status=401,
                                content_type="text/plain; charset=utf-8")  # fmt: skip
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return _no_store(response)
    from prometheus_client.exposition import choose_encoder

    from rongcheng.operations import metrics

    encoder, content_type = choose_encoder(str(request.META.get("HTTP_ACCEPT", "")))
    body = encoder(metrics.registry_for_scrape())
    return _no_store(HttpResponse(body, content_type=content_type))
