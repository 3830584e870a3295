"""The CKAN-compatible Action API at /opendata/api/3/action/{name} and /opendata/api/action/{name}.

Plain Django views (no trailing slash, no redirect, no CSRF token): GET with query parameters or POST with a JSON
body (or a form), answering CKAN's envelope `{"help", "success", "result"}`, and its errors
`{"help", "success": false, "error": {"__type", "message", <field>: [...]}}` with CKAN's statuses: 404 Not Found
Error, 409 Validation Error, 409 Search Error (a filter query `fq` the search does not understand, as CKAN answers
one its Solr refuses: `Search Query is invalid: ...`, never an empty result), 403 Authorization Error, 400 for an
unknown action or an unreadable body. Clients written
for CKAN (ckanapi, harvesters) work unmodified: `RemoteCKAN("<server>/opendata")`.

Writes (`package_create`, `package_patch`, `resource_create`) need a department's API token in the `Authorization`
(or `X-CKAN-API-Key`) header; they act for that department only, through the same services as the pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from rongcheng.catalogue import selectors, services
from rongcheng.catalogue.errors import DatasetNotFound, DatastoreQueryInvalid
from rongcheng.catalogue.models import DepartmentApiToken
from rongcheng.kernel.errors import DomainError, NotFound, PermissionDenied, RateLimited
from rongcheng.kernel.ratelimit import rate_limit_request

CKAN_VERSION = "2.10.4"
MAX_ROWS = 1000
MAX_DATASTORE_LIMIT = 32000
MAX_INTEGER = 2**31 - 1
WRITE_ACTIONS = frozenset({"package_create", "package_patch", "resource_create"})


class CkanError(Exception):
    status = 409
    type = "Validation Error"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class CkanNotFound(CkanError):
    status = 404
    type = "Not Found Error"


class CkanNotAuthorized(CkanError):
    status = 403
    type = "Authorization Error"


class CkanSearchError(CkanError):
    """A filter query the search does not understand: CKAN answers Solr's refusal of it so (409, `Search Error`;
    ckanapi raises its SearchError), never as a search that found nothing."""

    status = 409
    type = "Search Error"


class CkanBadRequest(CkanError):
    status = 400
    type = "Bad Request"


class CkanBodyTooLarge(CkanBadRequest):
    """A body over the server's limit (Django's DATA_UPLOAD_MAX_MEMORY_SIZE): CKAN has no error of its own for it
    (its web server answers 413), so a Bad Request in the envelope with the status that says why."""

    status = 413


def _invalid(field: str, message: str) -> CkanError:
    return CkanError(f"{field}: {message}", {field: [message]})


class Call:
    """One call: its parameters, the caller (a department token, a signed-in staff member, or the public) and the
    server's base URL for links."""

    def __init__(self, request: HttpRequest, params: dict[str, Any], token: DepartmentApiToken | None) -> None:
        self.request = request
        self.params = params
        self.token = token
        user = getattr(request, "user", None)
        self.viewer: Any = token or (user if user is not None and user.is_authenticated else None)
        self.base_url = request.build_absolute_uri("/").rstrip("/")

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def required(self, name: str) -> Any:
        value = self.params.get(name)
        if value in (None, ""):
            raise _invalid(name, "Missing value")
        return value

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        value = self.params.get(name, default)
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)  # CKAN's int_validator: 1.5 is no count of rows
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            raise _invalid(name, "Invalid integer") from None
        if number < low:
            raise _invalid(name, "Must be a natural number")
        if number > MAX_INTEGER:  # an OFFSET PostgreSQL cannot take is a bad call, not a server error
            raise _invalid(name, f"Must be at most {MAX_INTEGER}")
        return min(number, high) if high is not None else number

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name, default)
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes", "on")

    def json_value(self, name: str, default: Any) -> Any:
        value = self.params.get(name, default)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise _invalid(name, "Cannot parse JSON") from None
        return value


# --- read actions -----------------------------------------------------------------------------------------------------


def status_show(call: Call) -> dict[str, Any]:
    return {
        "site_title": "榕城开放数据", "site_description": "福州市政府数据开放平台", "site_url": call.base_url,
        "ckan_version": CKAN_VERSION, "api_version": 3, "locale_default": "zh_Hans",
        "extensions": ["datastore", "dcat"],
    }  # fmt: skip


def package_list(call: Call) -> list[str]:
    limit = call.integer("limit", 10_000, high=10_000)
    offset = call.integer("offset", 0)
    qs = selectors.datasets_visible(None).order_by("name").values_list("name", flat=True)
    return list(qs[offset : offset + limit])


def package_search(call: Call) -> dict[str, Any]:
    rows = call.integer("rows", 10, high=MAX_ROWS)
    start = call.integer("start", 0)
    facet_fields = call.json_value("facet.field", [])
    if isinstance(facet_fields, str):
        facet_fields = [facet_fields]
    if not isinstance(facet_fields, list) or any(f not in selectors.FACET_FIELDS for f in facet_fields):
        raise _invalid("facet.field", f"Facets are among {', '.join(selectors.FACET_FIELDS)}")
    facet_limit = call.integer("facet.limit", 50, low=-1, high=1000)
    q, fq = str(call.get("q") or ""), call.get("fq") or ""
    if isinstance(fq, list):
        fq = " ".join(str(x) for x in fq)
    sort = str(call.get("sort") or "")
    try:
        found = selectors.dataset_search(
            q=q, fq=str(fq), rows=rows, start=start, sort=sort, facet_fields=facet_fields,
            facet_limit=facet_limit if facet_limit >= 0 else 1000, viewer=call.viewer,
            include_private=call.boolean("include_private"),
        )  # fmt: skip
    except selectors.SearchQueryInvalid as exc:
        raise CkanSearchError(
            f"Search Query is invalid: fq: {exc}. Understood: {selectors.FQ_UNDERSTOOD}", {"fq": [str(exc)]}
        ) from None
    except ValueError as exc:
        raise _invalid("sort" if str(exc) == "sort" else "fq", f"Cannot search by {exc}") from None
    return {
        "count": found.count,
        "sort": sort or "score desc, metadata_modified desc",
        "results": selectors.package_dicts(found.datasets, base_url=call.base_url),
        "facets": {field: {name: n for name, _, n in items} for field, items in found.facets.items()},
        "search_facets": {
            field: {
                "title": field,
                "items": [{"name": name, "display_name": label, "count": n} for name, label, n in items],
            }
            for field, items in found.facets.items()
        },
    }


def package_show(call: Call) -> dict[str, Any]:
    dataset = selectors.dataset_get(name_or_id=str(call.required("id")), viewer=call.viewer)
    mine = selectors.may_see_unlisted(call.viewer, dataset.organization_id)
    return selectors.package_dict(dataset, base_url=call.base_url, with_pending=mine)


def current_package_list_with_resources(call: Call) -> list[dict[str, Any]]:
    limit = call.integer("limit", 10, high=MAX_ROWS)
    offset = call.integer("offset", 0)
    qs = selectors.datasets_visible(None).order_by("-metadata_modified", "name").select_related(*selectors.PAGE_RELATED)
    return selectors.package_dicts(list(qs[offset : offset + limit]), base_url=call.base_url)


def resource_show(call: Call) -> dict[str, Any]:
    resource = selectors.resource_get(resource_id=str(call.required("id")), viewer=call.viewer)
    return selectors.resource_dict(resource, base_url=call.base_url)


def organization_list(call: Call) -> list[Any]:
    all_fields = call.boolean("all_fields")
    limit = call.integer("limit", 1000, high=1000)
    offset = call.integer("offset", 0)
    organizations = selectors.organizations_with_counts()
    sort = str(call.get("sort") or "name asc")
    if sort.startswith("package_count"):
        organizations.sort(key=lambda pair: (-pair[1], pair[0].code))
    organizations = organizations[offset : offset + limit]
    if all_fields:
        return [selectors.organization_dict(d, count=n) for d, n in organizations]
    return [selectors.organization_name(d) for d, _ in organizations]


def organization_show(call: Call) -> dict[str, Any]:
    department = selectors.organization_get(str(call.required("id")))
    count = next(n for d, n in selectors.organizations_with_counts() if d.pk == department.pk)
    data = selectors.organization_dict(department, count=count)
    if call.boolean("include_datasets"):
        found = selectors.dataset_search(fq=f"organization:{department.code}", rows=MAX_ROWS)
        data["packages"] = selectors.package_dicts(found.datasets, base_url=call.base_url)
    return data


def group_list(call: Call) -> list[Any]:
    groups = selectors.groups_with_counts()
    if call.boolean("all_fields"):
        return [selectors.group_dict(g, count=n) for g, n in groups]
    return [g.name for g, _ in groups]


def group_show(call: Call) -> dict[str, Any]:
    group = selectors.group_get(str(call.required("id")))
    count = next(n for g, n in selectors.groups_with_counts() if g.pk == group.pk)
    data = selectors.group_dict(group, count=count)
    if call.boolean("include_datasets"):
        found = selectors.dataset_search(fq=f"groups:{group.name}", rows=MAX_ROWS)
        data["packages"] = selectors.package_dicts(found.datasets, base_url=call.base_url)
    return data


def tag_list(call: Call) -> list[Any]:
    names = selectors.tags_listed(str(call.get("query") or call.get("q") or ""))
    if call.boolean("all_fields"):
        return [{"id": name, "name": name, "display_name": name, "vocabulary_id": None} for name in names]
    return names


def license_list(call: Call) -> list[dict[str, Any]]:
    return [
        {"id": key, "title": title, "url": url, "od_conformance": "approved" if is_open else "not reviewed",
         "osd_conformance": "not reviewed", "status": "active", "domain_data": True}
        for key, (title, url, is_open) in selectors.LICENCE_TITLES.items()
    ]  # fmt: skip


def _sort_spec(value: Any) -> list[tuple[str, bool]]:
    parts = value if isinstance(value, list) else str(value or "").split(",")
    spec = []
    for part in parts:
        words = str(part).split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise _invalid("sort", f"Cannot sort by {part}")
        spec.append((words[0].strip('"'), len(words) == 2 and words[1].lower() == "desc"))
    return spec


def datastore_search(call: Call) -> dict[str, Any]:
    resource = selectors.resource_get(resource_id=str(call.required("resource_id")), viewer=call.viewer)
    if not resource.backing or not resource.dataset.revision:
        raise CkanNotFound(f'Resource "{resource.uuid}" was not found.')
    filters = call.json_value("filters", {}) or {}
    if not isinstance(filters, dict):
        raise _invalid("filters", "Not a JSON object")
    fields = call.json_value("fields", None)
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",") if f.strip()]
    limit = call.integer("limit", 100, high=MAX_DATASTORE_LIMIT)
    offset = call.integer("offset", 0)
    revision = call.integer("version", 0) or None
    try:
        page = selectors.datastore_search(
            resource=resource, filters=filters, q=str(call.get("q") or ""), limit=limit, offset=offset,
            fields=fields, sort=_sort_spec(call.get("sort")), revision=revision,
            include_total=call.boolean("include_total", True),
        )  # fmt: skip
    except DatastoreQueryInvalid as exc:
        raise _invalid(exc.argument, exc.message) from None
    path = f"/api/3/action/datastore_search?resource_id={resource.uuid}"
    return {
        "resource_id": str(resource.uuid), "fields": page.fields, "records": page.records, "total": page.total,
        "limit": page.limit, "offset": page.offset, "include_total": page.total >= 0,
        "records_format": "objects",
        "_links": {"start": path, "next": f"{path}&offset={offset + limit}"},
    }  # fmt: skip


def help_show(call: Call) -> str:
    action = ACTIONS.get(str(call.required("name")))
    if action is None:
        raise CkanNotFound("Action function not found")
    return (action.__doc__ or call.get("name")).strip()


# --- write actions (department tokens) -----------------------------------------------------------------------------


def _writer(call: Call) -> DepartmentApiToken:
    if call.token is None:
        raise CkanNotAuthorized("Action requires an API token of a department")
    return call.token


def package_create(call: Call) -> dict[str, Any]:
    token = _writer(call)
    owner = str(call.get("owner_org") or token.department.code)
    dataset = services.dataset_create(
        organization_code=owner, name=str(call.get("name") or ""), data=dict(call.params), actor=token
    )
    return selectors.package_dict(dataset, base_url=call.base_url, with_pending=True)


def package_patch(call: Call) -> dict[str, Any]:
    token = _writer(call)
    name = str(call.required("id"))
    changes = {k: v for k, v in call.params.items() if k in ("title", "notes", "tags", "groups", "license_id",
                                                              "private", "update_cycle")}  # fmt: skip
    dataset = services.dataset_update(name=name, changes=changes, actor=token)
    return selectors.package_dict(dataset, base_url=call.base_url, with_pending=True)


def resource_create(call: Call) -> dict[str, Any]:
    token = _writer(call)
    resource = services.dataset_resource_add(
        dataset_name=str(call.required("package_id")), data=dict(call.params), actor=token
    )
    return selectors.resource_dict(resource, base_url=call.base_url)


ACTIONS: dict[str, Callable[[Call], Any]] = {
    f.__name__: f
    for f in (
        status_show, package_list, package_search, package_show, current_package_list_with_resources, resource_show,
        organization_list, organization_show, group_list, group_show, tag_list, license_list, datastore_search,
        help_show, package_create, package_patch, resource_create,
    )
}  # fmt: skip


# --- the view ---------------------------------------------------------------------------------------------------------


def _params(request: HttpRequest) -> dict[str, Any]:
    try:
        return _read_params(request)
    except RequestDataTooBig:
        raise CkanBodyTooLarge("Bad request - the request body is larger than the server accepts") from None
    except TooManyFieldsSent:
        raise CkanBadRequest("Bad request - the request sends more fields than the server accepts") from None


def _read_params(request: HttpRequest) -> dict[str, Any]:
    if request.method == "POST":
        content_type = request.content_type or ""
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            return {k: (v[0] if len(v) == 1 else v) for k, v in request.POST.lists()}
        if not request.body:
            return {}
        try:
            body = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise CkanBadRequest("Bad request - JSON Error: could not read the request body") from None
        if not isinstance(body, dict):
            raise CkanBadRequest("Bad request - JSON Error: the request body is not an object")
        return body
    return {k: (v[0] if len(v) == 1 else v) for k, v in request.GET.lists()}


# C0 and C1 controls and DEL; a text parameter (a description) may hold tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _has_control(value: Any) -> bool:
    """Whether a parameter, a JSON body's value or key at any depth, carries a control character (PostgreSQL refuses
    a NUL in text and JSONB; a NUL in a LIKE pattern would match everything)."""
    if isinstance(value, str):
        return bool(_CONTROL.search(value))
    if isinstance(value, dict):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control(v) for v in value)
    return False


def _token(request: HttpRequest) -> DepartmentApiToken | None:
    raw = request.headers.get("Authorization") or request.headers.get("X-CKAN-API-Key") or ""
    raw = raw.removeprefix("Bearer ").strip()
    if not raw:
        return None
    try:
        return services.api_token_authenticate(raw)
    except PermissionDenied as exc:
        raise CkanNotAuthorized(exc.detail) from None


def _envelope(request: HttpRequest, name: str, body: dict[str, Any], status: int = 200) -> JsonResponse:
    help_url = request.build_absolute_uri(f"/opendata/api/3/action/help_show?name={name}")
    response = JsonResponse({"help": help_url, **body}, status=status, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return response


def _domain_error(exc: DomainError) -> CkanError:
    if isinstance(exc, NotFound):
        return CkanNotFound("Not found")
    if isinstance(exc, PermissionDenied):
        return CkanNotAuthorized(exc.detail)
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = error.get("loc") or ["__all__"]
        fields.setdefault(str(loc[0]), []).append(str(error.get("msg", "")))
    return CkanError(exc.detail, fields)


@csrf_exempt
def action(request: HttpRequest, name: str) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        refused = {"__type": "Bad Request", "message": "Use GET or POST"}
        response = _envelope(request, name, {"success": False, "error": refused}, 405)
        response["Allow"] = "GET, POST"
        return response
    function = ACTIONS.get(name)
    try:
        rate_limit_request("opendata.write" if name in WRITE_ACTIONS else "opendata.read", request)
        if _CONTROL.search(name):
            raise CkanBadRequest("Bad request - control characters are not allowed in the action name")
        if function is None:
            raise CkanBadRequest(f"Bad request - Action name not known: {name}")
        params = _params(request)
        try:
            hostile = _has_control(params)
        except RecursionError:
            raise CkanBadRequest("Bad request - JSON Error: the request body is nested too deeply") from None
        if hostile:
            raise CkanBadRequest("Bad request - control characters are not allowed in the parameters")
        call = Call(request, params, _token(request))
        result = function(call)
    except CkanError as exc:
        error: dict[str, Any] = {"__type": exc.type, "message": exc.message, **exc.fields}
        return _envelope(request, name, {"success": False, "error": error}, exc.status)
    except RateLimited as exc:
        response = _envelope(request, name, {"success": False, "error": {"__type": "Rate Limit Error",
                                                                          "message": exc.detail}}, 429)  # fmt: skip
        response["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return response
    except DatasetNotFound:
        return _envelope(request, name, {"success": False, "error": {"__type": "Not Found Error",
                                                                      "message": "Not found"}}, 404)  # fmt: skip
    except DomainError as exc:
        mapped = _domain_error(exc)
        error = {"__type": mapped.type, "message": mapped.message, **mapped.fields}
        return _envelope(request, name, {"success": False, "error": error}, mapped.status)
    return _envelope(request, name, {"success": True, "result": result})
