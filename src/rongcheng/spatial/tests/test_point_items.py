"""`services.point_items`: the one filter and page of every layer of points (points of interest, addresses, city
cases), and the prepared features the grid-cells layer writes from their kept JSON text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from rongcheng.audit.services import Actor
from rongcheng.spatial.models import PointOfInterest
from rongcheng.spatial.services import PreparedFeature, feature, poi_register, point_items

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
T1, T2, T3 = (datetime(2026, 1, d, 8, 0, tzinfo=UTC) for d in (1, 2, 3))


@pytest.fixture
def points(small_city):
    """Four parks; 东 on the box's east edge, 北 outside it; updated on T1, T2, T3, T3."""
    made = {}
    for name, x, y, when in (("西", 119.21, 26.01, T1), ("中", 119.25, 26.05, T2), ("东", 119.30, 26.05, T3),
                             ("北", 119.25, 26.09, T3)):  # fmt: skip
        poi, _ = poi_register(actor=SYSTEM, kind="park", name=name, x=x, y=y)
        PointOfInterest.objects.filter(pk=poi.pk).update(updated_at=when)
        made[name] = poi.pk
    return made


def _names(features):
    return [f["id"] for f in features]


def _page(**kwargs):
    rows = PointOfInterest.objects.order_by("id")
    options = {"bbox": None, "datetime_interval": None, "limit": 10, "offset": 0, "time_field": "updated_at"}
    return point_items(rows, make=lambda row: feature(row.name, None, {}), **{**options, **kwargs})


def test_the_box_takes_the_points_on_its_edges_and_leaves_those_outside(points):
    features, matched = _page(bbox=(119.21, 26.01, 119.30, 26.06))
    assert (_names(features), matched) == (["西", "中", "东"], 3)


def test_the_interval_takes_both_ends_and_an_open_end(points):
    assert _names(_page(datetime_interval=(T2, T3))[0]) == ["中", "东", "北"]
    assert _names(_page(datetime_interval=(None, T2))[0]) == ["西", "中"]
    assert _names(_page(datetime_interval=(T3, None), bbox=(119.2, 26.0, 119.3, 26.06))[0]) == ["东"]
    # A layer without a time ignores the interval rather than filtering on nothing.
    assert _page(datetime_interval=(T3, T3), time_field="")[1] == 4


def test_the_number_matched_is_exact_and_counted_only_when_the_page_does_not_show_it(points, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert _page(limit=10)[1] == 4  # a short page shows the total
    with django_assert_num_queries(1):
        features, matched = _page(limit=2, offset=2)  # the last page (one row more was asked for, none came)
    assert (_names(features), matched) == (["东", "北"], 4)
    with django_assert_num_queries(2):
        features, matched = _page(limit=2, offset=0)  # more follow: counted
    assert (_names(features), matched) == (["西", "中"], 4)
    with django_assert_num_queries(2):
        assert _page(limit=2, offset=10) == ([], 4)  # past the end: counted, not taken for zero
    with django_assert_num_queries(1):
        assert _page(bbox=(100.0, 20.0, 101.0, 21.0)) == ([], 0)


def test_the_property_filters_of_the_query_are_kept(points):
    rows = PointOfInterest.objects.filter(name__in=["西", "北"]).order_by("-id")
    features, matched = point_items(
        rows, bbox=(119.2, 26.0, 119.3, 26.1), datetime_interval=(T1, T3), limit=10, offset=0,
        make=lambda row: feature(row.name, None, {}), time_field="updated_at",
    )  # fmt: skip
    assert (_names(features), matched) == (["北", "西"], 2)


def test_a_prepared_feature_keeps_the_json_of_what_it_holds(small_city, client):
    prepared = PreparedFeature(feature("c1", {"type": "Point", "coordinates": [119.2, 26.0]}, {"name": "第1网格"}))
    assert json.loads(prepared.json) == prepared
    assert "第1网格" in prepared.json  # written as UTF-8, not escaped
    assert not isinstance({**prepared, "links": []}, PreparedFeature)
    # The grid-cells layer's pages are written from prepared features: the same document a plain encoding gives.
    page = client.get("/ogc/collections/grid-cells/items?limit=3&offset=1")
    document = page.json()
    assert [f["id"] for f in document["features"]] == ["35010200100102", "35010200200101", "35010200200102"]
    assert (document["numberMatched"], document["numberReturned"]) == (8, 3)
    assert document["features"][0]["properties"]["community_name"] == "鼓东社区"


def test_beyond_the_counting_limit_the_number_matched_is_not_claimed(points, monkeypatch, client):
    monkeypatch.setattr("rongcheng.spatial.services.MATCH_COUNT_LIMIT", 1)
    features, matched = _page(limit=1, offset=1)
    assert (_names(features), matched) == (["中"], None)
    assert _page(limit=1, offset=3)[1] == 4  # the last page shows the end: exact
    document = client.get("/ogc/collections/pois/items?limit=1&offset=1").json()
    assert "numberMatched" not in document
    assert document["numberReturned"] == 1
    assert [link["rel"] for link in document["links"] if link["rel"] in ("next", "prev")] == ["next", "prev"]
    page = client.get("/ogc/collections/pois/items?limit=1&offset=1&f=html")
    assert "符合条件的要素过多，未计总数；本页 1 个。" in page.content.decode()


def test_next_links_carry_a_cursor_so_a_deep_page_reads_only_its_own_rows(points, client, django_assert_num_queries):
    """Following `next` walks every point once, in order, whatever page it starts from; a page after a cursor reads
    the rows after it (one query, no offset), has no `prev`, and the last page no `next`."""
    seen, path = [], "/ogc/collections/pois/items?limit=1&offset=1"
    while path:
        document = client.get(path).json()
        seen += [f["properties"]["name"] for f in document["features"]]
        links = {link["rel"]: link["href"].removeprefix("http://testserver") for link in document["links"]}
        if "cursor=" in document["links"][0]["href"]:
            assert "prev" not in links
            assert "numberMatched" not in document
        path = links.get("next", "")
    assert seen == ["中", "东", "北"]
    assert "cursor=" in links["self"]
    with django_assert_num_queries(1):
        features, matched = _page(limit=1, offset=5, after=points["西"])  # the offset is not used after a cursor
    assert (_names(features), matched, features.last_key, features.more) == (["中"], None, points["中"], True)
    descending = PointOfInterest.objects.order_by("-id")
    page, _ = point_items(descending, bbox=None, datetime_interval=None, limit=10, offset=0, after=points["东"],
                          make=lambda row: feature(row.name, None, {}))  # fmt: skip
    assert _names(page) == ["中", "西"]


@pytest.mark.parametrize("path", ["/ogc/collections/pois/items?cursor=!!", "/ogc/collections/pois/items?cursor=LTE",
                                  "/ogc/collections/grid-cells/items?cursor=MQ"])  # fmt: skip
def test_a_cursor_not_from_a_next_link_is_refused(points, client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameterValue"
