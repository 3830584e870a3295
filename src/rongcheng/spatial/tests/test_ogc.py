"""OGC API – Features Part 1 at /ogc/, through Django's test client (OWSLib against a live server: test_owslib)."""

from __future__ import annotations

import pytest

from rongcheng.audit.services import Actor
from rongcheng.spatial.models import PointOfInterest
from rongcheng.spatial.services import poi_register

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@pytest.fixture
def pois(small_city):
    rows = [
        poi_register(actor=SYSTEM, kind="service_hall", name="鼓楼区政务服务中心", x=119.21, y=26.01,
                     address_text="福州市鼓楼区鼓东街道1号")[0],
        poi_register(actor=SYSTEM, kind="school", name="鼓西小学", x=119.27, y=26.08)[0],
        poi_register(actor=SYSTEM, kind="hospital", name="台江医院", x=119.33, y=26.04)[0],
    ]  # fmt: skip
    return rows


def test_landing_page_is_json_without_accept_and_links_the_openapi_document(client):
    response = client.get("/ogc/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    links = {link["rel"]: link for link in response.json()["links"]}
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert links["service-desc"]["href"] == "http://testserver/ogc/openapi"
    assert links["conformance"]["href"] == "http://testserver/ogc/conformance"
    assert links["data"]["href"] == "http://testserver/ogc/collections"
    openapi = client.get("/ogc/openapi")
    assert openapi["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    document = openapi.json()
    assert document["openapi"] == "3.0.3"
    names = [p["name"] for p in document["paths"]["/collections/pois/items"]["get"]["parameters"]]
    assert names == ["f", "bbox", "datetime", "limit", "offset", "cursor", "kind", "district_code", "street_code",
                     "community_code", "cell_code"]  # fmt: skip


def test_landing_page_is_html_for_a_browser(client):
    response = client.get("/ogc/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "spatial/map.js" in response.content.decode()


def test_head_is_answered_and_writes_are_not_allowed(client, small_city):
    head = client.head("/ogc/collections/grid-cells/items")
    assert head.status_code == 200
    assert head["Content-Type"] == "application/geo+json; charset=utf-8"
    assert client.post("/ogc/collections/grid-cells/items").status_code == 405


def test_conformance_declares_core_geojson_html_oas30(client):
    assert client.get("/ogc/conformance").json() == {
        "conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        ]
    }


def test_collections_list_the_platform_layers_with_extents(client, pois):
    document = client.get("/ogc/collections").json()
    assert [c["id"] for c in document["collections"]][:4] == ["divisions", "grid-cells", "addresses", "pois"]
    cells = client.get("/ogc/collections/grid-cells").json()
    assert cells["extent"]["spatial"] == {"bbox": [[119.2, 26.0, 119.4, 26.1]],
                                          "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}  # fmt: skip
    assert cells["attribution"] == "福州市城市管理委员会"
    divisions = client.get("/ogc/collections/divisions").json()
    assert divisions["extent"]["temporal"]["interval"] == [["2017-10-01T00:00:00Z", None]]


def test_items_with_bbox_and_paging_links(client, pois):
    response = client.get("/ogc/collections/grid-cells/items", {"bbox": "119.20,26.00,119.29,26.04", "limit": "1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json; charset=utf-8"
    document = response.json()
    assert document["numberMatched"] == 2
    assert document["numberReturned"] == 1
    assert [f["id"] for f in document["features"]] == ["35010200100101"]
    links = {link["rel"]: link["href"] for link in document["links"]}
    assert "prev" not in links
    second = client.get(links["next"].removeprefix("http://testserver")).json()
    assert [f["id"] for f in second["features"]] == ["35010200200101"]
    second_links = {link["rel"]: link["href"] for link in second["links"]}
    assert "next" not in second_links
    assert "offset=0" in second_links["prev"]


def test_poi_items_filtered_by_queryable_and_bbox(client, pois):
    document = client.get("/ogc/collections/pois/items", {"district_code": "350102"}).json()
    assert [f["properties"]["name"] for f in document["features"]] == ["鼓楼区政务服务中心", "鼓西小学"]
    document = client.get("/ogc/collections/pois/items", {"bbox": "119.30,26.00,119.40,26.10"}).json()
    assert [f["properties"]["name"] for f in document["features"]] == ["台江医院"]
    assert document["features"][0]["geometry"] == {"type": "Point", "coordinates": [119.33, 26.04]}
    assert document["features"][0]["properties"]["cell_code"] == "35010300100101"


def test_one_feature_and_unknown_ones(client, pois):
    poi = PointOfInterest.objects.get(name="鼓西小学")
    response = client.get(f"/ogc/collections/pois/items/{poi.pk}")
    assert response.status_code == 200
    assert response.json()["properties"]["name"] == "鼓西小学"
    assert client.get("/ogc/collections/pois/items/999999").status_code == 404
    missing = client.get("/ogc/collections/sewers/items")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NotFound"
    assert client.get("/ogc/collections/divisions/items/350102").json()["properties"]["name"] == "鼓楼区"


def test_divisions_valid_at_an_instant(client, small_city):
    ids = lambda q: [f["id"] for f in client.get("/ogc/collections/divisions/items", q).json()["features"]]  # noqa: E731
    assert ids({"level": "county", "datetime": "2016-06-01T00:00:00Z"}) == ["350102", "350103", "350182"]
    assert ids({"level": "county", "datetime": "2018-01-01"}) == ["350102", "350103", "350112"]
    assert ids({"level": "county", "datetime": "2017-09-01/.."}) == ["350102", "350103", "350112", "350182"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"bbox": "119.2,26.0,119.3"}, "bbox takes 4 numbers"),
        ({"bbox": "a,b,c,d"}, "bbox takes numbers"),
        ({"bbox": "119.2,27,119.3,26"}, "minimum latitude is larger"),
        ({"bbox": "119.2,26,200,27"}, "within ±180"),
        ({"limit": "abc"}, "limit takes a whole number"),
        ({"limit": "0"}, "limit takes a whole number"),
        ({"limit": "-3"}, "limit takes a whole number"),
        ({"offset": "x"}, "offset takes a whole number"),
        ({"datetime": "yesterday"}, "not an RFC 3339 date-time"),
        ({"datetime": "2018-02-30"}, "is not a date"),
        ({"datetime": "2018-02-12T00:00:00"}, "needs its time zone"),
        ({"datetime": "2019-01-01T00:00:00Z/2018-01-01T00:00:00Z"}, "start is after its end"),
        ({"datetime": "/"}, "not an interval"),
        ({"colour": "red"}, "Unknown parameter 'colour'"),
        ({"f": "xml"}, "f takes json or html"),
    ],
)
def test_bad_parameters_are_400_with_a_clear_message(client, small_city, query, message):
    response = client.get("/ogc/collections/grid-cells/items", query)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidParameterValue"
    assert message in response.json()["description"]


def test_a_limit_above_the_maximum_is_the_maximum(client, small_city):
    document = client.get("/ogc/collections/grid-cells/items", {"limit": "99999"}).json()
    assert document["numberReturned"] == 8
    assert any("limit=10000" in link["href"] for link in document["links"] if link["rel"] == "self")


def test_html_pages_of_each_resource(client, pois):
    paths = ["/ogc/collections", "/ogc/collections/pois", "/ogc/collections/pois/items", "/ogc/conformance",
             f"/ogc/collections/pois/items/{pois[0].pk}", "/ogc/collections/pois/queryables"]  # fmt: skip
    for path in paths:
        response = client.get(path, {"f": "html"})
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/html")


def test_html_features_are_named_and_their_properties_titled_in_the_readers_language(client, pois):
    page = client.get("/ogc/collections/pois/items", {"f": "html", "kind": "school"}).content.decode()
    assert f'<a href="/ogc/collections/pois/items/{pois[1].pk}?f=html">鼓西小学</a>' in page
    assert '<span><span class="ogc-key">类别</span> 学校</span>' in page
    assert '<span><span class="ogc-key">单元网格代码</span> 35010200200102</span>' in page
    assert "kind_label" not in page
    english = client.get(f"/ogc/collections/pois/items/{pois[1].pk}", {"f": "html"}, HTTP_ACCEPT_LANGUAGE="en")
    text = english.content.decode()
    assert "<h1>Points of interest · 鼓西小学</h1>" in text
    assert "<dt>Kind <code>kind_label</code></dt><dd>School</dd>" in text


def test_queryables_are_a_json_schema(client, small_city):
    response = client.get("/ogc/collections/grid-cells/queryables")
    assert response["Content-Type"] == "application/schema+json; charset=utf-8"
    assert sorted(response.json()["properties"]) == ["community_code", "district_code", "street_code"]
