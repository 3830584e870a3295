"""OGC API – Features Part 1 at /ogc/ (Core, GeoJSON, HTML, OpenAPI 3.0), as plain Django views.

Each resource is JSON (GeoJSON for features) when `f=json` is asked or the client sends no Accept header naming
text/html (OWSLib, GDAL, QGIS), and an HTML page for a browser or `f=html`. Errors are the standard's exception
document `{"code", "description"}` with 400 (bad parameter, unknown parameter) or 404 (unknown collection or
feature). Reads are public: the layers carry no personal data; they are rate-limited per address.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.form_errors import add_domain_errors
from rongcheng.kernel.ratelimit import rate_limited
from rongcheng.spatial import ogc
from rongcheng.spatial.errors import SpatialInputInvalid
from rongcheng.spatial.models import CoordinateSystem
from rongcheng.spatial.ogc import OgcError
from rongcheng.spatial.openapi import openapi_document
from rongcheng.spatial.permissions import may_geocode_batch, may_register_poi
from rongcheng.spatial.selectors import poi_imports
from rongcheng.spatial.services import (
    BATCH_MAX_BYTES,
    FeaturePage,
    Layer,
    PreparedFeature,
    geocode,
    geocode_batch,
    layer_get,
    layer_list,
    poi_import,
)

GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


def _json(document: Any, *, content_type: str = "application/json", status: int = 200) -> HttpResponse:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    if ";" not in content_type:
        content_type = f"{content_type}; charset=utf-8"
    return HttpResponse(body, content_type=content_type, status=status)


def _feature_collection(document: dict[str, Any]) -> HttpResponse:
    """GeoJSON of a FeatureCollection; prepared features are written from their kept JSON text."""
    features = document["features"]
    rest = json.dumps({**document, "features": None}, ensure_ascii=False, separators=(",", ":"))
    encoded = ",".join(
        f.json if isinstance(f, PreparedFeature) else json.dumps(f, ensure_ascii=False, separators=(",", ":"))
        for f in features
    )
    body = rest.replace('"features":null', f'"features":[{encoded}]', 1)
    return HttpResponse(body, content_type=f"{GEOJSON}; charset=utf-8")


def _wants_html(request: HttpRequest) -> bool:
    f = request.GET.get("f")
    if f == "html":
        return True
    if f in ("json", "geojson"):
        return False
    if f is not None:
        raise ogc.invalid(f"f takes json or html, not {f[:20]!r}.")
    return "text/html" in request.headers.get("Accept", "")


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/ogc").rstrip("/")


def _layer(collection_id: str) -> Layer:
    layer = layer_get(collection_id)
    if layer is None:
        raise ogc.not_found(f"There is no collection {collection_id[:60]!r}; /ogc/collections lists them.")
    return layer


def _ogc_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except OgcError as exc:
            return _json(exc.document(), status=exc.status)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return require_safe(rate_limited("spatial.ogc", methods=("GET", "HEAD"))(wrapper))


@_ogc_view
def landing(request: HttpRequest) -> HttpResponse:
    base = _base(request)
    document = {
        "title": _("榕城时空信息公共服务平台"),
        "description": _("福州市行政区划、单元网格、标准地址、兴趣点和城市事件等图层（OGC API – Features）。"),
        "links": [
            {"href": f"{base}/?f=json", "rel": "self", "type": "application/json", "title": "This document"},
            {"href": f"{base}/?f=html", "rel": "alternate", "type": "text/html", "title": "This document as HTML"},
            {"href": f"{base}/openapi", "rel": "service-desc", "type": OPENAPI, "title": "The API definition"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
             "title": "Conformance classes"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json", "title": "The collections"},
        ],
    }  # fmt: skip
    if _wants_html(request):
        return render(request, "spatial/ogc/landing.html", {"document": document, "layers": layer_list()})
    return _json(document)


@_ogc_view
def openapi(request: HttpRequest) -> HttpResponse:
    if request.GET.get("f") not in (None, "json"):
        raise ogc.invalid("The API definition is served as JSON (f=json).")
    return _json(openapi_document(_base(request), layer_list()), content_type=OPENAPI)


@_ogc_view
def conformance(request: HttpRequest) -> HttpResponse:
    document = {"conformsTo": list(ogc.CONFORMANCE)}
    if _wants_html(request):
        return render(request, "spatial/ogc/conformance.html", {"classes": ogc.CONFORMANCE})
    return _json(document)


@_ogc_view
def collections(request: HttpRequest) -> HttpResponse:
    base = _base(request)
    html = _wants_html(request)
    documents = [ogc.collection_document(layer, base) for layer in layer_list()]
    if html:
        return render(request, "spatial/ogc/collections.html", {"collections": documents})
    return _json(
        {
            "links": [
                {"href": f"{base}/collections?f=json", "rel": "self", "type": "application/json"},
                {"href": f"{base}/collections?f=html", "rel": "alternate", "type": "text/html"},
            ],
            "collections": documents,
        }
    )


@_ogc_view
def collection(request: HttpRequest, collection_id: str) -> HttpResponse:
    html = _wants_html(request)
    layer = _layer(collection_id)
    document = ogc.collection_document(layer, _base(request))
    if html:
        return render(request, "spatial/ogc/collection.html", {"collection": document, "layer": layer})
    return _json(document)


# The properties' names on the HTML pages (the GeoJSON keeps the keys; the queryables page lists them for filters).
PROPERTY_TITLES = {
    "kind": gettext_lazy("类别代码"), "kind_label": gettext_lazy("类别"), "name": gettext_lazy("名称"),
    "address": gettext_lazy("地址"), "code": gettext_lazy("代码"), "level": gettext_lazy("层级"),
    "parent_code": gettext_lazy("上级区划代码"), "valid_from": gettext_lazy("启用日期"),
    "valid_to": gettext_lazy("停用日期"), "successor_code": gettext_lazy("继任区划代码"),
    "division_code": gettext_lazy("区县代码"), "district_code": gettext_lazy("区县代码"),
    "district_name": gettext_lazy("区县"), "street_code": gettext_lazy("街道代码"), "street_name": gettext_lazy("街道"),
    "community_code": gettext_lazy("社区代码"), "community_name": gettext_lazy("社区"),
    "cell_code": gettext_lazy("单元网格代码"), "source_crs": gettext_lazy("来源坐标系"),
    "version": gettext_lazy("版本"), "updated": gettext_lazy("更新时间"), "number": gettext_lazy("案件编号"),
    "category": gettext_lazy("类别代码"),
    "category_name": gettext_lazy("类别"), "status": gettext_lazy("状态"), "state": gettext_lazy("处理状态"),
    "unit": gettext_lazy("处置单位"), "reported": gettext_lazy("上报时间"),
}  # fmt: skip


def _shown(feature: dict[str, Any]) -> dict[str, Any]:
    """A feature for an HTML page: its name (or code) as its title, its properties under their titles."""
    properties = feature.get("properties") or {}
    rows = [(PROPERTY_TITLES.get(key, key), key, value) for key, value in properties.items()
            if value is not None and value != ""]  # fmt: skip
    title = properties.get("name") or properties.get("number") or properties.get("code") or feature["id"]
    return {"id": feature["id"], "title": title, "rows": rows}


def _page_link(
    base: str, layer_id: str, params: dict[str, str], offset: int, rel: str, f: str, cursor: str = ""
) -> dict[str, str]:
    query = {**params, "cursor": cursor, "f": f} if cursor else {**params, "offset": str(offset), "f": f}
    kind = GEOJSON if f == "json" else "text/html"
    return {"href": f"{base}/collections/{layer_id}/items?{urlencode(query)}", "rel": rel, "type": kind}


@_ogc_view
def items(request: HttpRequest, collection_id: str) -> HttpResponse:
    html = _wants_html(request)
    layer = _layer(collection_id)
    query = {key: request.GET.getlist(key) for key in request.GET}
    filters = ogc.parse_filters(layer, query)
    bbox = ogc.parse_bbox(request.GET.get("bbox"))
    interval = ogc.parse_datetime(request.GET.get("datetime"))
    limit = ogc.parse_limit(request.GET.get("limit"))
    offset = ogc.parse_offset(request.GET.get("offset"))
    after = ogc.parse_cursor(request.GET.get("cursor"))
    if after is not None and not layer.pages_by_key:
        raise ogc.invalid(f"The {layer.id} collection is paged by offset, not by cursor.")
    kwargs = {"after": after} if layer.pages_by_key else {}
    features, matched = layer.items(
        bbox=bbox, datetime_interval=interval, filters=filters, limit=limit, offset=offset, **kwargs
    )
    base = _base(request)
    params: dict[str, str] = {
        key: str(value) for key, value in request.GET.items() if key not in ("f", "offset", "cursor")
    }
    params["limit"] = str(limit)
    here = request.GET.get("cursor", "") if after is not None else ""
    links = [
        _page_link(base, layer.id, params, offset, "self", "json", here),
        _page_link(base, layer.id, params, offset, "alternate", "html", here),
        {"href": f"{base}/collections/{layer.id}", "rel": "collection", "type": "application/json"},
    ]
    if isinstance(features, FeaturePage):  # paged by key: the next page starts after this one's last feature
        if features.more and features.last_key is not None:
            links.append(_page_link(base, layer.id, params, 0, "next", "json", ogc.cursor_of(features.last_key)))
    elif matched is None or offset + len(features) < matched:
        links.append(_page_link(base, layer.id, params, offset + limit, "next", "json"))
    if offset > 0 and after is None:
        links.append(_page_link(base, layer.id, params, max(0, offset - limit), "prev", "json"))
    document: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        **({} if matched is None else {"numberMatched": matched}),
        "numberReturned": len(features),
        "timeStamp": ogc.iso(datetime.now(UTC).replace(microsecond=0)),
        "links": links,
    }
    if html:
        page_links = {link["rel"]: link["href"].replace("f=json", "f=html") for link in links}
        return render(
            request,
            "spatial/ogc/items.html",
            {"layer": layer, "document": document, "links": page_links, "offset": offset,
             "bbox": request.GET.get("bbox", ""), "shown": [_shown(f) for f in features]},
        )  # fmt: skip
    return _feature_collection(document)


@_ogc_view
def item(request: HttpRequest, collection_id: str, feature_id: str) -> HttpResponse:
    html = _wants_html(request)
    layer = _layer(collection_id)
    found = layer.item(feature_id[:100])
    if found is None:
        raise ogc.not_found(f"The collection {layer.id!r} has no feature {feature_id[:60]!r}.")
    base = _base(request)
    found = {
        **found,
        "links": [
            {"href": f"{base}/collections/{layer.id}/items/{found['id']}?f=json", "rel": "self", "type": GEOJSON},
            {"href": f"{base}/collections/{layer.id}/items/{found['id']}?f=html", "rel": "alternate",
             "type": "text/html"},
            {"href": f"{base}/collections/{layer.id}?f=json", "rel": "collection", "type": "application/json"},
        ],
    }  # fmt: skip
    if html:
        return render(request, "spatial/ogc/item.html", {"layer": layer, "feature": found, "shown": _shown(found)})
    return _json(found, content_type=GEOJSON)


@_ogc_view
def queryables(request: HttpRequest, collection_id: str) -> HttpResponse:
    html = _wants_html(request)
    layer = _layer(collection_id)
    document = ogc.queryables_document(layer, _base(request))
    if html:
        return render(request, "spatial/ogc/queryables.html", {"layer": layer, "document": document})
    return _json(document, content_type="application/schema+json")


# --- geocoding page --------------------------------------------------------------------------------------------


BATCH_MESSAGES = {
    "batch.size": gettext_lazy("文件超过 10 MB。"),
    "batch.encoding": gettext_lazy("文件不是 UTF-8 编码的文本，请将 CSV 另存为 UTF-8。"),
    "batch.not_csv": gettext_lazy("文件不是可读取的 CSV 文件。"),
    "batch.empty": gettext_lazy("文件是空的：第一行应为表头，并含“地址”或 address 列。"),
    "batch.no_address": gettext_lazy("表头中没有名为“地址”或 address 的列。"),
    "batch.rows": gettext_lazy("每个文件最多 50000 条地址。"),
}


class _GeocodeForm(forms.Form):
    address = forms.CharField(label=gettext_lazy("地址"), max_length=200)


class _BatchForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV 文件（UTF-8，含“地址”或 address 列）"))


@login_required
@require_http_methods(["GET", "POST"])
def geocode_page(request: HttpRequest) -> HttpResponse:
    """Geocode one address (any signed-in account), or a CSV file of addresses (with `spatial.geocode_batch`):
    the file comes back as a CSV download. Addresses travel in the body, never in the URL."""
    user = request.user
    note_actor(user)
    may_batch = may_geocode_batch(user)
    single, batch = _GeocodeForm(), _BatchForm()
    match = None
    searched = False
    if request.method == "POST" and request.POST.get("action") == "batch":
        if not may_batch:
            raise PermissionDenied
        batch = _BatchForm(request.POST, request.FILES)
        if batch.is_valid():
            upload = batch.cleaned_data["file"]
            if upload.size > BATCH_MAX_BYTES:
                batch.add_error("file", _("文件超过 10 MB。"))
            else:
                try:
                    result = geocode_batch(actor=user, data=upload.read())
                except DomainError as exc:
                    add_domain_errors(batch, exc, messages=BATCH_MESSAGES)
                else:
                    response = HttpResponse(result.csv.encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
                    response["Content-Disposition"] = 'attachment; filename="geocoded.csv"'
                    return response
    elif request.method == "POST":
        single = _GeocodeForm(request.POST)
        if single.is_valid():
            searched = True
            match = geocode(single.cleaned_data["address"])
    level_labels = {"address": _("标准地址"), "community": _("社区"), "street": _("街道"), "district": _("区县")}
    return render(
        request,
        "spatial/geocode.html",
        {"single": single, "batch": batch, "may_batch": may_batch, "match": match, "searched": searched,
         "level_label": level_labels.get(match.level, "") if match else "",
         "score_percent": round(match.score * 100) if match else 0},
    )  # fmt: skip


# --- importing points of interest ------------------------------------------------------------------------------

IMPORT_MESSAGES = {
    "geometry.missing": gettext_lazy("没有几何图形。"),
    "geometry.invalid": gettext_lazy("几何图形无效（例如多边形自相交）。"),
    "geometry.type": gettext_lazy("兴趣点应为点。"),
    "geometry.coordinates": gettext_lazy("坐标不是有效的数值或超出范围。"),
    "geometry.outside_city": gettext_lazy("位置不在本市的单元网格内。"),
    "kind.unknown": gettext_lazy("类别无法识别。"),
    "name.length": gettext_lazy("名称应为 1 至 100 个字符。"),
    "name.duplicate": gettext_lazy("文件中另有同类别、同名称的兴趣点。"),
    "address.length": gettext_lazy("地址最多 200 个字符。"),
    "file.unreadable": gettext_lazy("文件无法按所选格式读取。"),
    "file.empty": gettext_lazy("文件中没有要素。"),
    "file.features": gettext_lazy("每个文件最多 50000 个要素。"),
    "file.size": gettext_lazy("文件超过 20 MB。"),
    "file.format": gettext_lazy("请选择文件格式。"),
    "file.crs": gettext_lazy("请选择坐标系。"),
}


class _ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("文件"))
    file_format = forms.ChoiceField(
        label=gettext_lazy("格式"),
        choices=[("geojson", "GeoJSON"), ("shapefile", gettext_lazy("Shapefile（zip 压缩包）")),
                 ("csv", gettext_lazy("CSV（含 lon、lat 列）"))],
    )  # fmt: skip
    crs = forms.ChoiceField(label=gettext_lazy("坐标系"), choices=CoordinateSystem.choices)


@login_required
@require_http_methods(["GET", "POST"])
def poi_import_page(request: HttpRequest) -> HttpResponse:
    """Import points of interest (staff with `spatial.add_pointofinterest`): every feature is checked; on any error
    the page lists them by feature and nothing is stored."""
    user = request.user
    note_actor(user)
    if not may_register_poi(user):
        raise PermissionDenied
    form = _ImportForm(request.POST or None, request.FILES or None)
    report: list[dict[str, Any]] = []
    summary = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > 20 * 2**20:
                raise SpatialInputInvalid("too large", errors=[{"loc": ["file"], "rule": "file.size", "msg": ""}])
            result = poi_import(actor=user, data=upload.read(), file_format=form.cleaned_data["file_format"],
                                crs=form.cleaned_data["crs"])  # fmt: skip
        except SpatialInputInvalid as exc:
            report = [
                {"feature": e["loc"][1] if len(e["loc"]) > 2 else "", "field": FIELD_LABELS.get(e["loc"][-1], ""),
                 "message": IMPORT_MESSAGES.get(str(e.get("rule")), _("输入不符合要求。"))}
                for e in exc.errors
            ]  # fmt: skip
            summary = _("文件有错误，没有导入任何兴趣点。")
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            imported = _("已导入 %(count)s 个兴趣点：新增 %(added)s 个，变更 %(updated)s 个，未变 %(unchanged)s 个。")
            counts = {"count": result.features, "added": result.added, "updated": result.updated,
                      "unchanged": result.unchanged}  # fmt: skip
            messages.success(request, f"{imported % counts}{_('变更前的状态已保留为历史版本。')}")
            return redirect("spatial:poi-import")
    return render(
        request,
        "spatial/import.html",
        {"form": form, "report": report, "summary": summary, "imports": poi_imports(limit=10)},
    )


FIELD_LABELS = {
    "geometry": gettext_lazy("几何图形"),
    "kind": gettext_lazy("类别"),
    "name": gettext_lazy("名称"),
    "address": gettext_lazy("地址"),
    "file": gettext_lazy("文件"),
    "format": gettext_lazy("格式"),
    "crs": gettext_lazy("坐标系"),
}
