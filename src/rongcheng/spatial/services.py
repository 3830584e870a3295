"""Services of the spatio-temporal platform: the layer registry, coordinate conversion, points of interest.

**Layers.** A layer is what OGC API – Features serves as a collection (`/ogc/collections/<id>`). The platform's own
layers (`divisions`, `grid-cells`, `pois`, `addresses`) are registered by this app's `AppConfig.ready`. A higher
app (city cases, sensors) subclasses `Layer` and calls `layer_register(MyLayer())` in its own `AppConfig.ready`;
spatial never imports it. A layer answers in WGS84 (CRS84) GeoJSON with public fields only: no personal data.

**Coordinates.** `to_wgs84(x, y, crs=...)` converts data arriving in CGCS2000, GCJ-02 or Web Mercator
(`spatial.coordinates` documents each); what is stored keeps the system it arrived in.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import shapely
import shapely.geometry
import shapely.validation
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_stubs_ext import StrOrPromise

from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.errors import DomainError
from rongcheng.spatial import coordinates, geocoding, imports
from rongcheng.spatial.errors import CoordinatesInvalid, OutsideCity, SpatialActionDenied, SpatialInputInvalid
from rongcheng.spatial.geocoding import GeocodeMatch, ReverseMatch, geocoding_index_drop
from rongcheng.spatial.models import (
    CoordinateSystem,
    PoiChange,
    PoiImport,
    PoiKind,
    PointOfInterest,
    PointOfInterestVersion,
)
from rongcheng.spatial.permissions import may_geocode_batch, may_register_poi
from rongcheng.spatial.selectors import Location, grid_index_drop, locate

BBox = tuple[float, float, float, float]
# A closed or half-open time interval; None is an open end (`..`). An instant is (t, t).
DatetimeInterval = tuple[datetime | None, datetime | None]
Feature = dict[str, Any]


@dataclass(frozen=True)
class Queryable:
    """A property a layer's items can be filtered on (`?name=value`, equality)."""

    name: str
    type: Literal["string", "integer", "number", "boolean"]
    title: str
    description: str = ""


@dataclass(frozen=True)
class Extent:
    """A layer's spatial extent (CRS84 box) and temporal extent (open ends are None)."""

    bbox: BBox | None
    interval: DatetimeInterval | None = None


class Layer:
    """A layer of the platform, served as one OGC API – Features collection.

    Subclasses set the attributes and implement `extent`, `items` and `item`. `items` receives parameters already
    validated by the OGC views: `bbox` in CRS84, `datetime_interval` with open ends as None, `filters` holding only
    names of `queryables` (values as sent), `1 <= limit <= 10000`, `offset >= 0`. It returns the page of GeoJSON
    features (dicts with `type`, `id`, `geometry`, `properties`) and the number of features matching in all.
    """

    id: str = ""
    title: StrOrPromise = ""
    description: StrOrPromise = ""
    owner_department: str = ""  # the department answerable for the data, by name
    licence: str = "CC-BY-4.0"  # the licence for reuse (an SPDX identifier)
    keywords: tuple[str, ...] = ()
    queryables: tuple[Queryable, ...] = ()
    # Whether the layer's features have a time (the `datetime` parameter then filters on it).
    temporal_property: str = ""
    # Whether `items` takes `after` (its next links then carry a cursor, so that every page costs what the first does).
    pages_by_key: bool = False

    def updated(self) -> datetime | None:
        """When the layer's data last changed, if known."""
        return None

    def extent(self) -> Extent:
        raise NotImplementedError

    def items(
        self,
        *,
        bbox: BBox | None,
        datetime_interval: DatetimeInterval | None,
        filters: Mapping[str, str],
        limit: int,
        offset: int,
        after: int | None = None,
    ) -> tuple[list[Feature], int | None]:
        """A page of features and the number matching in all (None: more than can be counted for a page). A layer
        that `pages_by_key` starts the page after the feature keyed `after` (offset then 0) and returns a
        `FeaturePage`, which says where the next page starts."""
        raise NotImplementedError

    def item(self, feature_id: str) -> Feature | None:
        raise NotImplementedError


_layers: dict[str, Layer] = {}


def spatial_indexes_drop() -> None:
    """Forget the grid and geocoding indexes of this process: the next read rebuilds them (each change of a cell,
    division or address through the ORM drops them at once; other changes are seen within STAMP_INTERVAL)."""
    grid_index_drop()
    geocoding_index_drop()


def layer_register(layer: Layer) -> None:
    """Add a layer (from an `AppConfig.ready`). A second registration under the same id replaces the first one of
    the same class and is refused for another class (two apps claiming one collection id)."""
    if not layer.id or not layer.id.replace("-", "").replace("_", "").isalnum() or layer.id != layer.id.lower():
        raise ValueError(f"A layer id is lowercase letters, digits, '-' or '_': {layer.id!r}.")
    existing = _layers.get(layer.id)
    if existing is not None and type(existing) is not type(layer):
        raise ValueError(f"The layer id {layer.id!r} is already registered by {type(existing).__qualname__}.")
    _layers[layer.id] = layer


def layer_unregister(layer_id: str) -> None:
    _layers.pop(layer_id, None)


def layer_get(layer_id: str) -> Layer | None:
    return _layers.get(layer_id)


def layer_list() -> list[Layer]:
    """Every registered layer: the platform's own first, then the others by id."""
    own = ("divisions", "grid-cells", "addresses", "pois")
    return sorted(_layers.values(), key=lambda layer: (own.index(layer.id) if layer.id in own else len(own), layer.id))


def feature(feature_id: str | int, geometry: Mapping[str, Any] | None, properties: Mapping[str, Any]) -> Feature:
    """A GeoJSON feature as the layers return it."""
    return {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": dict(properties)}


class PreparedFeature(dict[str, Any]):
    """A feature a layer serves again and again from memory (built once per grid index, say), kept with its JSON
    text so that a page of them is written without encoding each again. Treat it as read-only: the text is not
    updated when the dict changes (a changed copy, `{**prepared, ...}`, is a plain dict)."""

    __slots__ = ("json",)

    def __init__(self, data: Feature) -> None:
        super().__init__(data)
        self.json = json.dumps(self, ensure_ascii=False, separators=(",", ":"))


def point_geometry(lon: float | None, lat: float | None) -> dict[str, Any] | None:
    """A GeoJSON Point, or None (a feature without geometry) when either coordinate is missing."""
    if lon is None or lat is None:
        return None
    return {"type": "Point", "coordinates": [lon, lat]}


MATCH_COUNT_LIMIT = 10_000  # rows counted past a page for `numberMatched`; more, and it is left out


class FeaturePage(list[Feature]):
    """A page of features that knows the key of its last row and whether more follow (layers paged by key)."""

    def __init__(self, features: list[Feature], last_key: int | None, more: bool) -> None:
        super().__init__(features)
        self.last_key = last_key
        self.more = more


def point_items(
    rows: QuerySet[Any],
    *,
    bbox: BBox | None,
    datetime_interval: DatetimeInterval | None,
    limit: int,
    offset: int,
    make: Callable[[Any], Feature],
    time_field: str = "",
    lon_field: str = "longitude",
    lat_field: str = "latitude",
    count_limit: int | None = None,
    after: int | None = None,
) -> tuple[list[Feature], int | None]:
    """`Layer.items` for a layer of points held in a table: one page of features and the number matching in all.

    `rows` is the layer's query already narrowed by its property filters and ordered (a stable order: pages must
    not overlap). The box is a range condition on the point's two columns, edges included (an index on them serves
    it); the interval applies to `time_field` (both ends included, an open end is None) and is ignored by a layer
    without one. `make` turns a row of `rows` (a model instance, or whatever `.values()` gives) into a feature.
    The number matched is exact when known: a page that shows the end gives it, else the rows are counted up to
    `count_limit` (MATCH_COUNT_LIMIT) past the page; beyond that, or with `count_limit` 0, it is None (the response
    then leaves `numberMatched` out, as OGC API – Features allows: counting millions of cases for every page would
    cost more than the page).

    `rows` ordered by "id" or "-id" are paged by key too: the page is a `FeaturePage`, and with `after` it starts
    past that key (the offset is then not used), so a deep page reads what the first one does instead of every row
    before it; the number matched is then given only by a page that shows the end of a first page."""
    if bbox is not None:
        x0, y0, x1, y1 = bbox
        rows = rows.filter(**{f"{lon_field}__gte": x0, f"{lon_field}__lte": x1,
                              f"{lat_field}__gte": y0, f"{lat_field}__lte": y1})  # fmt: skip
    if datetime_interval is not None and time_field:
        start, end = datetime_interval
        if start is not None:
            rows = rows.filter(**{f"{time_field}__gte": start})
        if end is not None:
            rows = rows.filter(**{f"{time_field}__lte": end})
    order = tuple(rows.query.order_by)
    keyed = order in (("id",), ("-id",))
    if keyed and after is not None:
        rows = rows.filter(**{"id__lt" if order == ("-id",) else "id__gt": after})
        offset = 0
    page = list(rows[offset : offset + limit + 1])
    more, page = len(page) > limit, page[:limit]
    matched: int | None
    if after is not None and keyed:
        matched = None  # how many came before the cursor is not known
    elif not more and (page or offset == 0):
        matched = offset + len(page)
    elif count_limit is not None and count_limit <= 0:
        matched = None
    else:
        ceiling = offset + limit + (MATCH_COUNT_LIMIT if count_limit is None else count_limit)
        matched = rows[:ceiling].count()
        matched = None if matched >= ceiling else matched
    features = [make(row) for row in page]
    if keyed:
        last = page[-1] if page else None
        last_key = None if last is None else (last["id"] if isinstance(last, dict) else last.pk)
        return FeaturePage(features, last_key, more), matched
    return features, matched


# --- coordinates -----------------------------------------------------------------------------------------------


def _number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CoordinatesInvalid(f"{name} must be a number, not {str(value)[:40]!r}.") from None
    if not math.isfinite(number):
        raise CoordinatesInvalid(f"{name} must be a finite number.")
    return number


def to_wgs84(x: Any, y: Any, *, crs: str = CoordinateSystem.WGS84) -> tuple[float, float]:
    """(longitude, latitude) in WGS84 for a point given in `crs` (a `CoordinateSystem` value): x, y are longitude,
    latitude in degrees for the geographic systems and easting, northing in metres for Web Mercator."""
    x, y = _number(x, "x"), _number(y, "y")
    if crs == CoordinateSystem.WEB_MERCATOR:
        if abs(x) > coordinates.MERCATOR_MAX or abs(y) > coordinates.MERCATOR_MAX:
            raise CoordinatesInvalid("Web Mercator coordinates lie within ±20037508.34 metres.")
        lon, lat = coordinates.web_mercator_to_wgs84(x, y)
    elif crs in (CoordinateSystem.WGS84, CoordinateSystem.CGCS2000, CoordinateSystem.GCJ02):
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise CoordinatesInvalid("Longitude lies within ±180 and latitude within ±90 degrees.")
        lon, lat = coordinates.gcj02_to_wgs84(x, y) if crs == CoordinateSystem.GCJ02 else (x, y)
    else:
        raise CoordinatesInvalid(
            f"Unknown coordinate system {str(crs)[:20]!r}; one of {', '.join(CoordinateSystem.values)}."
        )
    return round(lon, 7), round(lat, 7)


def from_wgs84(lon: float, lat: float, *, crs: str) -> tuple[float, float]:
    """The inverse of `to_wgs84` (for showing a point in a phone map's GCJ-02, or in Web Mercator metres)."""
    if crs == CoordinateSystem.WEB_MERCATOR:
        return coordinates.wgs84_to_web_mercator(lon, lat)
    if crs == CoordinateSystem.GCJ02:
        return coordinates.wgs84_to_gcj02(lon, lat)
    if crs in (CoordinateSystem.WGS84, CoordinateSystem.CGCS2000):
        return lon, lat
    raise CoordinatesInvalid(f"Unknown coordinate system {str(crs)[:20]!r}.")


def locate_in_city(x: Any, y: Any, *, crs: str = CoordinateSystem.WGS84) -> tuple[float, float, Location]:
    """Convert a point to WGS84 and locate it in the grid; a point outside the city is refused (`OutsideCity`)."""
    lon, lat = to_wgs84(x, y, crs=crs)
    location = locate(lon=lon, lat=lat)
    if location is None:
        raise OutsideCity(f"The point ({lon:.6f}, {lat:.6f}) lies outside the city's grid cells.")
    return lon, lat, location


# --- points of interest ----------------------------------------------------------------------------------------


_VERSIONED = ("address_text", "district_code", "street_code", "community_code", "cell_code", "longitude", "latitude",
              "source_crs", "source_x", "source_y")  # fmt: skip


def _poi_apply(
    kind: str, name: str, values: Mapping[str, Any], *, change: str, batch: PoiImport | None = None
) -> tuple[PointOfInterest, str]:
    """Add the point of that kind and name, or change it keeping its previous state as a version; a point sent as
    it is stays as it is (no new version). Inside the caller's transaction. Returns the row and "added", "updated"
    or "unchanged"."""
    now = timezone.now()
    poi = PointOfInterest.objects.select_for_update().filter(kind=kind, name=name).first()
    if poi is None:
        poi = PointOfInterest.objects.create(kind=kind, name=name, valid_from=now, source_import=batch, **values)
        return poi, "added"
    if all(getattr(poi, field) == values[field] for field in _VERSIONED):
        return poi, "unchanged"
    PointOfInterestVersion.objects.create(
        poi=poi, version=poi.version, kind=poi.kind, name=poi.name, valid_from=poi.valid_from, valid_to=now,
        change=change, replaced_by_import=batch, **{field: getattr(poi, field) for field in _VERSIONED},
    )  # fmt: skip
    for field in _VERSIONED:
        setattr(poi, field, values[field])
    poi.version += 1
    poi.valid_from = now
    poi.source_import = batch
    poi.save()
    return poi, "updated"


def poi_register(
    *,
    actor: Account | Actor,
    kind: str,
    name: str,
    x: Any,
    y: Any,
    crs: str = CoordinateSystem.WGS84,
    address_text: str = "",
) -> tuple[PointOfInterest, bool]:
    """Register a point of interest, or move and rename the one of that kind and name. The point is converted to
    WGS84, must lie in the city, and takes the division codes of its grid cell. `actor` is a user holding
    `spatial.add_pointofinterest` or a system `Actor` (seeding, imports). A change keeps the previous state as a
    version (`PointOfInterestVersion`); the same point sent again changes nothing. Returns the row and whether it
    is new."""
    audit_actor = actor if isinstance(actor, Actor) else actor_from_user(actor)
    name, address_text = str(name).strip(), str(address_text).strip()
    try:
        if not isinstance(actor, Actor) and not may_register_poi(actor):
            raise SpatialActionDenied("Registering points of interest needs the role of a GIS officer.")
        if kind not in PoiKind.values:
            raise SpatialInputInvalid(
                f"Unknown kind {str(kind)[:30]!r}.", errors=[{"loc": ["kind"], "rule": "choice", "msg": "unknown kind"}]
            )
        if not name or len(name) > 100 or len(address_text) > 200:
            raise SpatialInputInvalid(
                "A name of 1 to 100 characters and an address of at most 200 are needed.",
                errors=[{"loc": ["name"], "rule": "length", "msg": "1..100 characters"}],
            )
        lon, lat, location = locate_in_city(x, y, crs=crs)
        values = {
            "address_text": address_text,
            "district_code": location.district_code,
            "street_code": location.street_code,
            "community_code": location.community_code,
            "cell_code": location.cell_code,
            "longitude": lon,
            "latitude": lat,
            "source_crs": crs,
            "source_x": float(x),
            "source_y": float(y),
        }
        with transaction.atomic():
            poi, outcome = _poi_apply(kind, name, values, change=PoiChange.REGISTER)
            created = outcome == "added"
            audit_record(
                action="spatial.poi.register",
                actor=audit_actor,
                target_type="spatial.pointofinterest",
                target_id=poi.pk,
                source_address=current_address(),
                detail={"kind": kind, "created": created, "outcome": outcome, "version": poi.version,
                        "cell": location.cell_code, "crs": crs},
            )  # fmt: skip
    except IntegrityError:
        raise SpatialInputInvalid(
            "A point of interest of that kind and name was registered at the same time."
        ) from None
    except DomainError as exc:
        audit_record(
            action="spatial.poi.register",
            actor=audit_actor,
            outcome="denied",
            target_type="spatial.pointofinterest",
            source_address=current_address(),
            detail={"kind": str(kind)[:30], "problem": exc.type_slug, "reason": exc.detail[:200]},
        )
        raise
    return poi, created


# --- geocoding -------------------------------------------------------------------------------------------------

BATCH_MAX_ROWS = 50_000
BATCH_MAX_BYTES = 10 * 2**20
BATCH_COLUMNS = ("address", "lon", "lat", "score", "level", "district_code", "street_code", "community_code",
                 "cell_code", "matched_address")  # fmt: skip


def geocode(text: str) -> GeocodeMatch | None:
    """The best match of a Chinese address (district/street/community/road/number) with its point, divisions, grid
    cell, the matching registry address and a score from 0 to 1; None when nothing in it is known. A read: the
    matching is documented in `spatial.geocoding`."""
    return geocoding.geocode(str(text))


def reverse_geocode(*, lon: Any, lat: Any) -> ReverseMatch:
    """The nearest standard address, the grid cell and community of a WGS84 point inside the city."""
    lon, lat, _location = locate_in_city(lon, lat)
    return geocoding.reverse_geocode(lon, lat)


def _csv_safe(value: str) -> str:
    """A cell a spreadsheet would read as a formula is written as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _batch_invalid(rule: str, message: str) -> SpatialInputInvalid:
    return SpatialInputInvalid(message, errors=[{"loc": ["file"], "rule": rule, "msg": message}])


@dataclass(frozen=True)
class BatchResult:
    csv: str
    rows: int
    matched: int


def geocode_batch(*, actor: Account | Actor, data: bytes) -> BatchResult:
    """Geocode a CSV file (UTF-8, a header row with an `address` or `地址` column; other columns are kept in front)
    into a CSV with the point, score, level, divisions, grid cell and matched address of each row. `actor` holds
    `spatial.geocode_batch` (or is a system `Actor`). One audit record with the counts, none of the addresses."""
    audit_actor = actor if isinstance(actor, Actor) else actor_from_user(actor)
    try:
        if not isinstance(actor, Actor) and not may_geocode_batch(actor):
            raise SpatialActionDenied("Batch geocoding needs the permission to geocode files of addresses.")
        if len(data) > BATCH_MAX_BYTES:
            raise _batch_invalid("batch.size", f"The file is larger than {BATCH_MAX_BYTES // 2**20} MB.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _batch_invalid("batch.encoding", "The file is not UTF-8 text (save the CSV as UTF-8).") from None
        if "\x00" in text:
            raise _batch_invalid("batch.not_csv", "The file is not a CSV text file.")
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            raise _batch_invalid("batch.not_csv", f"The file is not a readable CSV: {exc}.") from None
        if not rows:
            raise _batch_invalid("batch.empty", "The file is empty: a header row with an address column is needed.")
        header = [cell.strip().lower() for cell in rows[0]]
        column = next((i for i, name in enumerate(header) if name in ("address", "地址")), None)
        if column is None:
            raise _batch_invalid("batch.no_address", "The header row has no column named address (or 地址).")
        if len(rows) - 1 > BATCH_MAX_ROWS:
            raise _batch_invalid("batch.rows", f"At most {BATCH_MAX_ROWS} addresses per file.")
    except DomainError as exc:
        audit_record(action="spatial.geocode.batch", actor=audit_actor, outcome="denied",
                     source_address=current_address(),
                     detail={"problem": exc.type_slug, "reason": exc.detail[:200]})  # fmt: skip
        raise
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    kept = [name for i, name in enumerate(rows[0]) if i != column]
    writer.writerow([_csv_safe(name) for name in kept] + list(BATCH_COLUMNS))
    matched = 0
    for row in rows[1:]:
        address = row[column] if column < len(row) else ""
        others = [_csv_safe(value) for i, value in enumerate(row) if i != column]
        others += [""] * (len(kept) - len(others))
        match = geocoding.geocode(address)
        if match is None:
            writer.writerow([*others, _csv_safe(address[:200])] + [""] * (len(BATCH_COLUMNS) - 1))
            continue
        matched += 1
        writer.writerow([
            *others, _csv_safe(address[:200]), f"{match.lon:.6f}", f"{match.lat:.6f}", f"{match.score:.2f}",
            match.level, match.district_code, match.street_code, match.community_code,
            match.location.cell_code if match.location else "", _csv_safe(match.address_text),
        ])  # fmt: skip
    audit_record(action="spatial.geocode.batch", actor=audit_actor, source_address=current_address(),
                 detail={"rows": len(rows) - 1, "matched": matched})  # fmt: skip
    return BatchResult(out.getvalue(), len(rows) - 1, matched)


API_BATCH_MAX = 10_000


def geocode_many(*, actor: Account | Actor, addresses: list[str]) -> list[GeocodeMatch | None]:
    """Geocode a list of addresses (the API's batch); the same permission and audit record as `geocode_batch`."""
    audit_actor = actor if isinstance(actor, Actor) else actor_from_user(actor)
    try:
        if not isinstance(actor, Actor) and not may_geocode_batch(actor):
            raise SpatialActionDenied("Batch geocoding needs the permission to geocode files of addresses.")
        if len(addresses) > API_BATCH_MAX:
            raise SpatialInputInvalid(f"At most {API_BATCH_MAX} addresses per request.")
    except DomainError as exc:
        audit_record(action="spatial.geocode.batch", actor=audit_actor, outcome="denied",
                     source_address=current_address(),
                     detail={"problem": exc.type_slug, "reason": exc.detail[:200]})  # fmt: skip
        raise
    results = [geocoding.geocode(str(address)) for address in addresses]
    audit_record(action="spatial.geocode.batch", actor=audit_actor, source_address=current_address(),
                 detail={"rows": len(addresses), "matched": sum(r is not None for r in results)})  # fmt: skip
    return results


# --- importing points of interest ------------------------------------------------------------------------------

IMPORT_FORMATS = ("geojson", "shapefile", "csv")
IMPORT_MAX_ERRORS = 1000
_KIND_BY_LABEL = {str(label): value for value, label in PoiKind.choices}


@dataclass(frozen=True)
class ImportReport:
    features: int
    added: int
    updated: int  # changed: each keeps its previous state as a version
    unchanged: int = 0
    import_id: int | None = None  # the PoiImport row: the version of the layer this import made


def _feature_error(number: int, field: str, rule: str, message: str) -> dict[str, Any]:
    return {"loc": ["features", number, field], "rule": rule, "msg": message}


def _feature_values(
    number: int, geometry: Mapping[str, Any] | None, properties: Mapping[str, Any], crs: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The row of one feature, or the errors that keep it out (every check runs, so the report is complete)."""
    errors: list[dict[str, Any]] = []
    point: tuple[float, float, Location] | None = None
    source: tuple[float, float] | None = None
    if geometry is None:
        errors.append(_feature_error(number, "geometry", "geometry.missing", "The feature has no geometry."))
    elif geometry.get("type") != "Point":
        try:
            shaped = shapely.geometry.shape(geometry)
            reason = "" if shaped.is_valid else shapely.validation.explain_validity(shaped)
        except Exception:  # shapely raises several kinds for malformed GeoJSON
            reason = "not a GeoJSON geometry"
        if reason:
            errors.append(_feature_error(number, "geometry", "geometry.invalid", f"Invalid geometry: {reason[:100]}."))
        else:
            errors.append(_feature_error(number, "geometry", "geometry.type", "Points of interest are points."))
    else:
        coordinates_ = geometry.get("coordinates")
        if not isinstance(coordinates_, list | tuple) or len(coordinates_) < 2:
            errors.append(_feature_error(number, "geometry", "geometry.invalid", "A point has two coordinates."))
        else:
            try:
                point = locate_in_city(coordinates_[0], coordinates_[1], crs=crs)
                source = (float(coordinates_[0]), float(coordinates_[1]))
            except CoordinatesInvalid as exc:
                errors.append(_feature_error(number, "geometry", "geometry.coordinates", exc.detail))
            except OutsideCity as exc:
                errors.append(_feature_error(number, "geometry", "geometry.outside_city", exc.detail))
    kind_text = str(properties.get("kind") or properties.get("类别") or "").strip()
    kind = kind_text if kind_text in PoiKind.values else _KIND_BY_LABEL.get(kind_text, "")
    if not kind:
        errors.append(_feature_error(number, "kind", "kind.unknown", f"Unknown kind {kind_text[:30]!r}."))
    name = str(properties.get("name") or properties.get("名称") or "").strip()
    if not name or len(name) > 100:
        errors.append(_feature_error(number, "name", "name.length", "A name of 1 to 100 characters is needed."))
    address = str(properties.get("address") or properties.get("地址") or "").strip()
    if len(address) > 200:
        errors.append(_feature_error(number, "address", "address.length", "An address has at most 200 characters."))
    if errors or point is None or source is None:
        return None, errors
    lon, lat, location = point
    return {
        "kind": kind, "name": name, "address_text": address, "district_code": location.district_code,
        "street_code": location.street_code, "community_code": location.community_code,
        "cell_code": location.cell_code, "longitude": lon, "latitude": lat, "source_crs": crs,
        "source_x": source[0], "source_y": source[1],
    }, []  # fmt: skip


def poi_import(
    *, actor: Account | Actor, data: bytes, file_format: str, crs: str = CoordinateSystem.WGS84
) -> ImportReport:
    """Import points of interest from a GeoJSON file, a zipped Shapefile or a CSV file with coordinates (in `crs`).

    Every feature is checked (a point with valid coordinates inside the city, a known kind, a name, at most one
    feature per kind and name); if any fails, `SpatialInputInvalid` lists each error by feature number and field
    and nothing is stored. Otherwise every feature is added, or changes the point of that kind and name (its
    previous state kept as a version, as the base registries keep theirs), or is found unchanged, in one
    transaction recorded as a `PoiImport` (the layer's version it made) with one audit record."""
    audit_actor = actor if isinstance(actor, Actor) else actor_from_user(actor)
    try:
        if not isinstance(actor, Actor) and not may_register_poi(actor):
            raise SpatialActionDenied("Importing points of interest needs the role of a GIS officer.")
        if file_format not in IMPORT_FORMATS:
            raise _import_invalid("format", "file.format", f"The format is one of {', '.join(IMPORT_FORMATS)}.")
        if crs not in CoordinateSystem.values:
            raise _import_invalid(
                "crs", "file.crs", f"The coordinate system is one of {', '.join(CoordinateSystem.values)}."
            )
        if len(data) > imports.MAX_BYTES:
            raise _import_invalid("file", "file.size", "The file is larger than 20 MB.")
        try:
            rows = list(itertools.islice(imports.READERS[file_format](data), imports.MAX_FEATURES + 1))
        except imports.FileUnreadable as exc:
            raise _import_invalid("file", "file.unreadable", str(exc)) from None
        if not rows:
            raise _import_invalid("file", "file.empty", "The file holds no feature.")
        if len(rows) > imports.MAX_FEATURES:
            raise _import_invalid("file", "file.features", f"At most {imports.MAX_FEATURES} features per file.")
        errors: list[dict[str, Any]] = []
        values: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for number, geometry, properties in rows:
            row, problems = _feature_values(number, geometry, properties, crs)
            if row is not None and (row["kind"], row["name"]) in seen:
                problems = [_feature_error(number, "name", "name.duplicate", "Another feature has this kind and name.")]
                row = None
            if row is not None:
                seen.add((row["kind"], row["name"]))
                values.append(row)
            errors.extend(problems)
        if errors:
            raise SpatialInputInvalid(
                f"{len({e['loc'][1] for e in errors})} of {len(rows)} features have errors; nothing was stored.",
                errors=errors[:IMPORT_MAX_ERRORS],
            )
        outcomes = {"added": 0, "updated": 0, "unchanged": 0}
        with transaction.atomic():
            batch = PoiImport.objects.create(
                file_format=file_format, crs=crs, features=len(values), actor_id=audit_actor.id[:64],
                actor_label=audit_actor.label[:150],
            )  # fmt: skip
            for row in values:
                _poi, outcome = _poi_apply(row.pop("kind"), row.pop("name"), row, change=PoiChange.IMPORT, batch=batch)
                outcomes[outcome] += 1
            batch.added, batch.updated, batch.unchanged = outcomes["added"], outcomes["updated"], outcomes["unchanged"]
            batch.save(update_fields=["added", "updated", "unchanged"])
            detail = {"format": file_format, "crs": crs, "features": len(values), **outcomes}
            audit_record(action="spatial.poi.import", actor=audit_actor, target_type="spatial.poiimport",
                         target_id=batch.pk, source_address=current_address(), detail=detail)  # fmt: skip
    except DomainError as exc:
        audit_record(action="spatial.poi.import", actor=audit_actor, outcome="denied", source_address=current_address(),
                     detail={"format": str(file_format)[:20], "problem": exc.type_slug, "reason": exc.detail[:200],
                             "errors": len(exc.errors)})  # fmt: skip
        raise
    return ImportReport(len(values), outcomes["added"], outcomes["updated"], outcomes["unchanged"], batch.pk)


def _import_invalid(field: str, rule: str, message: str) -> SpatialInputInvalid:
    return SpatialInputInvalid(message, errors=[{"loc": [field], "rule": rule, "msg": message}])
