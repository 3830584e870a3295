"""Every write is rate-limited per account: the one place that applies kernel.ratelimit to authenticated writes.

A write is any request whose method is not GET, HEAD or OPTIONS, to any page or API operation. Its scope is the one
declared for its route in WRITE_SCOPES, or `write.default` for a route not listed, so a new write route is limited
the moment it exists. Route names are a page's view name (`staff:create`), or `api:<app>:<operation function>` for an
API operation (`api:staff:staff_create`); `<namespace>:*` and `api:<app>:*` name all routes of an app. The rates are
in settings.RATE_LIMITS (docs/operations.md lists them); write scopes count per account, so an anonymous request
(sign-in, registration: limited per address by their own scopes) passes them uncounted.

Pages are limited by WriteRateLimitMiddleware before the view runs (it answers the 429 page itself: an exception
raised in `process_view` would reach no `process_exception`). API operations are limited by `limit_api_writes(api)`,
which wraps every write operation of the NinjaAPI and declares its 429 answer in the OpenAPI document.
The endpoints' own narrower scopes (identity.sign_in, hall.draft …) count in addition.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch
from ninja import NinjaAPI

from rongcheng.kernel.errors import RateLimited
from rongcheng.kernel.ratelimit import OPENAPI_RATE_LIMITED, rate_limit_request
from rongcheng.portal.middleware import rate_limited_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_SCOPE = "write.default"

# Route → scope, one scope per kind of write. Exact names win over `…:*`; anything else is write.default.
WRITE_SCOPES: dict[str, str] = {
    # Staff administration: accounts, roles, grants, password resets.
    "staff:*": "staff.admin",
    "api:staff:*": "staff.admin",
    # Registries: register, correct, close, record indicators; imports; lookups that POST the identifier.
    "registries:*": "registries.write",
    "api:registries:*": "registries.write",
    "registries:import": "registries.import",
    "api:registries:person_by_id_number": "registries.lookup",
    "api:registries:entity_by_credit_code": "registries.lookup",
    # Licences: issue, transitions, uses, authorizations; bulk CSV; lookups and verifications sent by POST.
    "licences:*": "licences.write",
    "api:licences:*": "licences.write",
    "licences:bulk": "licences.bulk",
    "licences:verify-form": "licences.lookup",
    "api:licences:holder_query": "licences.lookup",
    "api:licences:document_verify": "licences.lookup",
    # Data catalogue: resources, uploads, sharing requests and answers, publication; the CKAN API's writes are limited
    # per address by their own scope (opendata.write).
    "catalogue:*": "catalogue.write",
    "catalogue:resource-upload": "catalogue.upload",
    "opendata:*": "catalogue.write",
    # Service hall: applicants' drafts and submissions; officers' decisions; messages and ratings; configuration.
    "hall:*": "hall.apply",
    "api:hall:*": "hall.apply",
    "hall:workbench-transition": "hall.decide",
    "hall:workbench-countersign": "hall.decide",
    "hall:follow-up-answer": "hall.decide",
    "api:hall:application_transition": "hall.decide",
    "api:hall:countersign": "hall.decide",
    "api:hall:application_check_record": "hall.decide",
    # Public credit: departments' reports and files; the credit office's lists, screenings and repair decisions;
    # subjects' repair and report requests; anonymous verification by POST.
    "credit:*": "credit.report",
    "api:credit:*": "credit.report",
    "credit:department-file": "credit.file",
    "api:credit:records_file": "credit.file",
    "credit:office": "credit.office",
    "credit:repair-decide": "credit.office",
    "credit:screening": "credit.office",
    "api:credit:memorandum_save": "credit.office",
    "api:credit:list_entry_add": "credit.office",
    "api:credit:list_entry_remove": "credit.office",
    "api:credit:screening": "credit.office",
    "api:credit:repair_decide": "credit.office",
    "credit:repair-request": "credit.subject",
    "credit:report-request": "credit.subject",
    "api:credit:repair_request": "credit.subject",
    "api:credit:report_request": "credit.subject",
    "api:credit:report_verify": "credit.lookup",
    "hall:workbench-check-record": "hall.decide",
    "api:hall:follow_up_answer": "hall.decide",
    "api:hall:application_rate": "hall.message",
    "api:hall:message_read": "hall.message",
    "api:hall:service_save": "hall.admin",
    "api:hall:calendar_set": "hall.admin",
    "api:hall:calendar_remove": "hall.admin",
    # City card: merchants and terminals pay; channels top up and pay bills; departments issue bills; residents and
    # finance staff on the pages.
    "card:*": "card.resident",
    "api:card:*": "card.pay",
    "api:card:top_up": "card.topup",
    "api:card:bill_pay": "card.topup",
    "api:card:bill_issue": "card.bills",
    "api:card:qr_issue": "card.resident",
    "card:clearing": "card.finance",
    "card:reconcile": "card.finance",
    # City cases: reports from residents, grid workers and the hotline; the staff's steps; Open311 writes.
    "cases:*": "cases.work",
    "api:cases:*": "cases.work",
    "cases:report": "cases.report",
    "api:cases:case_report": "cases.report",
    "api:cases:work_case_report": "cases.report",
    "open311:*": "cases.open311",
    # OIDC client administration.
    "oidc:*": "oidc.clients",
    "api:oidc:*": "oidc.clients",
    "oidc:authorized-client-revoke": "identity.account",
    # One's own account: password, TOTP, representations, sessions, step-up.
    "identity:*": "identity.account",
    "api:identity:*": "identity.account",
    # Spatio-temporal platform: batch geocoding (page and API).
    "spatial:*": "spatial.geocode",
    "api:spatial:*": "spatial.geocode",
}


def write_scope(route: str) -> str:
    """The scope of the writes to `route` (a name as WRITE_SCOPES spells them)."""
    if route in WRITE_SCOPES:
        return WRITE_SCOPES[route]
    group = route.rpartition(":")[0]
    return WRITE_SCOPES.get(f"{group}:*", DEFAULT_SCOPE) if group else DEFAULT_SCOPE


def page_route(match: ResolverMatch) -> str:
    return match.view_name


def api_route(view_func: Callable[..., Any]) -> str:
    """`api:<app>:<function>` of an API operation, e.g. rongcheng.staff.api.staff_create → api:staff:staff_create."""
    module = view_func.__module__.split(".")
    app = module[1] if len(module) > 2 and module[0] == "rongcheng" else view_func.__module__
    return f"api:{app}:{view_func.__name__}"


class WriteRateLimitMiddleware:
    """Counts every write to a page against its route's scope; the API's operations are limit_api_writes'."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method in SAFE_METHODS or match is None or match.namespaces[:1] == ["api"]:
            return None
        try:
            rate_limit_request(write_scope(page_route(match)), request)
        except RateLimited as refused:
            return rate_limited_response(request, refused)
        return None


def limit_api_writes(api: NinjaAPI) -> None:
    """Every write operation of `api` counts against its route's scope before it runs, and declares its 429.

    Called once, after the last router is added (django-ninja refuses routers added later, so none escapes). The
    limit wraps the bound operation's function: django-ninja calls it after authenticating the caller (a bearer
    token's account is known) and validating the input; a refusal is the API's 429 problem document.
    """
    for bound in api._get_bound_routers():
        for path_view in bound.path_operations.values():
            for operation in path_view.operations:
                if not set(operation.methods) - SAFE_METHODS:
                    continue
                operation.view_func = _limited(operation.view_func, write_scope(api_route(operation.view_func)))
                operation.openapi_extra = _merged(operation.openapi_extra or {}, OPENAPI_RATE_LIMITED)


def _limited(view_func: Callable[..., Any], scope: str) -> Callable[..., Any]:
    @functools.wraps(view_func)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.method not in SAFE_METHODS:
            rate_limit_request(scope, request)
        return view_func(request, *args, **kwargs)

    limited.write_scope = scope  # type: ignore[attr-defined]
    return limited


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged.setdefault(key, value)
    return merged
