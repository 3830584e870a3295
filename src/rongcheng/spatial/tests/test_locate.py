from __future__ import annotations

import math

import pytest
import shapely
from shapely.geometry import Point, shape

from rongcheng.divisions.models import GridCell
from rongcheng.spatial import selectors
from rongcheng.spatial.selectors import Location, city_bounds, inside_city, locate

pytestmark = pytest.mark.django_db


def test_a_point_is_located_in_its_cell_community_street_and_district(small_city):
    assert locate(lon=119.26, lat=26.07) == Location(
        cell_code="35010200200102",
        cell_name="第2网格",
        community_code="350102002001",
        community_name="鼓西社区",
        street_code="350102002",
        street_name="鼓西街道",
        district_code="350102",
        district_name="鼓楼区",
    )
    assert locate(lon=119.31, lat=26.01).cell_code == "35010300100101"  # type: ignore[union-attr]


def test_outside_the_city_nothing_is_located(small_city):
    assert locate(lon=119.45, lat=26.05) is None
    assert locate(lon=0.0, lat=0.0) is None
    assert inside_city(lon=119.45, lat=26.05) is False
    assert inside_city(lon=119.25, lat=26.05) is True


@pytest.mark.parametrize(("lon", "lat"), [(math.nan, 26.0), (119.25, math.inf), ("119.25", 26.0), (None, None)])
def test_hostile_coordinates_locate_nothing(small_city, lon, lat):
    assert locate(lon=lon, lat=lat) is None


def test_a_point_on_a_shared_edge_takes_the_cell_with_the_smaller_code(small_city):
    assert locate(lon=119.25, lat=26.05).cell_code == "35010200100101"  # type: ignore[union-attr]
    assert locate(lon=119.30, lat=26.02).cell_code == "35010200200101"  # type: ignore[union-attr]


def test_city_bounds_cover_every_cell(small_city):
    assert city_bounds() == pytest.approx((119.20, 26.00, 119.40, 26.10))


def test_a_new_cell_is_located_at_once_and_a_deleted_one_no_more(small_city):
    assert locate(lon=119.45, lat=26.05) is None
    community = GridCell.objects.get(code="35010300200101").community
    ring = [[119.40, 26.00], [119.50, 26.00], [119.50, 26.10], [119.40, 26.10], [119.40, 26.00]]
    GridCell.objects.create(code="35010300200103", name="第3网格", community=community,
                            polygon={"type": "Polygon", "coordinates": [ring]},
                            min_lon=119.40, min_lat=26.0, max_lon=119.5, max_lat=26.1)  # fmt: skip
    assert locate(lon=119.45, lat=26.05).cell_code == "35010300200103"  # type: ignore[union-attr]
    GridCell.objects.filter(code="35010300200103").delete()  # a queryset delete sends post_delete per row
    assert locate(lon=119.45, lat=26.05) is None


def test_bulk_writes_are_seen_after_the_stamp_interval(small_city, monkeypatch):
    assert locate(lon=119.45, lat=26.05) is None
    community = GridCell.objects.get(code="35010300200101").community
    ring = [[119.40, 26.00], [119.50, 26.00], [119.50, 26.10], [119.40, 26.10], [119.40, 26.00]]
    GridCell.objects.bulk_create([GridCell(code="35010300200103", name="第3网格", community=community,
                                           polygon={"type": "Polygon", "coordinates": [ring]},
                                           min_lon=119.40, min_lat=26.0, max_lon=119.5, max_lat=26.1)])  # fmt: skip
    monkeypatch.setattr(selectors, "STAMP_INTERVAL", 0.0)
    assert locate(lon=119.45, lat=26.05).cell_code == "35010300200103"  # type: ignore[union-attr]


def test_district_outline_is_the_union_of_its_cells(small_city):
    outline = shape(selectors.division_outline(code="350102"))
    assert outline.equals(shapely.box(119.20, 26.00, 119.30, 26.10))
    assert shape(selectors.division_outline(code="350103002")).equals(shapely.box(119.35, 26.00, 119.40, 26.10))
    assert selectors.division_outline(code="350182") is None  # retired: no cells
    assert shape(selectors.division_outline(code="350100")).contains(Point(119.39, 26.09))
