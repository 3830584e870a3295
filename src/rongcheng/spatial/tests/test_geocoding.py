"""Geocoding against standard addresses of the small test city (tests/conftest.py)."""

from __future__ import annotations

import pytest

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.registries.models import Address
from rongcheng.spatial.errors import OutsideCity, SpatialInputInvalid
from rongcheng.spatial.services import geocode, geocode_batch, reverse_geocode

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
A1 = "福州市鼓楼区鼓东街道鼓东社区杨桥路101号"
A2 = "福州市鼓楼区鼓西街道鼓西社区杨桥路101号"
A3 = "福州市台江区瀛洲街道瀛洲社区五四路8号"
A4 = "福州市鼓楼区鼓东街道鼓东社区东街7号"


@pytest.fixture
def city(small_city):
    changle = Division.objects.get(code="350112")
    street = Division.objects.create(code="350112001", name="吴航街道", level=DivisionLevel.STREET, parent=changle)
    community = Division.objects.create(code="350112001001", name="西关社区", level=DivisionLevel.COMMUNITY,
                                        parent=street)  # fmt: skip
    ring = [[119.5, 25.9], [119.6, 25.9], [119.6, 26.0], [119.5, 26.0], [119.5, 25.9]]
    GridCell.objects.create(code="35011200100101", name="第1网格", community=community,
                            polygon={"type": "Polygon", "coordinates": [ring]},
                            min_lon=119.5, min_lat=25.9, max_lon=119.6, max_lat=26.0)  # fmt: skip
    Address.objects.create(text=A1, division_code="350102", longitude=119.225, latitude=26.025)
    Address.objects.create(text=A2, division_code="350102", longitude=119.275, latitude=26.075)
    Address.objects.create(text=A3, division_code="350103", longitude=119.325, latitude=26.025)
    Address.objects.create(text=A4, division_code="350102", longitude=119.226, latitude=26.026)
    return Address.objects.get(text=A1)


def test_the_exact_text_of_a_standard_address_scores_one(city):
    match = geocode(city.text)
    assert match is not None
    assert (match.score, match.level, match.address_id, match.address_text) == (1.0, "address", city.pk, city.text)
    assert (match.lon, match.lat) == (city.longitude, city.latitude)
    assert match.location is not None
    assert match.location.cell_code == "35010200100101"
    assert (match.district_code, match.street_code, match.community_code) == ("350102", "350102001", "350102001001")


def test_a_looser_writing_finds_the_address_its_street_names(city):
    # Without the city and the community, with blanks and full-width digits: the street tells the two 杨桥路101号.
    match = geocode("鼓楼 鼓西街道 杨桥路１０１号")
    assert match is not None
    assert (match.address_text, match.level, match.score) == (A2, "address", 0.9)
    assert match.location is not None
    assert match.location.cell_code == "35010200200102"
    other = geocode("福建省福州市鼓楼区鼓东街道杨桥路101号")
    assert other is not None
    assert (other.address_text, other.score) == (A1, 0.9)


def test_a_district_that_contradicts_the_address_excludes_it(city):
    match = geocode("台江区五四路8号")
    assert match is not None
    assert (match.address_text, match.score) == (A3, 0.8)
    assert geocode("鼓楼区五四路8号").level == "district"  # type: ignore[union-attr]


def test_a_short_street_name_does_not_eat_the_road(city):
    match = geocode("鼓楼区东街7号")  # 东 is no street here, but 鼓东 read short is; 东街 is the road
    assert match is not None
    assert (match.address_text, match.level) == (A4, "address")


def test_only_a_community_gives_its_centre(city):
    match = geocode("福州市鼓楼区鼓西街道鼓西社区不存在路9999号")
    assert match is not None
    assert (match.level, match.score, match.address_id) == ("community", 0.5, None)
    assert (match.lon, match.lat) == (119.275, 26.05)
    assert match.location is not None
    assert match.location.community_code == "350102002001"


def test_nothing_known_is_no_match(city):
    assert geocode("火星基地1号") is None
    assert geocode("") is None
    assert geocode("\x00" * 500) is None


def test_the_old_changle_city_reads_as_changle_district(city):
    match = geocode("长乐市吴航街道")
    assert match is not None
    assert (match.level, match.district_code, match.street_code) == ("street", "350112", "350112001")
    assert match.location is not None
    assert match.location.district_name == "长乐区"


def test_reverse_geocoding_finds_the_nearest_address_and_cell(city):
    found = reverse_geocode(lon=city.longitude, lat=city.latitude - 0.0001)
    assert (found.address_id, found.address_text) == (city.pk, city.text)
    assert found.distance_m == pytest.approx(11.1, abs=0.2)
    assert found.location is not None
    assert found.location.cell_code == "35010200100101"
    with pytest.raises(OutsideCity):
        reverse_geocode(lon=100.0, lat=20.0)


def test_batch_geocoding_a_csv_keeps_other_columns_and_counts(city):
    data = ("编号,地址\n1," + city.text + "\n2,火星基地1号\n3,=cmd()\n").encode()
    before = AuditRecord.objects.count()
    result = geocode_batch(actor=SYSTEM, data=data)
    lines = result.csv.splitlines()
    assert lines[0] == ("编号,address,lon,lat,score,level,district_code,street_code,community_code,cell_code,"
                        "matched_address")  # fmt: skip
    assert lines[1] == f"1,{A1},119.225000,26.025000,1.00,address,350102,350102001,350102001001,35010200100101,{A1}"
    assert lines[2] == "2,火星基地1号,,,,,,,,,"
    assert lines[3] == "3,'=cmd(),,,,,,,,,"
    assert (result.rows, result.matched) == (3, 1)
    assert AuditRecord.objects.count() == before + 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"name\nx\n", "no column named address"),
        (b"\xff\xfe\x00a", "not UTF-8"),
        (b"address\n\x00\n", "not a CSV"),
    ],
)
def test_batch_geocoding_refuses_what_is_not_a_csv_of_addresses(city, data, message):
    with pytest.raises(SpatialInputInvalid, match=message):
        geocode_batch(actor=SYSTEM, data=data)
