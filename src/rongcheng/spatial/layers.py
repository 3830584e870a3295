"""The platform's own layers: divisions, grid cells, standard addresses and points of interest.

Registered by `SpatialConfig.ready`. Grid cells are answered from the in-memory grid index (the STRtree of
`selectors`), divisions from their rows with the outline the union of their cells, addresses and points of interest
from their tables with the box as a range condition on the point's columns. Every answer is CRS84 GeoJSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from django.db.models import Max, Min, Q
from django.utils.translation import gettext_lazy as _
from shapely.geometry import box as shapely_box
from shapely.geometry import mapping

from rongcheng.divisions.models import Division
from rongcheng.registries.models import Address
from rongcheng.spatial import selectors
from rongcheng.spatial.models import PoiKind, PointOfInterest
from rongcheng.spatial.services import (
    BBox,
    DatetimeInterval,
    Extent,
    Feature,
    Layer,
    PreparedFeature,
    Queryable,
    feature,
    point_geometry,
    point_items,
)


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


class DivisionsLayer(Layer):
    id = "divisions"
    title = _("行政区划")
    description = _("福州市的区县、街道（乡镇）和社区（村），含有效期；边界为其下单元网格的并集。")
    owner_department = "福州市民政局"
    keywords = ("行政区划", "GB/T 2260")
    temporal_property = "valid_from"
    queryables = (
        Queryable("code", "string", "区划代码"),
        Queryable("level", "string", "层级", "prefecture, county, street, community"),
        Queryable("parent_code", "string", "上级区划代码"),
    )

    def _rows(self) -> list[Division]:
        return list(Division.objects.select_related("parent", "successor").order_by("code"))

    def _feature(self, division: Division) -> Feature:
        return feature(
            division.code,
            selectors.division_outline(code=division.code),
            {
                "code": division.code,
                "name": division.name,
                "level": division.level,
                "parent_code": division.parent.code if division.parent else None,
                "valid_from": division.valid_from.isoformat() if division.valid_from else None,
                "valid_to": division.valid_to.isoformat() if division.valid_to else None,
                "successor_code": division.successor.code if division.successor else None,
            },
        )

    def extent(self) -> Extent:
        span = Division.objects.aggregate(start=Min("valid_from"))
        return Extent(selectors.city_bounds(), (_midnight(span["start"]), None))

    def items(
        self,
        *,
        bbox: BBox | None,
        datetime_interval: DatetimeInterval | None,
        filters: Mapping[str, str],
        limit: int,
        offset: int,
        after: int | None = None,
    ) -> tuple[list[Feature], int]:
        qs = Division.objects.select_related("parent", "successor").order_by("code")
        if "code" in filters:
            qs = qs.filter(code=filters["code"])
        if "level" in filters:
            qs = qs.filter(level=filters["level"])
        if "parent_code" in filters:
            qs = qs.filter(parent__code=filters["parent_code"])
        if datetime_interval is not None:
            start, end = datetime_interval
            if end is not None:
                qs = qs.filter(Q(valid_from__isnull=True) | Q(valid_from__lte=end.date()))
            if start is not None:
                qs = qs.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=start.date()))
        rows = list(qs)
        if bbox is not None:
            area = shapely_box(*bbox)
            rows = [
                row
                for row in rows
                if (outline := selectors.division_outline_shape(code=row.code)) is not None and outline.intersects(area)
            ]
        return [self._feature(row) for row in rows[offset : offset + limit]], len(rows)

    def item(self, feature_id: str) -> Feature | None:
        division = Division.objects.select_related("parent", "successor").filter(code=feature_id).first()
        return self._feature(division) if division else None


class GridCellsLayer(Layer):
    id = "grid-cells"
    title = _("单元网格")
    description = _("数字化城市管理的单元网格（CJ/T 213），每个网格属于一个社区。")
    owner_department = "福州市城市管理委员会"
    keywords = ("单元网格", "数字城管")
    queryables = (
        Queryable("community_code", "string", "社区代码"),
        Queryable("street_code", "string", "街道代码"),
        Queryable("district_code", "string", "区县代码"),
    )

    @staticmethod
    def _feature(location: selectors.Location, geometry: Any) -> Feature:
        return PreparedFeature(
            feature(
                location.cell_code,
                mapping(geometry),
                {
                    "code": location.cell_code,
                    "name": location.cell_name,
                    "community_code": location.community_code,
                    "community_name": location.community_name,
                    "street_code": location.street_code,
                    "street_name": location.street_name,
                    "district_code": location.district_code,
                    "district_name": location.district_name,
                },
            )
        )

    def __init__(self) -> None:
        self._cache: tuple[int, list[Feature]] = (0, [])

    def _features(self) -> list[Feature]:
        """Every cell's feature, built once per grid index (the polygons' GeoJSON is the costly part)."""
        version = selectors.grid_version()
        if self._cache[0] != version:
            self._cache = (version, [self._feature(loc, geometry) for loc, geometry in selectors.cell_geometries()])
        return self._cache[1]

    def extent(self) -> Extent:
        return Extent(selectors.city_bounds())

    def items(
        self,
        *,
        bbox: BBox | None,
        datetime_interval: DatetimeInterval | None,
        filters: Mapping[str, str],
        limit: int,
        offset: int,
        after: int | None = None,
    ) -> tuple[list[Feature], int]:
        features = self._features()
        if bbox is not None:
            features = [features[i] for i in selectors.cells_in_bbox(bbox)]
        for name, value in filters.items():
            features = [f for f in features if f["properties"][name] == value]
        return features[offset : offset + limit], len(features)

    def item(self, feature_id: str) -> Feature | None:
        return next((f for f in self._features() if f["id"] == feature_id), None)


class AddressesLayer(Layer):
    id = "addresses"
    pages_by_key = True
    title = _("标准地址")
    description = _("基础库中的标准地址及其坐标（只有地址本身，不含任何人员或法人信息）。")
    owner_department = "福州市公安局"
    keywords = ("标准地址",)
    queryables = (Queryable("division_code", "string", "区县代码"),)

    @staticmethod
    def _feature(row: Address) -> Feature:
        return feature(
            row.pk,
            point_geometry(row.longitude, row.latitude),
            {"address": row.text, "division_code": row.division_code},
        )

    def extent(self) -> Extent:
        span = Address.objects.aggregate(
            x0=Min("longitude"), y0=Min("latitude"), x1=Max("longitude"), y1=Max("latitude")
        )
        if span["x0"] is None:
            return Extent(None)
        return Extent((span["x0"], span["y0"], span["x1"], span["y1"]))

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
        rows = Address.objects.only("id", "text", "division_code", "longitude", "latitude").order_by("id")
        if "division_code" in filters:
            rows = rows.filter(division_code=filters["division_code"])
        return point_items(rows, bbox=bbox, datetime_interval=None, limit=limit, offset=offset, make=self._feature,
                           after=after)  # fmt: skip

    def item(self, feature_id: str) -> Feature | None:
        if not feature_id.isdigit() or len(feature_id) > 18:
            return None
        row = Address.objects.filter(pk=int(feature_id)).first()
        return self._feature(row) if row else None


class PointsOfInterestLayer(Layer):
    id = "pois"
    title = _("兴趣点")
    description = _("政务服务中心与便民服务窗口、学校、医院、公园、地铁站、派出所等兴趣点。")
    owner_department = "福州市数字福州建设领导小组办公室"
    keywords = ("兴趣点", "POI")
    temporal_property = "updated"
    pages_by_key = True
    queryables = (
        Queryable("kind", "string", "类别", ", ".join(PoiKind.values)),
        Queryable("district_code", "string", "区县代码"),
        Queryable("street_code", "string", "街道代码"),
        Queryable("community_code", "string", "社区代码"),
        Queryable("cell_code", "string", "单元网格代码"),
    )

    FIELDS = ("id", "kind", "name", "address_text", "district_code", "street_code", "community_code", "cell_code",
              "longitude", "latitude", "source_crs", "updated_at", "version")  # fmt: skip

    @staticmethod
    def _maker() -> Callable[[dict[str, Any]], Feature]:
        """Features from rows of `FIELDS`, the kinds' labels translated once for the page (not per row)."""
        labels = {value: str(label) for value, label in PoiKind.choices}

        def make(row: dict[str, Any]) -> Feature:
            return feature(
                row["id"],
                point_geometry(row["longitude"], row["latitude"]),
                {
                    "kind": row["kind"],
                    "kind_label": labels.get(row["kind"], row["kind"]),
                    "name": row["name"],
                    "address": row["address_text"],
                    "district_code": row["district_code"],
                    "street_code": row["street_code"],
                    "community_code": row["community_code"],
                    "cell_code": row["cell_code"],
                    "source_crs": row["source_crs"],
                    "version": row["version"],
                    "updated": row["updated_at"].isoformat().replace("+00:00", "Z"),
                },
            )

        return make

    def updated(self) -> datetime | None:
        latest: datetime | None = PointOfInterest.objects.aggregate(t=Max("updated_at"))["t"]
        return latest

    def extent(self) -> Extent:
        span = PointOfInterest.objects.aggregate(
            x0=Min("longitude"), y0=Min("latitude"), x1=Max("longitude"), y1=Max("latitude"), t0=Min("updated_at")
        )
        if span["x0"] is None:
            return Extent(None)
        return Extent((span["x0"], span["y0"], span["x1"], span["y1"]), (span["t0"], None))

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
        rows = PointOfInterest.objects.filter(**dict(filters)).order_by("id").values(*self.FIELDS)
        return point_items(rows, bbox=bbox, datetime_interval=datetime_interval, limit=limit, offset=offset,
                           make=self._maker(), time_field="updated_at", after=after)  # fmt: skip

    def item(self, feature_id: str) -> Feature | None:
        if not feature_id.isdigit() or len(feature_id) > 18:
            return None
        row = PointOfInterest.objects.filter(pk=int(feature_id)).values(*self.FIELDS).first()
        return self._maker()(row) if row else None


PLATFORM_LAYERS: tuple[Layer, ...] = (DivisionsLayer(), GridCellsLayer(), AddressesLayer(), PointsOfInterestLayer())
