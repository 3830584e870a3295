from __future__ import annotations

import pytest

from rongcheng.demo.services import DEFAULT_SEED, _seed_places
from rongcheng.demo.spatial import demo_spatial_seed
from rongcheng.divisions.models import Division
from rongcheng.spatial.models import PointOfInterest
from rongcheng.spatial.selectors import locate

pytestmark = pytest.mark.django_db


def test_points_of_interest_in_every_district_each_inside_its_cell_and_a_second_run_adds_nothing():
    _seed_places(DEFAULT_SEED)
    added = demo_spatial_seed()
    assert added == PointOfInterest.objects.count() > 0
    districts = set(Division.objects.filter(level="county", valid_to__isnull=True).values_list("code", flat=True))
    assert set(PointOfInterest.objects.values_list("district_code", flat=True)) == districts
    gulou = PointOfInterest.objects.filter(district_code="350102")
    assert set(gulou.values_list("kind", flat=True)) == {
        "service_hall", "service_window", "school", "hospital", "park", "police_station", "metro_station",
    }  # fmt: skip
    for poi in PointOfInterest.objects.all():
        assert locate(lon=poi.longitude, lat=poi.latitude).cell_code == poi.cell_code  # type: ignore[union-attr]
    assert demo_spatial_seed() == 0
