"""The OGC API – Features endpoint with a real client of the standard: OWSLib against a live server."""

from __future__ import annotations

import pytest
from owslib.ogcapi.features import Features

from rongcheng.audit.services import Actor
from rongcheng.spatial.services import poi_register

pytestmark = pytest.mark.django_db(transaction=True)


def test_owslib_reads_the_collections_items_and_conformance(live_server, small_city):
    poi_register(actor=Actor.system("tests"), kind="park", name="西湖公园", x=119.28, y=26.09)
    api = Features(f"{live_server.url}/ogc/")
    assert api.api()["openapi"] == "3.0.3"  # found only through the landing page's service-desc link
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert {"divisions", "grid-cells", "addresses", "pois"} <= set(api.feature_collections())
    cells = api.collection_items("grid-cells", bbox=[119.20, 26.0, 119.26, 26.04], limit=10)
    assert cells["numberMatched"] == 2
    assert [f["id"] for f in cells["features"]] == ["35010200100101", "35010200200101"]
    assert api.collection("pois")["extent"]["spatial"]["bbox"] == [[119.28, 26.09, 119.28, 26.09]]
    parks = api.collection_items("pois", kind="park", limit=5)
    assert [f["properties"]["name"] for f in parks["features"]] == ["西湖公园"]
    assert api.collection_queryables("pois")["properties"]["kind"]["type"] == "string"
    with pytest.raises(RuntimeError, match="bbox takes 4 numbers"):
        api.collection_items("grid-cells", bbox=[119.2, 26.0, 119.3])
