"""The open data portal's pages at /opendata/: search with facets, a dataset with its resources, previews, data
dictionary, quality score, downloads (streamed, as of any published version), versions and their differences, the
public's data requests, and the DCAT catalogue. The Action API is in `catalogue.ckan`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from rongcheng.catalogue import ckan, dcat, selectors, services
from rongcheng.catalogue.errors import DatasetNotFound
from rongcheng.catalogue.models import DataResource, DatasetResource, OpenType, UpdateCycle, item_note, item_title
from rongcheng.kernel.errors import DomainError, RateLimited
from rongcheng.kernel.problems import problem_response
from rongcheng.kernel.ratelimit import rate_limit_request

PAGE = 20
PREVIEW_ROWS = 20
FACET_LABELS = {
    "organization": gettext_lazy("部门"),
    "tags": gettext_lazy("标签"),
    "res_format": gettext_lazy("格式"),
    "license_id": gettext_lazy("许可协议"),
}
QUALITY_LABELS = {
    "licence": gettext_lazy("开放许可"),
    "description": gettext_lazy("有说明"),
    "update_cycle": gettext_lazy("按更新周期更新"),
    "open_format": gettext_lazy("开放格式"),
    "reachable": gettext_lazy("资源均可访问"),
    "documented": gettext_lazy("数据字典完整"),
}
CYCLE_LABELS = dict(UpdateCycle.choices)
TYPE_LABELS = {
    "text": gettext_lazy("字符型"), "integer": gettext_lazy("整数型"), "number": gettext_lazy("数值型"),
    "date": gettext_lazy("日期型"), "boolean": gettext_lazy("布尔型"), "geometry": gettext_lazy("空间型"),
}  # fmt: skip


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if value is True:
        return _("是")
    if value is False:
        return _("否")
    if isinstance(value, dict | list):
        return _("（空间数据）")
    return str(value)


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    # A facet's value as the page quotes it: a quotation mark of its own would end the quoted value early.
    chosen = {field: request.GET.get(field, "").replace('"', "").strip()[:100] for field in FACET_LABELS}
    fq = " ".join(f'{field}:"{value}"' for field, value in chosen.items() if value)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    found = selectors.dataset_search(
        q=q, fq=fq, rows=PAGE, start=(page - 1) * PAGE, facet_fields=list(FACET_LABELS), facet_limit=10
    )

    def link(**change: str) -> str:
        query = {"q": q, **chosen, **change}
        return "?" + urlencode({k: v for k, v in query.items() if v})

    facets = [
        {
            "label": FACET_LABELS[field],
            "items": [{"label": label, "count": n, "chosen": chosen[field] == name,
                       "url": link(**{field: "" if chosen[field] == name else name})} for name, label, n in items],
        }
        for field, items in found.facets.items()
    ]  # fmt: skip
    last = max(1, -(-found.count // PAGE))
    listed = selectors.listed_of(found.datasets)
    return render(request, "catalogue/opendata/search.html", {
        "q": q, "found": found, "facets": facets, "page": page,
        "previous_url": link(page=str(page - 1)) if page > 1 else "",
        "next_url": link(page=str(page + 1)) if page < last else "",
        "datasets": [{"dataset": d, "formats": sorted({r.format for r in listed[d.pk].resources})}
                     for d in found.datasets],
    })  # fmt: skip


def _dataset(request: HttpRequest, name: str) -> Any:
    try:
        return selectors.dataset_get(name_or_id=name, viewer=request.user if request.user.is_authenticated else None)
    except DatasetNotFound:
        raise Http404 from None


@require_GET
def dataset_page(request: HttpRequest, name: str) -> HttpResponse:
    dataset = _dataset(request, name)
    quality = selectors.dataset_quality(dataset)
    licence = selectors.LICENCE_TITLES.get(dataset.licence_id, (dataset.licence_id, "", False))
    resources = list(dataset.resources.order_by("position"))
    return render(request, "catalogue/opendata/dataset.html", {
        "dataset": dataset, "licence": licence[0], "licence_url": licence[1],
        "tags": sorted(t.name for t in dataset.tag_rows.all()), "groups": list(dataset.groups.all()),
        "resources": resources, "cycle": CYCLE_LABELS.get(dataset.update_cycle, ""),
        "quality": quality, "checks": [(QUALITY_LABELS[key], ok) for key, ok in quality.checks],
        "revisions": selectors.revisions_of(dataset),
    })  # fmt: skip


def _resource(request: HttpRequest, name: str, resource_id: str) -> DatasetResource:
    dataset = _dataset(request, name)
    resource = dataset.resources.filter(uuid=resource_id).first() if _is_uuid(resource_id) else None
    if resource is None:
        raise Http404
    return resource  # type: ignore[no-any-return]


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _version(request: HttpRequest, resource: DatasetResource) -> int:
    try:
        number = int(request.GET.get("version", "0"))
    except ValueError:
        raise Http404 from None
    number = number or resource.dataset.revision
    if not number or not resource.dataset.revisions.filter(number=number).exists():
        raise Http404
    return number


def _field_name(field: dict[str, str]) -> str:
    return item_title(field["description"], field["id"])


def _field_note(field: dict[str, str]) -> str:
    return item_note(field["description"])


@require_GET
def resource_page(request: HttpRequest, name: str, resource_id: str) -> HttpResponse:
    resource = _resource(request, name, resource_id)
    rows: list[list[str]] = []
    columns = [f["id"] for f in resource.fields]
    total = 0
    if resource.backing and resource.dataset.revision:
        page = selectors.datastore_search(resource=resource, limit=PREVIEW_ROWS)
        rows = [[_shown(record.get(c)) for c in columns] for record in page.records]
        total = page.total
    dictionary = [{"name": _field_name(f), "id": f["id"], "type": TYPE_LABELS.get(f["type"], f["type"]),
                   "note": _field_note(f)} for f in resource.fields]  # fmt: skip
    base = reverse("opendata:download", args=[resource.dataset.name, resource.uuid])
    downloads = [(label, f"{base}?format={fmt}") for label, fmt in (("CSV", "csv"), ("JSON", "json"), ("XLSX", "xlsx"))]
    if "geometry" in columns:
        downloads.append(("GeoJSON", f"{base}?format=geojson"))
    return render(request, "catalogue/opendata/resource.html", {
        "dataset": resource.dataset, "resource": resource, "rows": rows, "total": total,
        # A column's name as its header, its description's words before the brackets (the code list or the standard
        # in brackets stays in the data dictionary): a long header squeezed a phone's preview to a character a line.
        "headers": [_field_name(f) for f in resource.fields],
        "dictionary": dictionary, "downloads": downloads, "preview_rows": PREVIEW_ROWS,
    })  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_stream(resource: DatasetResource, revision: int) -> Iterator[bytes]:
    """The rows as CSV, in blocks: on PostgreSQL straight from `COPY ... TO STDOUT (FORMAT csv)` over the row's JSON
    fields, else written row by row from a server-side cursor; memory stays flat either way."""
    columns = [f["id"] for f in resource.fields]
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow(columns)).encode("utf-8")
    if connection.vendor == "postgresql" and columns:
        yield from _copy_csv(resource, revision, columns)
        return
    buffer: list[str] = []
    for row in selectors.datastore_stream(resource, revision):
        buffer.append(writer.writerow([_cell(row.get(c)) for c in columns]))
        if len(buffer) >= 500:
            yield "".join(buffer).encode("utf-8")
            buffer = []
    if buffer:
        yield "".join(buffer).encode("utf-8")


CSV_CHUNK = 1 << 16  # bytes of CSV rows per response chunk on PostgreSQL


def _copy_csv(resource: DatasetResource, revision: int, columns: list[str]) -> Iterator[bytes]:
    select = ", ".join("data->>%s" for _ in columns)
    statement = (
        f"COPY (SELECT {select} FROM catalogue_datastorerow WHERE resource_id = %s AND revision = %s "  # noqa: S608
        "ORDER BY row_number) TO STDOUT WITH (FORMAT csv)"
    )  # only placeholders are interpolated; the values are bound by the driver
    # PostgreSQL sends COPY's output a row at a time: one response chunk per row cost the server a write and the
    # WSGI layer an iteration per row (the download ran at 0.11x COPY). The rows go out in chunks of about
    # CSV_CHUNK bytes instead; memory stays flat (one chunk at a time).
    chunk = bytearray()
    with connection.cursor() as cursor, cursor.copy(statement, [*columns, resource.pk, revision]) as copy:
        for block in copy:
            chunk += block
            if len(chunk) >= CSV_CHUNK:
                yield bytes(chunk)
                chunk.clear()
    if chunk:
        yield bytes(chunk)


def _cell(value: Any) -> Any:
    """A value as PostgreSQL's `->>` writes it, so that both paths give the same file."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _json_stream(resource: DatasetResource, revision: int, geo: bool) -> Iterator[bytes]:
    yield b'{"type": "FeatureCollection", "features": [' if geo else b"["
    first = True
    for row in selectors.datastore_stream(resource, revision):
        if geo:
            geometry = row.get("geometry")
            properties = {k: v for k, v in row.items() if k != "geometry"}
            item = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": geometry}
                    if isinstance(geometry, list) else geometry, "properties": properties}  # fmt: skip
        else:
            item = row
        yield (b"" if first else b",\n") + json.dumps(item, ensure_ascii=False).encode("utf-8")
        first = False
    yield b"]}" if geo else b"]"


@require_GET
def download(request: HttpRequest, name: str, resource_id: str) -> HttpResponse | StreamingHttpResponse:
    resource = _resource(request, name, resource_id)
    if not resource.backing:
        if resource.url:
            return HttpResponseRedirect(resource.url)
        raise Http404
    revision = _version(request, resource)
    fmt = request.GET.get("format", resource.format).lower()
    stem = f"{resource.dataset.name}-v{revision}"
    if fmt == "csv":
        response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
            _csv_stream(resource, revision), content_type="text/csv; charset=utf-8"
        )
    elif fmt in ("json", "geojson"):
        geo = fmt == "geojson"
        response = StreamingHttpResponse(
            _json_stream(resource, revision, geo), content_type="application/geo+json" if geo else "application/json"
        )
    elif fmt == "xlsx":
        response = HttpResponse(_xlsx(resource, revision), content_type=selectors.MEDIA_TYPES["XLSX"])
    else:
        raise Http404
    response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response


def _xlsx(resource: DatasetResource, revision: int) -> bytes:
    import openpyxl  # type: ignore[import-untyped]  # no stubs installed

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("data")
    columns = [f["id"] for f in resource.fields]
    sheet.append(columns)
    for row in selectors.datastore_stream(resource, revision):
        sheet.append([_cell(row.get(c)) for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@require_GET
def versions(request: HttpRequest, name: str) -> HttpResponse:
    dataset = _dataset(request, name)
    revisions = selectors.revisions_of(dataset)
    diff = None
    try:
        a, b = int(request.GET.get("a", "0")), int(request.GET.get("b", "0"))
    except ValueError:
        a = b = 0
    if a and b:
        try:
            diff = selectors.revision_diff(dataset, a, b)
        except DatasetNotFound:
            raise Http404 from None
    return render(request, "catalogue/opendata/versions.html",
                  {"dataset": dataset, "revisions": revisions, "diff": diff, "a": a, "b": b})  # fmt: skip


@require_http_methods(["GET", "POST"])
def data_request(request: HttpRequest) -> HttpResponse:
    organizations = [d for d, _n in selectors.organizations_with_counts()]
    context: dict[str, Any] = {"organizations": organizations, "errors": {}, "values": {}}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("title", "description", "organization")}
        context["values"] = values
        try:
            rate_limit_request("opendata.data_request", request)
            services.data_request_submit(title=values["title"], description=values["description"],
                                         organization_code=values["organization"])  # fmt: skip
        except RateLimited:
            raise
        except DomainError as exc:
            context["errors"] = {str(e["loc"][0]): e["msg"] for e in exc.errors}
            return render(request, "catalogue/opendata/request.html", context, status=422)
        messages.success(request, _("已收到您的数据需求，已转给相关部门和市数字办研究；开放的数据将在本门户发布。"))
        return HttpResponseRedirect(reverse("opendata:search"))
    return render(request, "catalogue/opendata/request.html", context)


class _BadParameter(Exception):
    """A query parameter of a DCAT endpoint that cannot be read: answered 400 with a problem document naming it."""

    def __init__(self, name: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.name, self.rule, self.message = name, rule, message


def _bad_parameter(request: HttpRequest, exc: _BadParameter) -> HttpResponse:
    return problem_response(
        request, status=400, type_slug="bad-request", title="Bad request", detail=exc.message,
        errors=[{"loc": ["query", exc.name], "rule": exc.rule, "msg": exc.message}],
    )  # fmt: skip


def _modified_since(request: HttpRequest) -> dt.datetime | None:
    value = request.GET.get("modified_since", "")
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _BadParameter(
            "modified_since", "modified_since.iso8601",
            "modified_since is a date or moment in ISO 8601, such as 2024-01-31 or 2024-01-31T08:00:00Z.",
        ) from None  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _page(request: HttpRequest) -> int:
    value = request.GET.get("page", "1")
    if not value.isdigit() or int(value) < 1 or len(value) > 9:
        raise _BadParameter("page", "page.natural", "page is a whole number from 1.")
    return int(value)


def _rdf(nodes: list[dict[str, Any]], fmt: str) -> HttpResponse:
    if fmt == "ttl":
        return HttpResponse(dcat.as_turtle(nodes), content_type="text/turtle; charset=utf-8")
    return HttpResponse(dcat.as_jsonld(nodes), content_type="application/ld+json; charset=utf-8")


@require_GET
def catalog(request: HttpRequest, fmt: str) -> HttpResponse:
    """The catalog as DCAT-AP (JSON-LD or Turtle), a Hydra page of it; an unreadable `page` or `modified_since` is a
    400 problem document naming the parameter (never a 404: the catalog is there, the question is malformed)."""
    base = request.build_absolute_uri("/").rstrip("/")
    try:
        page, since = _page(request), _modified_since(request)
    except _BadParameter as exc:
        return _bad_parameter(request, exc)
    nodes = dcat.catalog_nodes(base, page=page, modified_since=since, path=request.path)
    return _rdf(nodes, fmt)


@require_GET
def dataset_rdf(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    dataset = _dataset(request, name)
    return _rdf(dcat.dataset_nodes(dataset, request.build_absolute_uri("/").rstrip("/")), fmt)


@require_GET
def catalogue_resource(request: HttpRequest, code: str) -> HttpResponse:
    """The public metadata of a catalogue resource (open or not): never its rows."""
    resource = DataResource.objects.select_related("provider").filter(code=code).first()
    if resource is None:
        raise Http404
    return render(request, "catalogue/opendata/catalogue_resource.html", {
        "resource": resource, "cycle": CYCLE_LABELS.get(resource.update_cycle, ""),
        "is_open": resource.open_type == OpenType.OPEN,
        "datasets": selectors.datasets_visible(None).filter(data_resource=resource),
    })  # fmt: skip


@require_GET
def organization(request: HttpRequest, name: str) -> HttpResponse:
    try:
        department = selectors.organization_get(name)
    except DatasetNotFound:
        raise Http404 from None
    return HttpResponseRedirect(reverse("opendata:search") + "?" + urlencode({"organization": department.code.lower()}))


@require_GET
def group(request: HttpRequest, name: str) -> HttpResponse:
    try:
        selectors.group_get(name)
    except DatasetNotFound:
        raise Http404 from None
    return HttpResponseRedirect(reverse("opendata:search") + "?" + urlencode({"q": f"groups:{name}"}))


urlpatterns = [
    path("", search, name="search"),
    path("api/3/action/<str:name>", ckan.action, name="action3"),
    path("api/action/<str:name>", ckan.action, name="action"),
    path("catalog.jsonld", catalog, {"fmt": "jsonld"}, name="catalog-jsonld"),
    path("catalog.ttl", catalog, {"fmt": "ttl"}, name="catalog-ttl"),
    path("request/", data_request, name="data-request"),
    path("organization/<str:name>", organization, name="organization"),
    path("group/<str:name>", group, name="group"),
    path("catalogue-resource/<path:code>", catalogue_resource, name="catalogue-resource"),
    path("dataset/<slug:name>.jsonld", dataset_rdf, {"fmt": "jsonld"}, name="dataset-jsonld"),
    path("dataset/<slug:name>.ttl", dataset_rdf, {"fmt": "ttl"}, name="dataset-ttl"),
    path("dataset/<slug:name>", dataset_page, name="dataset"),
    path("dataset/<slug:name>/versions", versions, name="versions"),
    path("dataset/<slug:name>/resource/<str:resource_id>", resource_page, name="resource"),
    path("dataset/<slug:name>/resource/<str:resource_id>/download", download, name="download"),
]
