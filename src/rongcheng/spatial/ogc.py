"""OGC API – Features Part 1 (Core) parameters and documents, without the web framework.

The parameters are parsed and checked here (`bbox`, `datetime`, `limit`, `offset`, property filters); any error is
an `OgcError` the views answer as the standard's JSON exception document with its status (400 or 404).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rongcheng.spatial.selectors import city_bounds
from rongcheng.spatial.services import BBox, DatetimeInterval, Layer

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
ITEMS_PARAMETERS = frozenset({"f", "bbox", "datetime", "limit", "offset", "cursor"})


class OgcError(Exception):
    """An exception document: {"code": ..., "description": ...} with an HTTP status."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description

    def document(self) -> dict[str, str]:
        return {"code": self.code, "description": self.description}


def invalid(description: str) -> OgcError:
    return OgcError(400, "InvalidParameterValue", description)


def not_found(description: str) -> OgcError:
    return OgcError(404, "NotFound", description)


def parse_bbox(value: str | None) -> BBox | None:
    """`minLon,minLat,maxLon,maxLat` (or six numbers with heights, which are ignored) in CRS84."""
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise invalid(f"bbox takes 4 numbers (minimum longitude, minimum latitude, maximum longitude, maximum "
                      f"latitude) or 6 with heights; {len(parts)} were given.")  # fmt: skip
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise invalid("bbox takes numbers separated by commas.") from None
    if not all(math.isfinite(n) for n in numbers):
        raise invalid("bbox takes finite numbers.")
    x0, y0, x1, y1 = (numbers[0], numbers[1], numbers[3], numbers[4]) if len(numbers) == 6 else numbers
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise invalid("bbox longitudes lie within ±180 and latitudes within ±90 degrees (CRS84).")
    if y0 > y1:
        raise invalid("bbox: the minimum latitude is larger than the maximum latitude.")
    if x0 > x1:
        # Crossing the antimeridian: the box is [x0, 180] and [-180, x1]. Every layer lies in the city, so the
        # half that meets the city's extent is the box; a box cutting the city into two is refused.
        bounds = city_bounds()
        east = bounds is not None and bounds[2] >= x0
        west = bounds is not None and bounds[0] <= x1
        if east and west:
            raise invalid("A bbox crossing the antimeridian that cuts the city in two is not supported.")
        return (-180.0, y0, x1, y1) if west else (x0, y0, 180.0, y1)
    return x0, y0, x1, y1


def _instant(text: str, *, end: bool) -> datetime | None:
    """An RFC 3339 date-time (with a zone), or a full date (its first or last moment); '..' or '' is open."""
    if text in ("", ".."):
        return None
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise invalid(f"datetime: {text[:40]!r} is not a date (YYYY-MM-DD).") from None
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        return moment + timedelta(days=1) - timedelta(microseconds=1) if end else moment
    if "T" not in text.upper():
        raise invalid(f"datetime: {text[:40]!r} is not an RFC 3339 date-time (e.g. 2018-02-12T23:20:50Z).")
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"datetime: {text[:40]!r} is not an RFC 3339 date-time (e.g. 2018-02-12T23:20:50Z).") from None
    if moment.tzinfo is None:
        raise invalid("datetime: a date-time needs its time zone (Z or ±hh:mm).")
    return moment.astimezone(UTC)


def parse_datetime(value: str | None) -> DatetimeInterval | None:
    """An instant (`2018-02-12T23:20:50Z`, `2018-02-12`) or an interval `start/end` with `..` or '' for an open
    end. An instant is the interval (t, t); a date the whole day; `../..` is no condition."""
    if value is None:
        return None
    if "/" in value:
        parts = value.split("/")
        if len(parts) != 2:
            raise invalid("datetime: an interval is two instants separated by one '/'.")
        start, end = _instant(parts[0], end=False), _instant(parts[1], end=True)
        if start is None and end is None:
            if parts[0] == parts[1] == "":
                raise invalid("datetime: '/' alone is not an interval; use '../..' for an open one.")
            return None
        if start is not None and end is not None and start > end:
            raise invalid("datetime: the interval's start is after its end.")
        return start, end
    if value in ("", ".."):
        raise invalid("datetime: an instant or an interval is needed.")
    if len(value) == 10:
        return _instant(value, end=False), _instant(value, end=True)
    moment = _instant(value, end=False)
    return moment, moment


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isascii() or not value.strip().isdigit():
        raise invalid(f"limit takes a whole number from 1 to {MAX_LIMIT}, not {value[:40]!r}.")
    number = int(value)
    if number < 1:
        raise invalid(f"limit takes a whole number from 1 to {MAX_LIMIT}.")
    return min(number, MAX_LIMIT)  # a larger limit is not an error: the maximum is used (Part 1, /req/core/fc-limit)


def parse_offset(value: str | None) -> int:
    if value is None:
        return 0
    if not value.isascii() or not value.strip().isdigit() or len(value) > 12:
        raise invalid(f"offset takes a whole number from 0, not {value[:40]!r}.")
    return int(value)


def parse_cursor(value: str | None) -> int | None:
    """The `cursor` of a `next` link (layers paged by key): where the previous page ended."""
    if value is None:
        return None
    try:
        key = int(base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4)).decode("ascii"))
    except (ValueError, UnicodeError):
        raise invalid("cursor is the value of a next link, not one to write by hand.") from None
    if key < 1 or len(value) > 24:
        raise invalid("cursor is the value of a next link, not one to write by hand.")
    return key


def cursor_of(key: int) -> str:
    return base64.urlsafe_b64encode(str(key).encode("ascii")).decode("ascii").rstrip("=")


def parse_filters(layer: Layer, query: Mapping[str, list[str]]) -> dict[str, str]:
    """The property filters (`?name=value` for the layer's queryables); an unknown parameter is a 400."""
    names = {q.name: q for q in layer.queryables}
    filters: dict[str, str] = {}
    for key, values in query.items():
        if key in ITEMS_PARAMETERS:
            if len(values) > 1:
                raise invalid(f"{key} is given more than once.")
            continue
        if key not in names:
            known = ", ".join(sorted(ITEMS_PARAMETERS | set(names)))
            raise invalid(f"Unknown parameter {key[:40]!r}; this collection takes {known}.")
        if len(values) > 1:
            raise invalid(f"{key} is given more than once.")
        value = values[0]
        if len(value) > 200:
            raise invalid(f"{key}: the value is too long.")
        kind = names[key].type
        if kind == "integer" and not value.lstrip("-").isdigit():
            raise invalid(f"{key} takes a whole number.")
        filters[key] = value
    return filters


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def collection_document(layer: Layer, base: str, *, html_too: bool = True) -> dict[str, Any]:
    extent = layer.extent()
    document: dict[str, Any] = {
        "id": layer.id,
        "title": str(layer.title),
        "description": str(layer.description),
        "keywords": list(layer.keywords),
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "attribution": str(layer.owner_department),
        "license": layer.licence,
        "extent": {},
        "links": [
            {"href": f"{base}/collections/{layer.id}?f=json", "rel": "self", "type": "application/json",
             "title": "This collection as JSON"},
            {"href": f"{base}/collections/{layer.id}?f=html", "rel": "alternate", "type": "text/html",
             "title": "This collection as HTML"},
            {"href": f"{base}/collections/{layer.id}/items?f=json", "rel": "items", "type": "application/geo+json",
             "title": "The features as GeoJSON"},
            {"href": f"{base}/collections/{layer.id}/items?f=html", "rel": "items", "type": "text/html",
             "title": "The features as HTML"},
            {"href": f"{base}/collections/{layer.id}/queryables", "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": "application/schema+json", "title": "Queryables"},
            {"href": f"https://spdx.org/licenses/{layer.licence}.html", "rel": "license", "type": "text/html",
             "title": layer.licence},
        ],
    }  # fmt: skip
    if extent.bbox is not None:
        document["extent"]["spatial"] = {"bbox": [list(extent.bbox)], "crs": CRS84}
    if extent.interval is not None:
        start, end = extent.interval
        document["extent"]["temporal"] = {"interval": [[iso(start), iso(end)]], "trs": GREGORIAN}
    updated = layer.updated()
    if updated is not None:
        document["updated"] = iso(updated)
    return document


def queryables_document(layer: Layer, base: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{layer.id}/queryables",
        "type": "object",
        "title": str(layer.title),
        "properties": {
            q.name: {"title": q.title, "type": q.type, **({"description": q.description} if q.description else {})}
            for q in layer.queryables
        },
        "additionalProperties": False,
    }
