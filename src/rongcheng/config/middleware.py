"""Policies applied once to every request and response of the site.

- ApiProblemMiddleware: every error response under /api/ is an RFC 9457 problem document. Django-ninja answers some
  errors itself (405 on a wrong method, 400 on an unreadable body) and Django answers others (400 on a bad Host, 403
  on CSRF) with HTML; API clients must get the same problem documents everywhere.
- NoStoreMiddleware: answers that may carry personal data are `Cache-Control: no-store`.
- ControlCharacterMiddleware: control characters in a path, query string or form field are refused with a 400.
- RefusalAuditMiddleware: every refusal (403, and a 404 that hides a record from a reader) leaves exactly one
  "denied" audit record, for pages and API alike.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from http import HTTPStatus

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.functional import SimpleLazyObject, empty
from django.utils.http import http_date

from rongcheng.audit.services import actor_from_user, refusal_record, refusals_recorded, refusals_reset
from rongcheng.kernel.context import from_request, running
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.problems import PROBLEM_CONTENT_TYPE, problem_response
from rongcheng.portal.views import error_page

_SLUGS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
          409: "conflict", 413: "payload-too-large", 415: "unsupported-media-type", 422: "validation-failed",
          429: "rate-limited", 500: "internal-error"}  # fmt: skip


class ApiProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith("/api/")
            or response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)
        ):
            return response
        status = response.status_code
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = phrase + "."
        if status == 405 and response.has_header("Allow"):
            detail = f"This path accepts {response['Allow']}."
        if response.get("Content-Type", "").startswith("application/json") and status not in _SLUGS:
            return response
        problem = problem_response(
            request, status=status, type_slug=_SLUGS.get(status, f"http-{status}"), title=phrase, detail=detail
        )
        # Every header of the answer it replaces but its body's (Allow, Retry-After, WWW-Authenticate, and the security
        # headers, Content-Language and Vary that the middlewares inside this one set on the way out).
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length") and not problem.has_header(header):
                problem[header] = value
        return problem


# --- caching ----------------------------------------------------------------------------------------------------------

_PRIVATE_PREFIXES = ("/api/", "/oauth/", "/admin/")


class NoStoreMiddleware:
    """No browser or proxy keeps an answer that may carry personal data: every answer under /api/, /oauth/ and
    /admin/, every answer to a request carrying credentials (a session cookie, an Authorization header) or changing
    something (not GET/HEAD), and every answer that sets the session cookie, is `Cache-Control: no-store`. A view
    that declares itself public (`Cache-Control: public, ...`: published keys, discovery) keeps its header; anonymous
    reads of public pages (home, catalogue, licence verification, static files) stay cacheable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        declared = response.get("Cache-Control", "")
        if "public" in declared or "no-store" in declared:  # the view decided
            return response
        if (
            request.path.startswith(_PRIVATE_PREFIXES)
            or request.method not in ("GET", "HEAD")
            or settings.SESSION_COOKIE_NAME in request.COOKIES
            or "HTTP_AUTHORIZATION" in request.META
            or settings.SESSION_COOKIE_NAME in response.cookies
        ):
            never_cache(response)
        return response


NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def never_cache(response: HttpResponseBase) -> None:
    """Django's add_never_cache_headers, written out for the common case of a response without cache headers (its
    header parsing and merging cost more than the rest of this middleware)."""
    if response.has_header("Cache-Control") or response.has_header("Expires"):
        add_never_cache_headers(response)
        return
    response["Expires"] = http_date(time.time())
    response["Cache-Control"] = NEVER_CACHE


# --- messages ---------------------------------------------------------------------------------------------------------


class LazyMessageMiddleware(MessageMiddleware):
    """django.contrib.messages' middleware, its storage opened only when a view or a page uses messages: most API
    calls and probes never do, and opening it reads cookies and the session."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        stored = request.__dict__.get("_messages")
        if isinstance(stored, SimpleLazyObject) and stored._wrapped is empty:
            return response  # never opened: nothing was added or read
        return super().process_response(request, response)


# --- language ---------------------------------------------------------------------------------------------------------


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's LocaleMiddleware, the same answer for a site whose URLs carry no language prefix (no i18n_patterns):
    the language in the path is looked up only when such patterns exist, as only then does Django use it; its
    lookup cost two regular-expression matches and a dozen calls on every request, page or API call."""

    def process_request(self, request: HttpRequest) -> None:
        urlconf = getattr(request, "urlconf", settings.ROOT_URLCONF)
        if is_language_prefix_patterns_used(urlconf)[0]:
            super().process_request(request)
            return
        translation.activate(translation.get_language_from_request(request, check_path=False))
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        urlconf = getattr(request, "urlconf", settings.ROOT_URLCONF)
        if is_language_prefix_patterns_used(urlconf)[0]:
            return super().process_response(request, response)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


# --- control characters -----------------------------------------------------------------------------------------------

# C0 and C1 controls and DEL. A query string never needs one; a form field may hold tab and line breaks (a textarea).
_QUERY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FORM_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The CKAN-compatible Action API answers every error, control characters included, in CKAN's JSON envelope.
CKAN_PREFIX = "/opendata/api/"


class ControlCharacterMiddleware:
    """Refuse, once and for every route, a path, query string or form field carrying control characters (a NUL
    makes some databases' LIKE match everything): 400, a problem document under /api/, the error page elsewhere.
    Nothing downstream runs, so nothing changes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(CKAN_PREFIX):  # the CKAN view refuses them in CKAN's own error envelope
            return self.get_response(request)
        where = self._offending(request)
        if where is None:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return problem_response(
                request, status=400, type_slug="bad-request", title="Bad request",
                detail="Control characters are not allowed in the path, query or form fields.",
                errors=[{"loc": where, "rule": "text.control_characters", "msg": "control character"}],
            )  # fmt: skip
        return error_page(request, 400)

    @staticmethod
    def _offending(request: HttpRequest) -> list[str] | None:
        if _QUERY_CONTROL.search(request.path):
            return ["path"]
        for key, values in request.GET.lists():
            if _QUERY_CONTROL.search(key) or any(_QUERY_CONTROL.search(v) for v in values):
                return ["query", _QUERY_CONTROL.sub("", key)]
        content_type = request.content_type or ""
        if request.method == "POST" and content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:  # a body too large or malformed raises here as it would in the CSRF check: Django's 400
                form = request.POST
            except OSError:  # the client went away mid-body, as CsrfViewMiddleware allows
                return None
            for key, values in form.lists():
                if _FORM_CONTROL.search(key) or any(_FORM_CONTROL.search(v) for v in values):
                    return ["form", _FORM_CONTROL.sub("", key)]
        return None


# --- refusals ---------------------------------------------------------------------------------------------------------


class RefusalAuditMiddleware:
    """Every refusal leaves exactly one "denied" audit record, pages and API alike: a 403, and a 404 that stands for
    a service's refusal (a record the reader may not see is answered as absent). A service or the API authentication
    that recorded the refusal itself (`audit_record(outcome="denied")` in this request) is not recorded twice; any
    other refusal is recorded here, after the view, so no rolled-back transaction takes the record with it.

    A kernel PermissionDenied or NotFound that a page view leaves uncaught is answered here with the translated page
    (the API maps them itself, in config.api)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusals_reset()
        response = self.get_response(request)
        status = response.status_code
        refused: DomainError | None = getattr(request, "_rongcheng_refused", None)
        if (status == 403 or (status == 404 and refused is not None)) and refusals_recorded() == 0:
            self._record(request, status, refused)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        cause = exception if isinstance(exception, DomainError) else exception.__cause__
        if isinstance(exception, (Http404, DjangoPermissionDenied, DomainError)) and isinstance(cause, DomainError):
            request._rongcheng_refused = cause  # type: ignore[attr-defined]
        if isinstance(exception, DomainError) and exception.status in (403, 404):
            return error_page(request, exception.status)
        return None

    @staticmethod
    def _record(request: HttpRequest, status: int, refused: DomainError | None) -> None:
        match = request.resolver_match
        # The route, never the path: a path may carry an identifier that has no place in the trail.
        refusal_record(
            action="api.refused" if request.path.startswith("/api/") else "page.refused",
            actor=actor_from_user(getattr(request, "user", None)),
            target_type=(match.view_name if match else "")[:100],
            detail={"method": request.method, "route": match.route if match else "", "status": status,
                    "reason": refused.type_slug if refused is not None else "forbidden"},
        )  # fmt: skip


class RequestContextMiddleware:
    """Build the request context once (kernel.context: request id, source address) and make it current while the
    request runs; the id goes back in X-Request-ID so a caller can quote it and an operator find it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = from_request(request)
        with running(context):
            response = self.get_response(request)
        response["X-Request-ID"] = context.request_id
        return response


# --- content security policy ------------------------------------------------------------------------------------------

_CSP_ATTRIBUTES = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the site's own policy built once instead of on every response: a response that
    carries no per-view change (`csp_update` and the like) and a request that drew no nonce get the headers built
    from the settings the first time. Anything else goes through django-csp unchanged."""

    _built: tuple[object, object, str, str] | None = None

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(getattr(response, name, None) is not None for name in _CSP_ATTRIBUTES)
            or HEADER in response
            or HEADER_REPORT_ONLY in response
            or (settings.DEBUG and response.status_code in (404, 500))
        ):
            return super().process_response(request, response)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        built = ContentSecurityPolicyMiddleware._built
        if built is None or built[0] is not policy or built[1] is not report_only:  # settings overridden (tests)
            built = (policy, report_only, build_policy(), build_policy(report_only=True))
            ContentSecurityPolicyMiddleware._built = built
        for header, value, config in ((HEADER, built[2], policy), (HEADER_REPORT_ONLY, built[3], report_only)):
            prefixes = tuple((config or {}).get("EXCLUDE_URL_PREFIXES", None) or ())
            if (
                value
                and not getattr(response, "_csp_exempt" if header == HEADER else "_csp_exempt_ro", False)
                and (not prefixes or not request.path_info.startswith(prefixes))
            ):
                response[header] = value
        if getattr(request, "_csp_nonce", None) is None:
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
