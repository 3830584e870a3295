"""/api/v1/spatial/ and the geocoding page /spatial/geocode/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.models import AuditRecord
from rongcheng.registries.models import Address

pytestmark = pytest.mark.django_db
A1 = "福州市鼓楼区鼓东街道鼓东社区杨桥路101号"


@pytest.fixture
def city(small_city):
    return Address.objects.create(text=A1, division_code="350102", longitude=119.225, latitude=26.025)


def _staff(username: str, *, batch: bool) -> User:
    department, _ = Department.objects.get_or_create(code="FZ-SZB", defaults={"name": "市数字办"})
    user = User.objects.create_user(username=username, password="Rc-test-2017!", kind=AccountKind.STAFF,
                                    is_staff=True, department=department)  # fmt: skip
    if batch:
        user.user_permissions.add(Permission.objects.get(codename="geocode_batch"))
    return User.objects.get(pk=user.pk)


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_locate_geocode_and_reverse_are_public(client, city):
    assert client.get("/api/v1/spatial/locate", {"lon": 119.26, "lat": 26.07}).json() == {
        "cell_code": "35010200200102", "cell_name": "第2网格", "community_code": "350102002001",
        "community_name": "鼓西社区", "street_code": "350102002", "street_name": "鼓西街道",
        "district_code": "350102", "district_name": "鼓楼区",
    }  # fmt: skip
    found = client.get("/api/v1/spatial/geocode", {"address": A1}).json()
    assert (found["address_id"], found["score"], found["cell_code"], found["level"]) == (
        city.pk, 1.0, "35010200100101", "address",
    )  # fmt: skip
    reverse = client.get("/api/v1/spatial/reverse", {"lon": 119.2251, "lat": 26.025}).json()
    assert (reverse["address_text"], reverse["location"]["cell_code"]) == (A1, "35010200100101")


def test_bad_points_and_unknown_addresses_are_problem_documents(client, city):
    outside = client.get("/api/v1/spatial/locate", {"lon": 100, "lat": 20})
    assert outside.status_code == 422
    assert outside["Content-Type"] == "application/problem+json"
    assert outside.json()["type"].endswith("/spatial-outside-city")
    assert outside.json()["errors"][0]["rule"] == "spatial.outside_city"
    assert client.get("/api/v1/spatial/locate", {"lon": "abc", "lat": 20}).status_code == 422
    assert client.get("/api/v1/spatial/locate", {"lon": "nan", "lat": "nan"}).status_code == 422
    assert client.get("/api/v1/spatial/reverse", {"lon": 500, "lat": 20}).status_code == 422
    unknown = client.get("/api/v1/spatial/geocode", {"address": "火星基地1号"})
    assert unknown.status_code == 404


def test_batch_geocoding_needs_the_permission(city):
    refused = _signed_in(_staff("plain", batch=False)).post(
        "/api/v1/spatial/geocode/batch", {"addresses": [A1]}, content_type="application/json"
    )
    assert refused.status_code == 403
    allowed = _signed_in(_staff("gis", batch=True)).post(
        "/api/v1/spatial/geocode/batch", {"addresses": [A1, "火星基地1号"]}, content_type="application/json"
    )
    assert allowed.status_code == 200
    body = allowed.json()
    assert (body["rows"], body["matched"]) == (2, 1)
    assert body["results"][0]["address_id"] == city.pk
    assert body["results"][1] is None


def test_the_geocoding_page_finds_one_address_and_geocodes_a_file(city):
    client = _signed_in(_staff("gis", batch=True))
    page = client.post("/spatial/geocode/", {"action": "single", "address": "鼓楼区鼓东街道杨桥路101号"})
    assert page.status_code == 200
    html = page.content.decode()
    assert A1 in html
    assert "35010200100101" in html
    assert "90%" in html
    before = AuditRecord.objects.filter(action="spatial.geocode.batch").count()
    upload = SimpleUploadedFile("a.csv", f"地址\n{A1}\n".encode(), content_type="text/csv")
    response = client.post("/spatial/geocode/", {"action": "batch", "file": upload})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode("utf-8-sig").splitlines()[1].startswith(f"{A1},119.225000,26.025000,1.00,address")
    assert AuditRecord.objects.filter(action="spatial.geocode.batch").count() == before + 1
    bad = client.post("/spatial/geocode/", {"action": "batch", "file": SimpleUploadedFile("a.csv", b"name\nx\n")})
    assert "表头中没有名为“地址”或 address 的列。" in bad.content.decode()


def test_the_batch_form_is_refused_without_the_permission(city):
    client = _signed_in(_staff("plain", batch=False))
    assert "批量地址编码" not in client.get("/spatial/geocode/").content.decode()
    upload = SimpleUploadedFile("a.csv", f"地址\n{A1}\n".encode(), content_type="text/csv")
    assert client.post("/spatial/geocode/", {"action": "batch", "file": upload}).status_code == 403


def test_the_import_page_lists_each_bad_feature_and_imports_a_good_file(small_city):
    from rongcheng.spatial.models import PointOfInterest

    assert _signed_in(_staff("plain", batch=False)).get("/spatial/import/").status_code == 403
    user = _staff("gis", batch=False)
    user.user_permissions.add(Permission.objects.get(codename="add_pointofinterest"))
    client = _signed_in(User.objects.get(pk=user.pk))
    bad = SimpleUploadedFile("p.csv", "kind,name,lon,lat\nschool,远方学校,100,20\n".encode())
    page = client.post("/spatial/import/", {"file": bad, "file_format": "csv", "crs": "wgs84"})
    html = page.content.decode()
    assert "文件有错误，没有导入任何兴趣点。" in html
    assert "位置不在本市的单元网格内。" in html
    assert not PointOfInterest.objects.exists()
    good = SimpleUploadedFile("p.csv", "kind,name,lon,lat\nschool,鼓东小学,119.21,26.01\n".encode())
    done = client.post("/spatial/import/", {"file": good, "file_format": "csv", "crs": "wgs84"}, follow=True)
    text = done.content.decode()
    assert "已导入 1 个兴趣点：新增 1 个，变更 0 个，未变 0 个。变更前的状态已保留为历史版本。" in text
    assert PointOfInterest.objects.get().cell_code == "35010200100101"
    assert "<td>csv</td><td>1</td><td>1</td><td>0</td><td>0</td>" in text  # the import listed among the latest
