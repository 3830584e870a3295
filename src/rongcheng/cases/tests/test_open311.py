"""Open311 GeoReport v2 against a live server: reads through the PyPI client `georeport` (JSON and XML), writes
through plain HTTP (form-encoded with api_key and a media upload), errors as Open311 error lists."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
import requests
from georeport import GeoReport

from rongcheng.cases import services
from rongcheng.cases.models import Case, CasePhoto
from rongcheng.cases.tests import factories as f

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("cases-open311")]


@pytest.fixture
def city(live_server):
    f.world()
    f.category("E0203", name="占道经营", major_name="街面秩序类", sensitive=True)
    admin = f.staff("cases.manage_open311key")
    _, key = services.open311_key_issue(user=admin, name="市水务集团")
    return live_server.url + "/open311/v2", key


def test_services_and_definition_through_georeport(city):
    root, _ = city
    for fmt in ("json", "xml"):
        client = GeoReport(root, output_format=fmt)
        listed = client.get_service_list()
        assert [s["service_code"] for s in listed] == ["C0101", "E0203"]
        assert listed[0]["service_name"] == "井盖"
        assert str(listed[0]["metadata"]).lower() == "true"
        definition = client.get_service_definition("C0101")
        assert definition["service_code"] == "C0101"


def test_post_then_read_back_one_request(city):
    root, key = city
    response = requests.post(
        f"{root}/requests.json",
        data={
            "api_key": key,
            "service_code": "C0101",
            "lat": str(f.LAT),
            "long": str(f.LON),
            "description": "井盖破损",
            "attribute[urgency]": "urgent",
            "address_string": "东街口",
        },
        files={"media": ("a.jpg", f.jpeg(), "image/jpeg")},
        timeout=10,
    )
    assert response.status_code == 201
    number = response.json()[0]["service_request_id"]
    case = Case.objects.get(number=number)
    assert (case.channel, case.urgency, case.reporter_label) == ("api", "urgent", "open311:市水务集团")
    assert CasePhoto.objects.filter(case=case).count() == 1
    for fmt in ("json", "xml"):
        one = GeoReport(root, output_format=fmt).get_service_request(number)
        assert one["service_request_id"] == number
        assert one["status"] == "open"
        assert one["status_notes"] == "信息收集"
        assert one["requested_datetime"].endswith("+08:00")
    listed = GeoReport(root).get_service_requests(service_code="C0101", status="open")
    assert [r["service_request_id"] for r in listed] == [number]
    assert GeoReport(root).get_service_requests(status="closed") == []
    token = requests.get(f"{root}/tokens/{case.token}.json", timeout=10).json()
    assert token == [{"service_request_id": number, "token": case.token}]
    updates = requests.get(f"{root}/servicerequestupdates.json", timeout=10).json()
    assert [u["service_request_id"] for u in updates] == [number]


def test_sensitive_category_is_rounded_for_the_public(city):
    root, key = city
    requests.post(
        f"{root}/requests.json",
        timeout=10,
        data={"api_key": key, "service_code": "E0203", "lat": "26.086512", "long": "119.296549", "description": "占道"},
    )
    row = GeoReport(root).get_service_requests(service_code="E0203")[0]
    assert (row["lat"], row["long"]) == (26.087, 119.297)


def test_page_size_and_updated_after(city):
    root, _ = city
    for _ in range(3):
        services.case_report(
            channel="api", category_code="C0101", description="x", lon=f.LON, lat=f.LAT, system_label="t"
        )
    first = requests.get(f"{root}/requests.json", params={"page_size": 2}, timeout=10).json()
    second = requests.get(f"{root}/requests.json", params={"page_size": 2, "page": 2}, timeout=10).json()
    assert len(first) == 2
    assert len(second) == 1
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert requests.get(f"{root}/requests.json", params={"updated_after": later}, timeout=10).json() == []
    # The deepest page reaches the 10,000th request: deeper, the period must be narrowed instead.
    assert requests.get(f"{root}/requests.json", params={"page": 50, "page_size": 200}, timeout=10).json() == []
    deep = requests.get(f"{root}/requests.json", params={"page": 51, "page_size": 200}, timeout=10)
    assert deep.status_code == 400
    assert "start_date" in deep.json()[0]["description"]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"service_code": "C0101", "lat": "26.0865", "long": "119.2965", "description": "x"}, 403),
        ({"api_key": "o311_wrong", "service_code": "C0101", "lat": "26.0865", "long": "119.2965"}, 403),
        ({"api_key": "KEY", "lat": "26.0865", "long": "119.2965"}, 400),
        ({"api_key": "KEY", "service_code": "C0101", "address_string": "东街口", "description": "x"}, 400),
        ({"api_key": "KEY", "service_code": "C9999", "lat": "26.0865", "long": "119.2965", "description": "x"}, 400),
        ({"api_key": "KEY", "service_code": "C0101", "lat": "31.23", "long": "121.47", "description": "x"}, 400),
    ],
)
def test_bad_writes_are_refused_with_an_error_list_and_nothing_stored(city, data, status):
    root, key = city
    data = {k: key if v == "KEY" else v for k, v in data.items()}
    response = requests.post(f"{root}/requests.json", data=data, timeout=10)
    assert response.status_code == status
    body = response.json()
    assert body[0]["code"] == status
    assert body[0]["description"]
    assert Case.objects.count() == 0


def test_non_image_media_is_refused_in_xml(city):
    root, key = city
    response = requests.post(
        f"{root}/requests.xml",
        data={"api_key": key, "service_code": "C0101", "lat": str(f.LAT), "long": str(f.LON), "description": "x"},
        files={"media": ("a.jpg", b"%PDF-1.7", "image/jpeg")},
        timeout=10,
    )
    assert response.status_code == 400
    error = ET.fromstring(response.content).find("error")  # noqa: S314 - our own server's answer
    assert error is not None
    assert error.findtext("code") == "400"
    assert Case.objects.count() == 0


def test_revoked_key_is_refused(city):
    root, key = city
    admin = f.staff("cases.manage_open311key")
    services.open311_key_revoke(user=admin, key_id=services.open311_key_check(key).pk)
    response = requests.post(
        f"{root}/requests.json",
        timeout=10,
        data={"api_key": key, "service_code": "C0101", "lat": str(f.LAT), "long": str(f.LON), "description": "x"},
    )
    assert response.status_code == 403


def test_discovery_and_unknown_things(city):
    root, _ = city
    base = root.rsplit("/v2", 1)[0]
    discovery = requests.get(f"{base}/discovery.json", timeout=10).json()
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2/")
    assert requests.get(f"{root}/requests/nope.json", timeout=10).json() == [
        {"code": 404, "description": "No service request with this id."}
    ]
    assert requests.get(f"{root}/requests.json", params={"start_date": "yesterday"}, timeout=10).status_code == 400
    assert requests.get(f"{root}/services.csv", timeout=10).status_code == 404
