"""The one NinjaAPI of the platform, mounted at /api/v1/, and the mapping of every error to RFC 9457.

Problem type URIs are stable: /problems/<slug> on this server.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from rongcheng.accounts.api_auth import REALM
from rongcheng.config.write_limits import limit_api_writes
from rongcheng.divisions.api import router as divisions_router
from rongcheng.hall.api import router as hall_router
from rongcheng.identity.api import router as identity_router
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.problems import problem_response
from rongcheng.licences.api import router as licences_router
from rongcheng.oidc.api import router as oidc_router
from rongcheng.registries.api import router as registries_router
from rongcheng.staff.api import router as staff_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Rongcheng platform API",
    version="1",
    description=(
        "The interface standard of the Rongcheng digital-government platform. Errors are RFC 9457 problem "
        "documents (application/problem+json)."
    ),
    urls_namespace="api",
)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    if exc.status in (403, 404):  # a service's refusal: RefusalAuditMiddleware records it unless the service did
        request._rongcheng_refused = exc  # type: ignore[attr-defined]
    response = problem_response(
        request,
        status=exc.status,
        type_slug=exc.type_slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        **exc.extra,
    )
    challenge = getattr(exc, "challenge", None)  # RFC 6750 §3: a refused token says why
    if challenge:
        response["WWW-Authenticate"] = challenge
    return response


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors: list[dict[str, Any]] = [
        {"loc": list(item.get("loc", [])), "rule": item.get("type", "invalid"), "msg": item.get("msg", "")}
        for item in exc.errors
    ]
    return problem_response(
        request,
        status=422,
        type_slug="validation-failed",
        title="Validation failed",
        detail="The request does not match the schema.",
        errors=errors,
    )


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = problem_response(
        request,
        status=401,
        type_slug="unauthenticated",
        title="Authentication required",
        detail="Sign in, or call with an access token from /oauth/token/.",
    )
    response["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem_response(
        request, status=exc.status_code, type_slug=f"http-{exc.status_code}", title=str(exc), detail=str(exc)
    )


@api.exception_handler(Http404)
@api.exception_handler(ObjectDoesNotExist)  # a service's .get() of a record that is not there
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(request, status=404, type_slug="not-found", title="Not found", detail="No such resource.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in API request %s %s", request.method, request.path)
    return problem_response(
        request,
        status=500,
        type_slug="internal-error",
        title="Internal server error",
        detail="The server failed to handle the request; the operators have been told.",
    )


@api.get("/health", tags=["platform"], summary="Liveness of the platform", auth=None)
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


api.add_router("/divisions", divisions_router)
api.add_router("/registries", registries_router)
api.add_router("/identity", identity_router)
api.add_router("/staff", staff_router)
api.add_router("/oidc", oidc_router)
api.add_router("/licences", licences_router)
api.add_router("/hall", hall_router)
limit_api_writes(api)  # last: every write operation is rate-limited per account (config.write_limits)
