"""Reads of the spatio-temporal platform: locating a point in the grid, the city's extent, division outlines.

`locate(lon=, lat=)` answers from a shapely STRtree over the grid cells' polygons, built once per process and
rebuilt when the cells or divisions change: a save or delete of a cell or division in this process drops it at
once (signals, `apps.py`), and every `STAMP_INTERVAL` seconds a cheap stamp (count and largest id of both tables)
is read so changes made by another process or by bulk writes are seen too. Coordinates are WGS84 (CRS84 order:
longitude, latitude).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy
import shapely
from django.db.models import Count, Max
from shapely.geometry import Point, mapping, shape
from shapely.strtree import STRtree

from rongcheng.divisions.models import Division, GridCell
from rongcheng.spatial.models import PoiImport, PointOfInterest, PointOfInterestVersion

STAMP_INTERVAL = 5.0  # seconds between two reads of the grid's stamp

BBox = tuple[float, float, float, float]
_generations = itertools.count(1)  # numbers the grid indexes built by this process


@dataclass(frozen=True)
class Location:
    """Where a point lies: its grid cell and the community, street and district above it."""

    cell_code: str
    cell_name: str
    community_code: str
    community_name: str
    street_code: str
    street_name: str
    district_code: str
    district_name: str


@dataclass
class _GridIndex:
    stamp: tuple[Any, ...]
    tree: STRtree
    geometries: list[Any]
    locations: list[Location]
    bounds: BBox | None
    outlines: dict[str, Any] = field(default_factory=dict)
    generation: int = field(default_factory=lambda: next(_generations))

    def outline(self, code: str) -> Any:
        """The union of the cells under a division code (cached); None when no cell lies under it."""
        if code not in self.outlines:
            parts = [
                g for g, loc in zip(self.geometries, self.locations, strict=True) if loc.cell_code.startswith(code)
            ]
            if code == "350100":  # the city: every cell
                parts = list(self.geometries)
            self.outlines[code] = shapely.unary_union(parts).simplify(0) if parts else None
        return self.outlines[code]


_lock = threading.Lock()
_index: _GridIndex | None = None
_drops = 0  # how many times the index was dropped in this process
_checked = threading.local()  # per thread: (_drops, monotonic time) when it last compared the stamp


def _stamp() -> tuple[Any, ...]:
    cells = GridCell.objects.aggregate(n=Count("id"), top=Max("id"))
    divisions = Division.objects.aggregate(n=Count("id"), top=Max("id"))
    return (cells["n"], cells["top"], divisions["n"], divisions["top"])


def _build(stamp: tuple[Any, ...]) -> _GridIndex:
    names = dict(Division.objects.values_list("code", "name"))
    parents: dict[str, str] = {
        code: parent for code, parent in Division.objects.values_list("code", "parent__code") if parent
    }
    geometries: list[Any] = []
    locations: list[Location] = []
    for code, name, polygon, community in GridCell.objects.order_by("code").values_list(
        "code", "name", "polygon", "community__code"
    ):
        try:
            geometry = shape(polygon)
        except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException):
            continue  # a malformed polygon cannot be located in; the import services refuse them
        if geometry.is_empty:
            continue
        street = parents.get(community, "")
        district = parents.get(street, "")
        geometries.append(geometry)
        locations.append(
            Location(
                cell_code=code,
                cell_name=name,
                community_code=community,
                community_name=names.get(community, ""),
                street_code=street,
                street_name=names.get(street, ""),
                district_code=district,
                district_name=names.get(district, ""),
            )
        )
    bounds: BBox | None = None
    if geometries:
        x0, y0, x1, y1 = shapely.total_bounds(geometries)
        bounds = (float(x0), float(y0), float(x1), float(y1))
    return _GridIndex(stamp, STRtree(geometries), geometries, locations, bounds)


def grid_index_drop() -> None:
    """Forget the index: the next read rebuilds it (called on every save or delete of a cell or division, and again
    when that change commits)."""
    global _index, _drops
    with _lock:
        _index = None
        _drops += 1


def _grid() -> _GridIndex:
    """The current index. Each thread compares the stamp with what its own connection sees every STAMP_INTERVAL
    and after every drop: another thread may have rebuilt the index from what was committed while this one's
    transaction holds changes it does not see."""
    global _index
    index = _index
    now = time.monotonic()
    last = getattr(_checked, "last", None)
    if index is not None and last is not None and last[0] == _drops and now - last[1] < STAMP_INTERVAL:
        return index
    with _lock:
        drops = _drops
        stamp = _stamp()
        if _index is None or _index.stamp != stamp:
            _index = _build(stamp)
        _checked.last = (drops, now)
        return _index


def _finite(lon: float, lat: float) -> bool:
    return isinstance(lon, int | float) and isinstance(lat, int | float) and math.isfinite(lon) and math.isfinite(lat)


def locate(*, lon: float, lat: float) -> Location | None:
    """The grid cell a WGS84 point lies in (on a shared edge: the cell with the smallest code), or None outside."""
    if not _finite(lon, lat):
        return None
    index = _grid()
    # A one-element array: STRtree.query of a scalar geometry spends most of its time reshaping it.
    hits = index.tree.query(numpy.array([Point(lon, lat)]), predicate="intersects")[1]
    if len(hits) == 0:
        return None
    return index.locations[int(hits.min())]


def inside_city(*, lon: float, lat: float) -> bool:
    """Whether a WGS84 point lies in one of the city's grid cells."""
    return locate(lon=lon, lat=lat) is not None


def city_bounds() -> BBox | None:
    """The bounding box of every grid cell (min lon, min lat, max lon, max lat), or None when there is no cell."""
    return _grid().bounds


def cell_geometries() -> list[tuple[Location, Any]]:
    """Every grid cell's location with its shapely polygon, in code order."""
    index = _grid()
    return list(zip(index.locations, index.geometries, strict=True))


def grid_version() -> int:
    """An identity of the current grid index: it changes whenever the index is rebuilt (for caches built on it)."""
    return _grid().generation


def cells_in_bbox(bbox: BBox) -> list[int]:
    """Positions (in code order) of the cells whose polygon meets the box."""
    index = _grid()
    return sorted(int(i) for i in index.tree.query(shapely.box(*bbox), predicate="intersects"))


def division_outline(*, code: str) -> dict[str, Any] | None:
    """The outline of a division as a GeoJSON geometry: the union of the grid cells under it (cached per grid)."""
    geometry = _grid().outline(code)
    return mapping(geometry) if geometry is not None else None


def division_outline_shape(*, code: str) -> Any:
    return _grid().outline(code)


def poi_list() -> Any:
    return PointOfInterest.objects.all()


def poi_history(*, poi_id: int) -> list[PointOfInterestVersion]:
    """The previous states of a point of interest, oldest first (its current state is the point itself)."""
    return list(PointOfInterestVersion.objects.filter(poi_id=poi_id).order_by("version"))


def poi_imports(*, limit: int = 20) -> list[PoiImport]:
    """The latest imports of points of interest, newest first: the versions of the layer."""
    return list(PoiImport.objects.order_by("-id")[:limit])
