"""The one NinjaAPI of the platform, mounted at /api/v1/, and the mapping of every error to RFC 9457.

Problem type URIs are stable: /problems/<slug> on this server.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema

from rongcheng.accounts.errors import REALM
from rongcheng.card.api import router as card_router
from rongcheng.cases.api import router as cases_router
from rongcheng.catalogue.api import router as catalogue_router
from rongcheng.config.write_limits import limit_api_writes
from rongcheng.credit.api import router as credit_router
from rongcheng.divisions.api import router as divisions_router
from rongcheng.hall.api import router as hall_router
from rongcheng.identity.api import router as identity_router
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA, problem_response
from rongcheng.licences.api import router as licences_router
from rongcheng.oidc.api import router as oidc_router
from rongcheng.operations.api import router as operations_router
from rongcheng.registries.api import router as registries_router
from rongcheng.spatial.api import router as spatial_router
from rongcheng.staff.api import router as staff_router

logger = logging.getLogger(__name__)

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_UNSAFE = {"post", "put", "patch", "delete"}
_DESCRIPTIONS = {
    400: "The request cannot be read (malformed body or headers).",
    401: "No credentials, or an invalid or expired token.",
    403: "The caller is not entitled to this action, or the token lacks its scope.",
    404: "No such resource, or not visible to the caller.",
    409: "The request conflicts with the resource's current state.",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not in the declared media type.",
    422: "A parameter or field breaks a rule; `errors` lists each.",
    429: "Too many requests; retry after the time in Retry-After.",
}


def problem_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    """The problem responses an operation can answer, from its shape: every status the server's own error mapping
    (the handlers below, ApiProblemMiddleware, the domain errors) sends for an operation of that shape."""
    statuses = [400, 404, 422, 429]  # any request: malformed, unknown path, a rule broken, too many
    if operation.get("security"):
        statuses += [401, 403]
    if method in _UNSAFE:
        statuses.append(409)
    if "requestBody" in operation:
        statuses += [413, 415]
    return sorted(statuses)


# ControlCharacterMiddleware refuses control characters in every path and query string before any route runs (400); the
# document says so on every text parameter of the path and the query.
NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"


class ProblemDocumentedAPI(NinjaAPI):
    """A NinjaAPI whose OpenAPI document declares, on every operation, the problem documents it can answer.

    Done here once, from each operation's shape, so that no route can be added without them.
    """

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document["components"].setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for item in document["paths"].values():
            for method, operation in item.items():
                for parameter in operation.get("parameters", []):
                    schema = parameter.get("schema", {})
                    if parameter.get("in") in ("path", "query") and schema.get("type") == "string":
                        schema.setdefault("pattern", NO_CONTROL_CHARACTERS)
                responses = operation.setdefault("responses", {})
                for status in problem_statuses(method, operation):
                    responses.setdefault(status, {"description": _DESCRIPTIONS[status]})
                for status, response in responses.items():
                    if int(status) >= 400:  # every error of the API is a problem document, whatever a route declared
                        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}}
        return document


api = ProblemDocumentedAPI(
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


@api.exception_handler(RequestDataTooBig)
@api.exception_handler(TooManyFieldsSent)
@api.exception_handler(TooManyFilesSent)
def _too_large(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE when a route first reads it."""
    return problem_response(
        request, status=413, type_slug="payload-too-large", title="Payload too large",
        detail="The request body is larger than the server accepts.",
    )  # fmt: skip


@api.exception_handler(MultiPartParserError)
def _multipart_unreadable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Django's parser refuses a multipart body it cannot read, or one whose part headers (a file name) are too long."""
    return problem_response(
        request, status=400, type_slug="bad-request", title="Bad request",
        detail="The multipart body cannot be read: a part is malformed or its headers (the file name) are too long.",
    )  # fmt: skip


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
api.add_router("/spatial", spatial_router)
api.add_router("/card", card_router)
api.add_router("/exchange", catalogue_router)
api.add_router("/cases", cases_router)
api.add_router("/credit", credit_router)
api.add_router("/operations", operations_router)
limit_api_writes(api)  # last: every write operation is rate-limited per account (config.write_limits)
