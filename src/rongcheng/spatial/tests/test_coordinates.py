"""Coordinate systems: GCJ-02 against the published reference vectors, Web Mercator against EPSG:3857 values."""

from __future__ import annotations

import pytest

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor
from rongcheng.spatial.errors import CoordinatesInvalid, OutsideCity
from rongcheng.spatial.models import PointOfInterest
from rongcheng.spatial.services import from_wgs84, poi_register, to_wgs84

# (WGS84 lat, lon) → (GCJ-02 lat, lon): the reference vectors published with the eviltransform implementations.
VECTORS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]


@pytest.mark.parametrize(("wgs", "gcj"), VECTORS)
def test_gcj02_forward_and_iterative_inverse(wgs, gcj):
    assert from_wgs84(wgs[1], wgs[0], crs="gcj02") == pytest.approx((gcj[1], gcj[0]), abs=1e-12)
    assert to_wgs84(gcj[1], gcj[0], crs="gcj02") == pytest.approx((wgs[1], wgs[0]), abs=2e-7)


def test_gcj02_outside_china_is_wgs84():
    assert to_wgs84(-0.1276, 51.5072, crs="gcj02") == (-0.1276, 51.5072)


def test_web_mercator_known_values():
    assert from_wgs84(180.0, 0.0, crs="web_mercator") == pytest.approx((20037508.342789244, 0.0), abs=1e-6)
    # The square world of EPSG:3857: latitude 85.0511287798° maps to the same 20037508.34 m as longitude 180°.
    assert from_wgs84(-180.0, 85.0511287798066, crs="web_mercator") == pytest.approx(
        (-20037508.342789244, 20037508.342789244), abs=1e-3
    )
    assert to_wgs84(20037508.342789244, 20037508.342789244, crs="web_mercator") == pytest.approx(
        (180.0, 85.0511288), abs=1e-7
    )
    x, y = from_wgs84(119.3065, 26.0745, crs="web_mercator")
    assert x == pytest.approx(119.3065 / 180 * 20037508.342789244, abs=1e-6)
    assert to_wgs84(x, y, crs="web_mercator") == pytest.approx((119.3065, 26.0745), abs=1e-7)


def test_cgcs2000_is_taken_as_wgs84():
    assert to_wgs84(119.3065, 26.0745, crs="cgcs2000") == (119.3065, 26.0745)


@pytest.mark.parametrize(
    ("x", "y", "crs", "message"),
    [
        ("abc", 26.0, "wgs84", "x must be a number"),
        (119.0, float("nan"), "wgs84", "finite"),
        (200.0, 26.0, "wgs84", "Longitude lies within ±180"),
        (3e7, 0.0, "web_mercator", "±20037508.34"),
        (119.0, 26.0, "bd09", "Unknown coordinate system"),
    ],
)
def test_bad_coordinates_are_refused(x, y, crs, message):
    with pytest.raises(CoordinatesInvalid, match=message):
        to_wgs84(x, y, crs=crs)


@pytest.mark.django_db
def test_a_point_arriving_in_gcj02_is_stored_in_wgs84_with_its_source(small_city):
    gcj_lon, gcj_lat = from_wgs84(119.27, 26.08, crs="gcj02")
    poi, created = poi_register(actor=Actor.system("tests"), kind="school", name="鼓西小学", x=gcj_lon, y=gcj_lat,
                                crs="gcj02")  # fmt: skip
    assert created
    poi.refresh_from_db()
    assert (poi.longitude, poi.latitude) == pytest.approx((119.27, 26.08), abs=1e-6)
    assert (poi.source_crs, poi.source_x, poi.source_y) == ("gcj02", gcj_lon, gcj_lat)
    assert (poi.district_code, poi.street_code, poi.community_code, poi.cell_code) == (
        "350102", "350102002", "350102002001", "35010200200102",
    )  # fmt: skip


@pytest.mark.django_db
def test_a_point_outside_the_city_is_refused_and_nothing_stored(small_city):
    before = AuditRecord.objects.count()
    with pytest.raises(OutsideCity, match="outside the city"):
        poi_register(actor=Actor.system("tests"), kind="park", name="远方公园", x=118.0, y=25.0)
    assert not PointOfInterest.objects.exists()
    refusal = AuditRecord.objects.order_by("-id")[0]
    assert AuditRecord.objects.count() == before + 1
    assert (refusal.action, refusal.outcome) == ("spatial.poi.register", "denied")
