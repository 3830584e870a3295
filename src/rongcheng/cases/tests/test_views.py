"""The pages: who may open which (an authorization matrix, refusals audited), the report form's errors and its
duplicate suggestion, and a case walked from report to evaluation through the pages alone."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from rongcheng.audit.models import AuditRecord
from rongcheng.cases import services
from rongcheng.cases.models import Case, CaseSubscription, GridAssignment, Route
from rongcheng.cases.tests import factories as f

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "resident", "centre", "unit", "worker", "operator", "statistics", "keys")
# page → the roles that get 200 (anonymous elsewhere is sent to sign in; signed-in others get 403)
MATRIX = {
    "cases:centre": {"centre"},
    "cases:unit": {"unit"},
    "cases:grid": {"worker"},
    "cases:grid-report": {"worker"},
    "cases:hotline": {"operator"},
    "cases:statistics": {"statistics"},
    "cases:statistics-csv": {"statistics"},
    "cases:statistics-xlsx": {"statistics"},
    "cases:keys": {"keys"},
    "cases:routes": {"centre"},
    "cases:grid-workers": {"centre"},
}


def _users():
    return {
        "resident": f.resident(),
        "centre": f.centre(),
        "unit": f.unit_officer(),
        "worker": f.grid_worker(),
        "operator": f.operator(),
        "statistics": f.staff("cases.view_statistics"),
        "keys": f.staff("cases.manage_open311key"),
    }


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("page", sorted(MATRIX))
def test_staff_pages_authorization_matrix(page):
    f.world()
    users = _users()
    for role in ROLES:
        response = _client(users.get(role)).get(reverse(page))
        if role == "anonymous":
            assert response.status_code == 302, (page, role)
        elif role in MATRIX[page]:
            assert response.status_code == 200, (page, role)
        else:
            assert response.status_code == 403, (page, role)
    refused = AuditRecord.objects.filter(outcome="denied").count()
    assert refused == len(ROLES) - 1 - len(MATRIX[page])


def test_case_page_for_its_reporter_and_the_staff_concerned_only():
    f.world()
    users = _users()
    case = f.reported(users["resident"])
    url = reverse("cases:detail", args=[case.number])
    expected = {
        "resident": 200,
        "centre": 200,
        "unit": 403,
        "worker": 200,
        "operator": 200,
        "statistics": 200,
        "keys": 403,
    }
    for role, status in expected.items():
        assert _client(users[role]).get(url).status_code == status, role
    assert _client(f.resident()).get(url).status_code == 403
    assert _client().get(url).status_code == 302
    photo = case.photos.get()
    photo_url = reverse("cases:photo", args=[case.number, photo.pk])
    assert _client(users["resident"]).get(photo_url)["Content-Type"] == "image/jpeg"
    assert _client(f.resident()).get(photo_url).status_code == 403


def test_report_page_refuses_bad_input_in_chinese_and_stores_nothing():
    f.world()
    client = _client(f.resident())
    page = client.get(reverse("cases:report"))
    assert "我要上报城市管理问题" in page.content.decode()
    response = client.post(
        reverse("cases:report"),
        {
            "category": "C0101",
            "description": "井盖缺失",
            "lon": "121.47",
            "lat": "31.23",
            "photos": SimpleUploadedFile("a.jpg", f.jpeg(), "image/jpeg"),
        },
    )
    assert response.status_code == 400
    assert "这个位置不在本市网格范围内" in response.content.decode()
    response = client.post(
        reverse("cases:report"),
        {
            "category": "C0101",
            "description": "井盖缺失",
            "lon": str(f.LON),
            "lat": str(f.LAT),
            "photos": SimpleUploadedFile("a.jpg", b"not an image", "image/jpeg"),
        },
    )
    assert response.status_code == 400
    assert "照片必须是" in response.content.decode()
    assert Case.objects.count() == 0


def test_report_suggests_the_open_case_nearby_and_joins_it():
    f.world()
    first = f.reported(f.resident())
    resident = f.resident()
    client = _client(resident)
    data = {"category": "C0101", "description": "井盖又没了", "lon": str(f.LON + 0.0001), "lat": str(f.LAT)}
    response = client.post(reverse("cases:report"), data)
    assert response.status_code == 200
    assert first.number in response.content.decode()
    assert Case.objects.count() == 1
    client.post(reverse("cases:join", args=[first.number]))
    assert CaseSubscription.objects.filter(case=first, user=resident).exists()
    response = client.post(reverse("cases:report"), {**data, "confirm": "1"})
    assert response.status_code == 302
    assert Case.objects.count() == 2


def test_journey_through_the_pages():
    f.world()
    users = _users()
    resident = _client(users["resident"])
    response = resident.post(
        reverse("cases:report"),
        {
            "category": "C0101",
            "description": "井盖缺失，有人差点摔倒",
            "lon": str(f.LON),
            "lat": str(f.LAT),
            "address": "东街口",
            "photos": SimpleUploadedFile("a.jpg", f.jpeg(), "image/jpeg"),
        },
    )
    case = Case.objects.get()
    assert response["Location"] == reverse("cases:detail", args=[case.number])
    act = reverse("cases:transition", args=[case.number])
    centre = _client(users["centre"])
    assert case.number in centre.get(reverse("cases:centre")).content.decode()
    centre.post(act, {"transition": "register"})
    centre.post(act, {"transition": "dispatch"})
    unit = _client(users["unit"])
    assert case.number in unit.get(reverse("cases:unit")).content.decode()
    unit.post(act, {"transition": "start"})
    unit.post(act, {"transition": "report_back", "photos": SimpleUploadedFile("b.jpg", f.jpeg(), "image/jpeg")})
    worker = _client(users["worker"])
    assert case.number in worker.get(reverse("cases:grid")).content.decode()
    worker.post(act, {"transition": "verify_pass"})
    centre.post(act, {"transition": "close"})
    page = resident.get(reverse("cases:mine")).content.decode()
    assert "已结案" in page
    resident.post(act, {"transition": "rate", "rating": "5", "reason": "谢谢"})
    case.refresh_from_db()
    assert (case.state, case.rating) == ("evaluated", 5)
    detail = resident.get(reverse("cases:detail", args=[case.number])).content.decode()
    for step in ("立案", "派遣", "接收处置", "处置反馈", "核查通过", "结案", "评价"):
        assert step in detail


def test_a_refused_step_on_the_page_is_a_message_and_changes_nothing():
    f.world()
    resident = f.resident()
    case = f.reported(resident)
    client = _client(resident)
    response = client.post(reverse("cases:transition", args=[case.number]), {"transition": "register"}, follow=True)
    assert "您的账户不能执行这个操作。" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "collected"


def test_bulletin_and_csv():
    f.world()
    user = f.staff("cases.view_statistics")
    centre, unit, worker = f.centre(), f.unit_officer(), f.grid_worker()
    case = f.walk(
        f.reported(f.resident()),
        (centre, "register"),
        (centre, "dispatch"),
        (unit, "start"),
        (unit, "report_back"),
        (worker, "verify_pass"),
        (centre, "close"),
        report_back={"photos": [f.jpeg()]},
    )
    f.reported(f.resident())
    assert case.state == "closed"
    client = _client(user)
    page = client.get(reverse("cases:statistics"), {"group": "street"}).content.decode()
    assert "东街街道" in page
    csv_text = client.get(reverse("cases:statistics-csv"), {"group": "unit"}).content.decode("utf-8-sig")
    lines = list(io.StringIO(csv_text))
    assert lines[1].split(",")[:11] == [
        "福州市市政工程中心",
        "1",
        "1",
        "0",
        "1",
        "0",
        "1",
        "1",
        "0",
        "100.00%",
        "100.00%",
    ]


def test_keys_page_shows_a_new_key_once():
    admin = f.staff("cases.manage_open311key")
    client = _client(admin)
    page = client.post(reverse("cases:keys"), {"name": "市水务集团"}).content.decode()
    key = page.split("<code>o311_", 1)[1].split("</code>", 1)[0]
    assert services.open311_key_check("o311_" + key).name == "市水务集团"
    assert "o311_" + key not in client.get(reverse("cases:keys")).content.decode()


def test_pages_in_english():
    f.world()
    resident = f.resident()
    client = _client(resident)
    client.post(reverse("set_language"), {"language": "en"})
    page = client.get(reverse("cases:report")).content.decode()
    assert "Report a city problem" in page
    assert "我要上报城市管理问题" not in page
    case = f.reported(resident)
    page = client.get(reverse("cases:detail", args=[case.number])).content.decode()
    assert "Reported" in page
    assert "信息收集" not in page


def test_cases_layer_shows_public_fields_only():
    f.world()
    f.category("E0502", name="流浪乞讨", major_name="街面秩序类", sensitive=True)
    f.reported(f.resident(), description="门口有人", lon=119.296549, lat=26.086512)
    sensitive = f.reported(f.resident(), category_code="E0502", description="桥下", lon=119.296549, lat=26.086512)
    client = _client()
    assert client.get(reverse("cases:map")).status_code == 200
    body = client.get("/ogc/collections/cases/items", {"f": "json"}).json()
    features = {x["id"]: x for x in body["features"]}
    assert len(features) == 2
    assert features[sensitive.number]["geometry"]["coordinates"] == [119.297, 26.087]
    text = str(body)
    for private in ("门口有人", "桥下", "reporter", "测试"):
        assert private not in text
    only = client.get("/ogc/collections/cases/items", {"f": "json", "category": "E0502"}).json()
    assert [x["id"] for x in only["features"]] == [sensitive.number]


def test_a_box_finds_a_sensitive_case_where_it_is_shown_never_where_it_is():
    """Shrinking a box around a sensitive case's true point must not find it (that would place it more precisely than
    the ~100 m it is shown at); a box around the shown point does."""
    f.world()
    f.category("E0502", name="流浪乞讨", major_name="街面秩序类", sensitive=True)
    plain = f.reported(f.resident(), description="门口有人", lon=119.296549, lat=26.086512)
    sensitive = f.reported(f.resident(), category_code="E0502", description="桥下", lon=119.296549, lat=26.086512)
    client = _client()

    def found(box: tuple[float, float, float, float]) -> set[str]:
        body = client.get("/ogc/collections/cases/items", {"f": "json", "bbox": ",".join(map(str, box))}).json()
        return {x["id"] for x in body["features"]}

    around_true = (119.29654, 26.08651, 119.29656, 26.08652)
    around_shown = (119.29699, 26.08699, 119.29701, 26.08701)
    assert found(around_true) == {plain.number}
    assert found(around_shown) == {sensitive.number}
    assert found((119.29, 26.08, 119.30, 26.09)) == {plain.number, sensitive.number}


def test_the_chief_keeps_the_routing_table_on_its_page_and_dispatch_follows_it():
    f.world()
    chief = f.staff("cases.manage_routing", "cases.register_case", "cases.dispatch_case")
    f.department("FZ-GL-CG", "鼓楼区城市管理局")
    client = _client(chief)
    response = client.post(reverse("cases:routes"), {"category": "C0101", "place": "350102999", "unit": "FZ-GL-CG"})
    assert "没有这个编码的网格、街道或区县。" in response.content.decode()
    assert not Route.objects.exists()
    response = client.post(
        reverse("cases:routes"), {"category": "C0101", "place": f.CELL, "unit": "FZ-GL-CG", "role": "main"}
    )
    assert response.status_code == 302
    page = client.get(reverse("cases:routes")).content.decode()
    assert "第一社区 01网格" in page
    assert "鼓楼区城市管理局" in page
    case = f.walk(f.reported(f.resident()), (chief, "register"), (chief, "dispatch"))
    assert Case.objects.values_list("unit__code", flat=True).get(pk=case.pk) == "FZ-GL-CG"
    # The centre reads the table without the form; a unit's officer may not change it.
    centre_page = _client(f.centre()).get(reverse("cases:routes")).content.decode()
    assert "鼓楼区城市管理局" in centre_page
    assert "保存规则" not in centre_page
    route = Route.objects.get()
    refused = _client(f.unit_officer()).post(reverse("cases:routes"), {"delete": str(route.pk)})
    assert refused.status_code == 403
    assert client.post(reverse("cases:routes"), {"delete": str(route.pk)}).status_code == 200
    assert not Route.objects.exists()


def test_the_chief_assigns_grid_workers_to_cells_on_their_page_and_takes_them_off():
    f.world()
    chief = f.staff("cases.manage_routing")
    worker = f.staff("cases.verify_case", username="wangwu")
    client = _client(chief)
    url = reverse("cases:grid-workers")
    refused = client.post(url, {"worker": "wangwu", "cell": "35010299999999", "theme": "city_management"})
    assert "没有这个编码的网格。" in refused.content.decode()
    refused = client.post(url, {"worker": chief.username, "cell": f.CELL, "theme": "city_management"})
    assert "这个账号不是网格员（需要核查案卷的权限）。" in refused.content.decode()
    assert not GridAssignment.objects.filter(worker=worker).exists()
    response = client.post(url, {"worker": "wangwu", "cell": f.CELL, "theme": "environment"})
    assert response.status_code == 302
    [row] = GridAssignment.objects.filter(worker=worker)
    assert (row.cell_code, row.theme) == (f.CELL, "environment")
    page = client.get(url).content.decode()
    assert "东街街道 第一社区 01网格" in page
    assert "环保" in page
    # The centre reads it without the form; a grid worker may not change it.
    centre_page = _client(f.centre()).get(url).content.decode()
    assert "wangwu" in centre_page
    assert "取消负责" not in centre_page
    assert _client(worker).post(url, {"remove": str(row.pk)}).status_code == 403
    assert client.post(url, {"remove": str(row.pk)}).status_code == 302
    assert not GridAssignment.objects.filter(worker=worker).exists()
    assert AuditRecord.objects.filter(action="cases.grid.unassign", outcome="success").count() == 1


def _hot(page: str) -> Any:
    found = re.search(r'<script id="rc-hot-spots" type="application/json">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))


def test_the_map_shows_the_months_hot_spots_of_a_category_to_those_who_read_the_statistics():
    f.world()
    f.category("E0102", name="暴露垃圾")
    resident = f.resident()
    for _ in range(2):
        f.reported(resident, category_code="E0102", lon=119.305)  # 南街街道
    f.reported(resident)  # 东街街道, C0101
    reader = _client(f.staff("cases.view_statistics"))
    page = reader.get(reverse("cases:map") + "?category=E0102").content.decode()
    assert _hot(page) == {"streets": {"350102002": 2}, "label": "件"}
    assert "<td>南街街道</td><td>暴露垃圾</td><td>2</td>" in page
    assert "东街街道" not in page
    assert page.count('id="hot-spots"') == 1  # the section once, in the page, never inside the <title>
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None
    assert "<" not in title.group(1)
    assert "城市管理问题地图" in title.group(1)
    every = reader.get(reverse("cases:map") + "?category=nonsense").content.decode()
    assert _hot(every)["streets"] == {"350102002": 2, "350102001": 1}
    public = _client().get(reverse("cases:map")).content.decode()
    assert "rc-hot-spots" not in public
    assert "热点" not in public


def _bulletin_world() -> None:
    """Cases in two cells, streets and units, at several stages: closed on time, open past its deadline, postponed,
    extended, rejected, merged, only reported (no unit), under the simple procedure; two categories."""
    from django.utils import timezone

    f.world()
    f.category("E0102", name="暴露垃圾", default_unit=f.department("FZ-HW", "福州市环卫中心"))
    resident, centre, worker = f.resident(), f.centre(), f.grid_worker()
    unit, sanitation = f.unit_officer(), f.unit_officer("FZ-HW", "福州市环卫中心")
    east, south = {"lon": f.LON, "lat": f.LAT}, {"lon": 119.305, "lat": 26.085}

    def dispatched(officer, **place):
        return f.walk(f.reported(resident, **place), (centre, "register"), (centre, "dispatch"), (officer, "start"))

    f.walk(dispatched(unit, **east), (unit, "report_back"), (worker, "verify_pass"), (centre, "close"),
           report_back={"photos": [f.jpeg()]})  # fmt: skip
    late = dispatched(sanitation, category_code="E0102", **south)
    Case.objects.filter(pk=late.pk).update(deadline=timezone.now() - dt.timedelta(hours=1))
    postponed = dispatched(unit, **south)
    services.clock_request_submit(user=unit, number=postponed.number, kind="postponement", reason="施工")
    services.case_transition(user=centre, number=postponed.number, name="postpone")
    extended = dispatched(sanitation, category_code="E0102", **east)
    services.clock_request_submit(user=sanitation, number=extended.number, kind="extension", days=3, reason="采购")
    services.case_transition(user=centre, number=extended.number, name="extend")
    services.case_transition(user=centre, number=f.reported(resident, **south).number, name="reject", reason="不属于")
    merged = f.reported(resident, **east)
    services.case_transition(user=centre, number=merged.number, name="merge", merge_into=postponed.number)
    f.reported(resident, category_code="E0102", **east)
    f.reported(worker, channel="grid_worker", simple_procedure=True)


def _table_rows(page: str, table: int) -> list[list[str]]:
    import html

    body = page.split("<tbody>")[table].split("</tbody>", 1)[0]
    return [[html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body)]  # fmt: skip


def test_the_bulletin_shows_exactly_the_recounted_figures_for_every_grouping():
    """The bulletin page and its CSV, per unit, cell, street and district, show the rates of a full recount of the
    cases (worked out here in Decimal, rounded half up), row for row and in order, and the month's hot spots."""
    from decimal import ROUND_HALF_UP, Decimal

    from django.utils import timezone

    from rongcheng.cases.statistics import GROUPS, hot_spots_recount, indicators_recount, month_bounds

    def rate(num: int, den: int) -> Decimal | None:
        return None if den <= 0 else (Decimal(num) / Decimal(den)).quantize(Decimal("0.0001"), ROUND_HALF_UP)

    def shown(value: Decimal | None) -> str:
        return "—" if value is None else f"{value * 100:.2f}%"

    _bulletin_world()
    client = _client(f.staff("cases.view_statistics"))
    month = timezone.localdate().strftime("%Y-%m")
    start, end = month_bounds(month)
    seen: set[str] = set()
    for group in GROUPS:
        expected_page, expected_csv = [], []
        for r in indicators_recount(group=group, start=start, end=end, now=timezone.now()):
            rates = (
                rate(r.registered, r.reported),
                rate(r.closed, r.due - r.postponed),
                rate(r.on_time, r.closed + r.overdue_open),
                rate(r.reworked, r.due),
                rate(r.extended, r.due),
            )
            composite = None
            c, t, w, e = rates[1:]
            if c is not None and t is not None and w is not None and e is not None:
                composite = (100 * (Decimal("0.2") * c + Decimal("0.4") * t + Decimal("0.2") * (1 - w)
                                    + Decimal("0.2") * (1 - e))).quantize(Decimal("0.01"), ROUND_HALF_UP)  # fmt: skip
            counts = [r.reported, r.registered, r.simple, r.due, r.postponed, r.closed, r.on_time, r.overdue_open]
            expected_page.append([r.name, str(r.reported), *(shown(v) for v in rates), str(r.simple),
                                  "—" if composite is None else str(composite)])  # fmt: skip
            expected_csv.append([r.name, *map(str, counts), *(shown(v) for v in rates),
                                 "" if composite is None else str(composite)])  # fmt: skip
            seen.update(shown(v) for v in rates)
        page = client.get(reverse("cases:statistics"), {"group": group, "month": month}).content.decode()
        assert _table_rows(page, 1) == expected_page, group
        text = client.get(reverse("cases:statistics-csv"), {"group": group, "month": month}).content.decode("utf-8-sig")
        assert list(csv.reader(io.StringIO(text)))[1:] == expected_csv, group
        spots = hot_spots_recount(start=start, end=end)
        assert _table_rows(page, 2) == [[h.street_name, h.category_name, str(h.reported)] for h in spots]
    assert {"—", "0.00%", "100.00%"} <= seen  # the world reaches empty, partial and whole rates
    assert len(seen) > 5
