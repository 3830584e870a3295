"""City cases and public credit as catalogue sources (their personal data masked or left out), the update cycle's
due dates (flagged on the pages and in the API, counted), and the statistics page per department."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.selectors import audit_verify
from rongcheng.audit.services import Actor, audit_record_many, audit_seal_all
from rongcheng.cases.tests import factories as cf
from rongcheng.catalogue import selectors, services
from rongcheng.catalogue.errors import DatasetInvalid
from rongcheng.catalogue.tests import factories as f
from rongcheng.catalogue.tests.test_exchange_api import _system
from rongcheng.credit import services as credit_services
from rongcheng.credit.tests import factories as credit_f
from rongcheng.hall.selectors import city_today

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # case photos
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _backed(provider, backing: str, **overrides):
    items = [{"name": c.name, "type": c.type, "description": c.description, "personal": c.personal}
             for c in services.provider_columns(backing)]  # fmt: skip
    data = f.resource_data(items=items, backing=backing, **overrides)
    return services.data_resource_create(provider_code=provider.code, data=data, actor=f.SYSTEM)


def _granted(resource, items, *, clear=()):
    asker = f.requester()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=items, clear_items=list(clear), purpose="城市管理监督", scenario="核对",
        period_from=city_today(), period_until=city_today() + dt.timedelta(days=30), actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward(resource.provider))
    return User.objects.create_user(username="mzj-system", kind=AccountKind.API_CLIENT, department=asker.department)


# --- city cases ------------------------------------------------------------------------------------------------------


def test_case_records_are_read_through_the_exchange_without_reporter_and_with_the_description_masked():
    cf.world()
    sensitive = cf.category("E0101", name="私搭乱建", sensitive=True)
    reporter = cf.resident()
    plain = cf.reported(reporter, description="井盖缺失，张三家门口", address="鼓楼区五四路 1 号")
    hidden = cf.reported(reporter, category_code=sensitive.code, description="违建")
    resource = _backed(f.department("FZ-CGW", "福州市城市管理委员会"), "cases.cases")
    system = _granted(resource, ["number", "category", "place", "longitude", "latitude", "description"])
    page = services.exchange_read(resource_code=resource.code, fields=None, purpose="城市管理监督", offset=0,
                                  limit=10, user=system)  # fmt: skip
    assert page.fields == ["number", "category", "place", "longitude", "latitude", "description"]
    assert [row["number"] for row in page.rows] == [plain.number, hidden.number]
    assert page.rows[0]["description"] == "井" + "*" * 9  # free text of a reporter: masked, never in clear here
    assert (page.rows[0]["place"], page.rows[0]["longitude"]) == ("鼓楼区五四路 1 号", plain.longitude)
    # A sensitive category: the place name only and the point rounded to ~100 m, as the public map shows it.
    assert page.rows[1]["place"] == hidden.place_name
    assert (page.rows[1]["longitude"], page.rows[1]["latitude"]) == (round(hidden.longitude, 3),
                                                                     round(hidden.latitude, 3))  # fmt: skip
    columns = {c.name for c in services.provider_columns("cases.cases")}
    assert not columns & {"reporter", "reporter_label", "caller_phone_masked", "token"}
    # Paged by the database: the second page starts at the second case.
    second = services.exchange_read(resource_code=resource.code, fields=["number"], purpose="城市管理监督",
                                    offset=1, limit=10, user=system)  # fmt: skip
    assert (second.rows, second.more) == ([{"number": hidden.number}], False)


def test_the_case_states_the_sources_count_are_the_cases_apps_own():
    from rongcheng.cases.workflow import DONE, FINAL
    from rongcheng.catalogue import providers

    assert (frozenset(providers._CASES_NOT_KEPT), frozenset(providers._CASES_DONE)) == (FINAL, DONE)


def test_case_records_are_never_opened_but_their_aggregate_is():
    cf.world()
    cf.reported(cf.resident())
    cf.reported(cf.resident(), description="井盖破损")
    org = f.department("FZ-CGW", "福州市城市管理委员会")
    with pytest.raises(DatasetInvalid) as refused:
        f.published("city-cases", org=org, backing="cases.cases")
    assert refused.value.errors[0]["rule"] == "backing.personal"
    rows = list(services.resource_rows(_backed(org, "cases.cases_by_category", classification="04002")))
    month = city_today().strftime("%Y-%m")
    assert [(r["month"], r["category_code"], r["reported"], r["closed"], r["closed_on_time"]) for r in rows] == [
        (month, "C0101", 2, 0, 0)
    ]


# --- public credit ---------------------------------------------------------------------------------------------------


def test_credit_records_are_shared_as_the_public_sees_them_and_counted_with_small_cells_suppressed():
    user = credit_f.reporter()
    credit_services.record_report(user=user, data=credit_f.PENALTY)
    credit_services.record_report(user=user, data={
        **credit_f.PENALTY, "subject_kind": "person", "subject_name": "张三丰", "subject_code": "350102198503120018",
        "legal_representative": "", "legal_representative_id": "",
        "document_number": "榕市监罚〔2026〕13号"})  # fmt: skip
    resource = _backed(f.department("FZ-FGW", "福州市发展和改革委员会"), "credit.public_records", category="base",
                       sharing_type="unconditional")  # fmt: skip
    asker = f.requester()
    services.sharing_request_submit(
        resource_code=resource.code, items=["subject_kind", "subject_name", "subject_code", "document_number"],
        purpose="信用核查", scenario="低保审核", period_from=city_today(),
        period_until=city_today() + dt.timedelta(days=30), actor=asker,
    )  # fmt: skip
    system = User.objects.create_user(username="mzj-system", kind=AccountKind.API_CLIENT, department=asker.department)
    page = services.exchange_read(resource_code=resource.code, fields=None, purpose="信用核查", offset=0, limit=10,
                                  user=system)  # fmt: skip
    assert page.rows == [
        {"subject_kind": "法人和其他组织", "subject_name": "福州某某食品有限公司", "subject_code": "91350100MA2XN1Y057",
         "document_number": "榕市监罚〔2026〕12号"},
        {"subject_kind": "自然人", "subject_name": "张**", "subject_code": "350102********0018",
         "document_number": "榕市监罚〔2026〕13号"},
    ]  # fmt: skip
    assert "legal_representative" not in str(services.provider_columns("credit.public_records"))
    counts = list(services.resource_rows(_backed(resource.provider, "credit.records_by_department",
                                                 classification="04002", category="base",
                                                 sharing_type="unconditional")))  # fmt: skip
    assert counts == [
        {"department": "福州市市场监督管理局", "kind": "行政处罚", "subject_kind": "法人和其他组织", "records": None,
         "suppressed": True},
        {"department": "福州市市场监督管理局", "kind": "行政处罚", "subject_kind": "自然人", "records": None,
         "suppressed": True},
    ]  # fmt: skip


# --- update cycles ---------------------------------------------------------------------------------------------------


def _made_on(day: dt.date, monkeypatch, **overrides):
    with monkeypatch.context() as m:
        m.setattr(services, "city_today", lambda: day)
        return f.resource(**overrides)


def test_the_update_cycle_gives_each_resource_its_next_due_date_and_lateness(monkeypatch):
    today = city_today()
    daily = _made_on(today - dt.timedelta(days=3), monkeypatch)  # uploaded rows, 每日
    assert daily.next_update_due == today - dt.timedelta(days=2)
    assert selectors.update_status(daily, today) == selectors.UpdateStatus(today - dt.timedelta(days=2), True, 2)
    assert selectors.update_status(daily, today - dt.timedelta(days=2)) == selectors.UpdateStatus(
        today - dt.timedelta(days=2), False, 0
    )
    irregular = _made_on(today - dt.timedelta(days=400), monkeypatch, classification="01002", update_cycle=0)
    assert selectors.update_status(irregular, today) == selectors.UpdateStatus(None, False, 0)
    live = _made_on(today - dt.timedelta(days=45), monkeypatch, classification="01003", update_cycle=30,
                    items=[{"name": "code", "type": "text", "description": "部门编码"}],
                    backing="accounts.departments")  # fmt: skip
    assert selectors.update_status(live, today) == selectors.UpdateStatus(today + dt.timedelta(days=15), False, 0)
    # An upload is the update: the next one is due a cycle later.
    services.resource_rows_upload(code=daily.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    daily.refresh_from_db()
    assert selectors.update_status(daily, today) == selectors.UpdateStatus(today + dt.timedelta(days=1), False, 0)


def test_overdue_resources_are_flagged_and_counted_on_the_page_and_in_the_api(monkeypatch):
    today = city_today()
    late = _made_on(today - dt.timedelta(days=10), monkeypatch, name="逾期资源")
    f.resource(classification="01002", name="按时资源")
    client = Client()
    client.force_login(f.staff())
    page = client.get("/catalogue/").content.decode()
    assert "全市 1 项资源更新逾期" in page
    assert page.count('class="flag-overdue"') == 1
    only = client.get("/catalogue/?overdue=1").content.decode()
    assert "逾期资源" in only
    assert "按时资源" not in only
    assert "更新已逾期 9 天" in client.get(f"/catalogue/r/{late.classification}/{late.sequence}/").content.decode()
    english = client.get("/catalogue/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 resource of the city is overdue for update" in english

    token = _system(f.department("FZ-MZJ", "福州市民政局"))
    answer = Client().get("/api/v1/exchange/catalogue", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert (answer["count"], answer["overdue"], answer["next_offset"]) == (2, 1, None)
    assert [(r["name"], r["next_update_due"], r["update_overdue"], r["days_overdue"]) for r in answer["resources"]] == [
        ("逾期资源", (today - dt.timedelta(days=9)).isoformat(), True, 9),
        ("按时资源", (today + dt.timedelta(days=1)).isoformat(), False, 0),
    ]  # fmt: skip
    assert answer["resources"][0]["personal_items"] == ["legal_person"]
    late_only = Client().get("/api/v1/exchange/catalogue?overdue=true", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [r["name"] for r in late_only["resources"]] == ["逾期资源"]
    assert Client().get("/api/v1/exchange/catalogue").status_code == 401


def test_a_grant_tells_its_consumer_when_the_data_is_due_and_whether_it_is_late(monkeypatch):
    late = _made_on(city_today() - dt.timedelta(days=5), monkeypatch)
    asker = f.requester()
    request = services.sharing_request_submit(
        resource_code=late.code, items=["name"], purpose="核对", scenario="核对", period_from=city_today(),
        period_until=city_today() + dt.timedelta(days=30), actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward())
    token = _system(asker.department)
    grants = Client().get("/api/v1/exchange/grants", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [(g["update_cycle_days"], g["next_update_due"], g["update_overdue"]) for g in grants] == [
        (1, (city_today() - dt.timedelta(days=4)).isoformat(), True)
    ]


# --- statistics ------------------------------------------------------------------------------------------------------


def _row(page: str, code: str) -> list[str]:
    row = re.search(rf'<tr id="dept-{code}">(.*?)</tr>', page, re.S)
    assert row is not None, code
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1))]


def test_the_statistics_page_counts_per_department(monkeypatch):
    today = city_today()
    shared = _made_on(today - dt.timedelta(days=10), monkeypatch)  # overdue
    services.resource_rows_upload(code=shared.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    _made_on(today - dt.timedelta(days=10), monkeypatch, classification="01002")  # overdue, never uploaded
    asker = f.requester()
    period: dict[str, Any] = {"period_from": today, "period_until": today + dt.timedelta(days=60)}
    answered = services.sharing_request_submit(resource_code=shared.code, items=["name"], purpose="核对",
                                               scenario="核对", actor=asker, **period)  # fmt: skip
    services.sharing_request_transition(number=answered.number, name="grant", actor=f.steward())
    with monkeypatch.context() as m:  # asked a month ago and never answered: past its ten working days
        m.setattr(services, "city_today", lambda: today - dt.timedelta(days=30))
        services.sharing_request_submit(resource_code=shared.code, items=["capital"], purpose="核对",
                                        scenario="核对", actor=asker, **period)  # fmt: skip
    system = User.objects.create_user(username="mzj-system", kind=AccountKind.API_CLIENT, department=asker.department)
    for offset in (0, 1):
        services.exchange_read(resource_code=shared.code, fields=None, purpose="核对", offset=offset, limit=1,
                               user=system)  # fmt: skip
    f.published("departments", backing="accounts.departments")

    client = Client()
    client.force_login(f.staff())
    page = client.get("/catalogue/statistics/").content.decode()
    # 部门, 资源, 更新逾期, 开放数据集, 收到共享申请, 已授权, 按时答复, 逾期未答复, 提出共享申请, 接口调用, 读取行数
    assert _row(page, "fz-gsj") == [
        "福州市市场监督管理局", "2", "1", "1", "2", "1", "1/1 件（100%）", "1", "0", "2", "2"
    ]  # fmt: skip
    assert _row(page, "fz-mzj") == ["福州市民政局", "0", "0", "0", "0", "0", "—", "0", "2", "0", "0"]
    assert "逾期" in page
    english = client.get("/catalogue/statistics/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Catalogue and sharing statistics" in english
    assert _row(english, "fz-gsj")[6] == "1/1 (100%)"
    assert "目录与共享统计" not in english


@pytest.mark.parametrize(("who", "expected"), [("anonymous", 302), ("resident", 403), ("staff", 200),
                                                ("office", 200)])  # fmt: skip
def test_authorization_matrix_of_the_statistics_page(who, expected):
    user = {"anonymous": None, "resident": User.objects.create_user(username="r1", kind=AccountKind.RESIDENT),
            "staff": f.staff(), "office": f.office()}[who]  # fmt: skip
    client = Client()
    if user is not None:
        client.force_login(user)
    assert client.get("/catalogue/statistics/").status_code == expected


# --- the audit of a page of persons ----------------------------------------------------------------------------------


def test_a_page_of_reads_is_one_record_per_subject_each_sealed_into_the_chain():
    actor = Actor("api_client", "7", "fz-mzj-system")
    written = audit_record_many(action="registries.person.read", actor=actor, target_type="registries.person",
                                target_ids=[11, 12, 13], purpose="低保审核", source_address="10.0.0.8",
                                detail={"via": "exchange", "grant": "GX1"})  # fmt: skip
    assert written == 3
    audit_seal_all()
    records = AuditRecord.objects.filter(action="registries.person.read").order_by("id")
    assert [(r.target_id, r.purpose, r.source_address, r.detail["grant"]) for r in records] == [
        ("11", "低保审核", "10.0.0.8", "GX1"), ("12", "低保审核", "10.0.0.8", "GX1"),
        ("13", "低保审核", "10.0.0.8", "GX1"),
    ]  # fmt: skip
    assert all(r.link is not None for r in records)
    assert audit_verify().ok
    assert audit_record_many(action="registries.person.read", actor=actor, target_type="registries.person",
                             target_ids=[]) == 0  # fmt: skip
