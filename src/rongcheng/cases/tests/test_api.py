"""The API over the same services: report, follow, steps, queues, statistics and keys; who may call what."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder

from rongcheng.audit.models import AuditRecord
from rongcheng.cases.api import CaseOut
from rongcheng.cases.models import Case, GridAssignment, Route
from rongcheng.cases.tests import factories as f

pytestmark = pytest.mark.django_db
API = "/api/v1/cases"


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _report(client: Client, **fields):
    body = {
        "category": "C0101",
        "description": "井盖缺失",
        "lon": f.LON,
        "lat": f.LAT,
        "photos": [base64.b64encode(f.jpeg()).decode()],
        **fields,
    }
    return client.post(f"{API}/reports", body, content_type="application/json")


def test_categories_are_public():
    f.world()
    body = _client().get(f"{API}/categories").json()
    assert [(c["code"], c["name"], c["urgent_unit"]) for c in body] == [("C0101", "井盖", "hours")]


def test_report_and_walk_through_the_api():
    f.world()
    resident, centre, unit, worker = f.resident(), f.centre(), f.unit_officer(), f.grid_worker()
    response = _report(_client(resident))
    assert response.status_code == 201
    number = response.json()["number"]
    assert response.json()["place_name"] == "鼓楼区 东街街道 第一社区 01网格"

    def step(user, name, **extra):
        return _client(user).post(
            f"{API}/cases/{number}/transitions", {"name": name, **extra}, content_type="application/json"
        )

    assert [c["number"] for c in _client(centre).get(f"{API}/queues/register").json()] == [number]
    assert step(centre, "register").status_code == 200
    assert step(centre, "dispatch", units=["FZ-SZ"]).json()["unit"] == "FZ-SZ"
    queued = _client(unit).get(f"{API}/unit-queue")
    assert [c["number"] for c in queued.json()] == [number]
    # The queues are written directly: exactly what the declared schema gives for the case.
    declared = CaseOut.from_orm(Case.objects.select_related("category", "unit").get(number=number)).model_dump()
    assert queued.content.decode() == json.dumps([declared], cls=NinjaJSONEncoder)
    assert (queued.json()[0]["unit"], queued.json()[0]["category"]) == ("FZ-SZ", "C0101")
    assert step(unit, "start").json()["state"] == "handling"
    assert step(unit, "report_back").status_code == 409  # no photo of the result yet
    assert step(unit, "report_back", photos=[base64.b64encode(f.jpeg()).decode()]).json()["state"] == "reported_back"
    assert [c["number"] for c in _client(worker).get(f"{API}/verify-queue").json()] == [number]
    step(worker, "verify_pass")
    step(centre, "close")
    body = step(resident, "rate", rating=4).json()
    assert (body["state"], body["rating"]) == ("evaluated", 4)
    assert [e["transition"] for e in body["timeline"]] == [
        "report",
        "register",
        "dispatch",
        "start",
        "report_back",
        "verify_pass",
        "close",
        "rate",
    ]
    assert step(resident, "rate", rating=4).status_code == 409


def test_bad_reports_are_problem_documents_and_store_nothing():
    f.world()
    client = _client(f.resident())
    assert _report(client, lon=121.47, lat=31.23).json()["type"].endswith("/cases-outside-city")
    assert _report(client, category="C9999").status_code == 422
    assert _report(client, photos=["not base64!"]).status_code == 422
    assert _report(client, photos=[base64.b64encode(b"GIF89a").decode()]).status_code == 422
    assert Case.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "method", "allowed"),
    [
        ("/queues/register", "get", "centre"),
        ("/unit-queue", "get", "unit"),
        ("/verify-queue", "get", "worker"),
        ("/statistics?month=2026-12", "get", "statistics"),
        ("/hot-spots?month=2026-12", "get", "statistics"),
        ("/grid-assignments", "get", "centre"),
        ("/open311-keys", "post", "keys"),
    ],
)
def test_api_authorization_matrix(path, method, allowed):
    f.world()
    users = {
        "resident": f.resident(),
        "centre": f.centre(),
        "unit": f.unit_officer(),
        "worker": f.grid_worker(),
        "statistics": f.staff("cases.view_statistics"),
        "keys": f.staff("cases.manage_open311key"),
    }

    def call(client: Client):
        if method == "get":
            return client.get(API + path)
        return client.post(API + path, {"name": "x"}, content_type="application/json")

    anonymous = call(_client())
    assert anonymous.status_code == 401
    for role, user in users.items():
        response = call(_client(user))
        expected = (200, 201) if role == allowed else (403,)
        assert response.status_code in expected, (role, response.status_code)
    assert AuditRecord.objects.filter(outcome="denied").count() >= len(users) - 1


def test_a_case_is_visible_to_its_reporter_only():
    f.world()
    resident = f.resident()
    number = _report(_client(resident)).json()["number"]
    assert _client(resident).get(f"{API}/cases/{number}").status_code == 200
    assert _client(f.resident()).get(f"{API}/cases/{number}").status_code == 403
    assert _client().get(f"{API}/cases/{number}").status_code == 401


def test_staff_routes_report_and_step():
    f.world()
    operator, centre = f.operator(), f.centre()
    body = {
        "channel": "hotline",
        "hotline_kind": "help",
        "caller_phone": "13912345678",
        "category": "C0101",
        "description": "来电：井盖缺失",
        "lon": f.LON,
        "lat": f.LAT,
    }
    response = _client(operator).post(f"{API}/work-reports", body, content_type="application/json")
    assert response.status_code == 201
    number = response.json()["number"]
    assert Case.objects.get(number=number).caller_phone_masked == "139****5678"
    step = _client(centre).post(
        f"{API}/work/{number}/transitions", {"name": "register"}, content_type="application/json"
    )
    assert step.json()["state"] == "registered"
    assert (
        _client(f.resident())
        .post(f"{API}/work/{number}/transitions", {"name": "dispatch"}, content_type="application/json")
        .status_code
        == 403
    )
    assert _client(centre).get(f"{API}/work/{number}").json()["timeline"][-1]["transition"] == "register"


def test_clock_requests_and_key_revocation_by_role():
    f.world()
    centre, unit, other = f.centre(), f.unit_officer(), f.unit_officer("FZ-YL", "福州市园林中心")
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"), (unit, "start"))
    body = {"kind": "extension", "days": 2, "reason": "采购配件"}
    url = f"{API}/cases/{case.number}/requests"
    assert _client().post(url, body, content_type="application/json").status_code == 401
    assert _client(f.resident()).post(url, body, content_type="application/json").status_code == 403
    assert _client(other).post(url, body, content_type="application/json").status_code == 403
    assert _client(unit).post(url, body, content_type="application/json").status_code == 201
    admin = f.staff("cases.manage_open311key")
    key_id = _client(admin).post(f"{API}/open311-keys", {"name": "x"}, content_type="application/json").json()["id"]
    assert _client(centre).delete(f"{API}/open311-keys/{key_id}").status_code == 403
    assert _client(admin).delete(f"{API}/open311-keys/{key_id}").json()["revoked_at"] is not None


def test_routing_table_read_by_the_centre_and_kept_by_the_chief():
    f.world()
    chief, centre, unit = f.staff("cases.manage_routing"), f.centre(), f.unit_officer()
    f.department("FZ-GL-CG", "鼓楼区城市管理局")
    body = {"category": "C0101", "unit": "FZ-GL-CG", "role": "main", "street_code": "350102001"}
    assert _client(centre).post(f"{API}/routes", body, content_type="application/json").status_code == 403
    created = _client(chief).post(f"{API}/routes", body, content_type="application/json")
    assert created.status_code == 201
    route = created.json()
    assert {k: route[k] for k in ("category", "unit", "street_code", "cell_code", "role")} == {
        "category": "C0101", "unit": "FZ-GL-CG", "street_code": "350102001", "cell_code": "", "role": "main",
    }  # fmt: skip
    assert [r["id"] for r in _client(centre).get(f"{API}/routes").json()] == [route["id"]]
    assert _client(unit).get(f"{API}/routes").status_code == 403
    # A place not on the grid, both a cell and a street, an unknown unit, an oversized code: refused, nothing stored.
    for bad, rule in (
        ({"street_code": "350199999"}, "place.unknown"),
        ({"cell_code": f.CELL, "street_code": "350102001"}, "place.one"),
        ({"unit": "FZ-NONE"}, "unit.unknown"),
    ):
        response = _client(chief).post(f"{API}/routes", {**body, **bad}, content_type="application/json")
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["rule"] == rule
    response = _client(chief).post(f"{API}/routes", {**body, "cell_code": "9" * 21}, content_type="application/json")
    assert response.status_code == 422
    assert Route.objects.count() == 1
    assert _client(centre).delete(f"{API}/routes/{route['id']}").status_code == 403
    assert _client(chief).delete(f"{API}/routes/{route['id']}").status_code == 204
    assert _client(chief).delete(f"{API}/routes/{route['id']}").status_code == 404
    assert Route.objects.count() == 0


def test_the_chief_assigns_grid_workers_to_cells_of_the_one_grid():
    f.world()
    chief, centre = f.staff("cases.manage_routing"), f.centre()
    worker = f.grid_worker(cell=f.CELL2, username="wang")
    body = {"worker": "wang", "cell_code": f.CELL, "theme": "environment"}
    assert _client(centre).post(f"{API}/grid-assignments", body, content_type="application/json").status_code == 403
    response = _client(chief).post(f"{API}/grid-assignments", body, content_type="application/json")
    assert response.status_code == 201
    assert {k: v for k, v in response.json().items() if k != "id"} == body
    for bad, rule in (
        ({"cell_code": "35010299999999"}, "place.unknown"),
        ({"worker": "nobody"}, "worker.role"),
        ({"worker": centre.username}, "worker.role"),
        ({"theme": "weather"}, "theme.choice"),
    ):
        refused = _client(chief).post(f"{API}/grid-assignments", {**body, **bad}, content_type="application/json")
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["rule"] == rule
    assert sorted(GridAssignment.objects.filter(worker=worker).values_list("cell_code", "theme")) == [
        (f.CELL, "environment"),
        (f.CELL2, "city_management"),
    ]
    assert GridAssignment.objects.count() == 2
    listed = _client(centre).get(f"{API}/grid-assignments").json()
    assert sorted((r["worker"], r["cell_code"], r["theme"]) for r in listed) == [
        ("wang", f.CELL, "environment"),
        ("wang", f.CELL2, "city_management"),
    ]
    taken = response.json()["id"]
    assert _client(centre).delete(f"{API}/grid-assignments/{taken}").status_code == 403
    assert _client(chief).delete(f"{API}/grid-assignments/{taken}").status_code == 204
    assert _client(chief).delete(f"{API}/grid-assignments/{taken}").status_code == 404
    assert list(GridAssignment.objects.filter(worker=worker).values_list("cell_code", flat=True)) == [f.CELL2]


def test_hot_spots_of_one_category_most_reported_first():
    f.world()
    f.category("E0102", name="暴露垃圾")
    resident = f.resident()
    for _ in range(2):
        f.reported(resident, category_code="E0102", lon=119.305)  # 南街街道
    f.reported(resident, category_code="E0102")  # 东街街道
    f.reported(resident)  # 东街街道, C0101
    month = timezone.localdate().strftime("%Y-%m")
    client = _client(f.staff("cases.view_statistics"))
    response = client.get(f"{API}/hot-spots?month={month}&category=E0102")
    assert response.status_code == 200
    assert [(h["street_name"], h["category"], h["reported"]) for h in response.json()] == [
        ("南街街道", "E0102", 2),
        ("东街街道", "E0102", 1),
    ]
    assert len(client.get(f"{API}/hot-spots?month={month}").json()) == 3
    assert client.get(f"{API}/hot-spots?month={month}&category=E9999").json() == []
    assert client.get(f"{API}/hot-spots?month=2026-13").status_code == 422
