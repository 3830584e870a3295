"""The operations and security dashboards, and the exchange log of department systems' API calls."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from tests.api_callers import callers

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.operations.models import EventState, ExchangeRecord, SecurityEvent
from rongcheng.operations.selectors import exchange_statistics
from rongcheng.operations.services import exchange_record, security_event_raise

pytestmark = pytest.mark.django_db


def _staff(username: str, *codenames: str) -> User:
    department, _ = Department.objects.get_or_create(code="FZ-SZB", defaults={"name": "市政府办公厅"})
    user = User.objects.create_user(username=username, password="Ops-Pass-123!", kind=AccountKind.STAFF,
                                    department=department)  # fmt: skip
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_operations_dashboard_is_for_operators_only():
    assert _client(_staff("clerk")).get("/operations/").status_code == 403
    response = _client(_staff("operator", "view_operations")).get("/operations/")
    assert response.status_code == 200
    page = response.content.decode()
    for heading in ("运维监控", "就绪检查", "审计链", "备份", "作业进程", "业务时钟", "数据交换统计（24 小时）"):
        assert heading in page
    assert "<script" not in page
    assert "临近或超过期限的在办办件" in page


def test_the_security_administrator_acknowledges_and_closes_on_the_page(django_capture_on_commit_callbacks):
    event, _ = security_event_raise(rule="new_api_client", severity="low", subject_type="oidc.client",
                                    subject_id="client-x", evidence={"grant_type": "client-credentials"},
                                    window_seconds=60)  # fmt: skip
    assert _client(_staff("operator2", "view_operations")).get("/operations/security/").status_code == 403
    secadmin = _client(_staff("secadmin3", "manage_securityevent"))
    page = secadmin.get("/operations/security/").content.decode()
    assert "client-x" in page
    assert secadmin.post(f"/operations/security/{event.pk}/acknowledge/").status_code == 302
    assert secadmin.post(f"/operations/security/{event.pk}/close/", {"resolution": "已核实"}).status_code == 302
    event.refresh_from_db()
    assert (event.state, event.resolution) == (EventState.CLOSED, "已核实")
    assert "没有安全事件" in secadmin.get("/operations/security/").content.decode()


def test_each_call_of_a_department_system_is_in_the_exchange_log():
    client_caller = next(caller for caller in callers() if caller.kind == "client")
    api = Client()
    response = api.get("/api/v1/registries/persons?name=张&purpose=service_hall", headers=client_caller.headers)
    assert response.status_code == 200, response.content
    assert api.get("/api/v1/licences/NO-SUCH-LICENCE", headers=client_caller.headers).status_code in (404, 422)
    records = list(ExchangeRecord.objects.order_by("pk"))
    assert len(records) == 2
    first = records[0]
    assert first.client_id == "system-caller"
    assert first.service == "GET /api/v1/registries/persons"
    assert first.request_in_at <= first.request_out_at <= first.response_in_at <= first.response_out_at
    assert first.response_bytes == len(response.content)
    assert first.succeeded
    assert (first.purpose, first.status) == ("service_hall", 200)
    assert (records[1].service, records[1].succeeded) == ("GET /api/v1/licences/<identifier>", False)
    statistics = exchange_statistics()
    assert sum(row.calls for row in statistics) == 2
    assert {row.client_id for row in statistics} == {"system-caller"}


@pytest.mark.django_db(transaction=True)
def test_an_exchange_record_outside_a_transaction_is_written_by_one_statement():
    """As the middleware writes it, in autocommit: on PostgreSQL one INSERT that commits without waiting for the WAL
    flush; the record is there all the same."""
    at = dt.datetime(2026, 12, 6, 1, 2, 3, tzinfo=dt.UTC)
    with CaptureQueriesContext(connection) as statements:
        written = exchange_record(client="fz-mzj-system", service="GET /api/v1/exchange/grants", purpose="核对",
                                  request_id="r1", request_in_at=at, request_out_at=at, response_in_at=at,
                                  response_out_at=at, request_bytes=-1, response_bytes=10, status=403)  # fmt: skip
    assert written
    assert len(statements) == 1
    record = ExchangeRecord.objects.get()
    assert (record.client_id, record.purpose, record.request_bytes, record.status, record.succeeded) == (
        "fz-mzj-system", "核对", 0, 403, False)  # fmt: skip
    assert record.response_out_at == at


def test_calls_of_people_are_not_in_the_exchange_log():
    resident = next(caller for caller in callers() if caller.kind == "resident")
    Client().get("/api/v1/hall/applications", headers=resident.headers)
    assert ExchangeRecord.objects.count() == 0
    assert SecurityEvent.objects.count() == 0


def _monitoring_token(
    *, scope: str = "operations:read", may_view: bool = True, username: str = "prometheus-exchange"
) -> dict[str, str]:
    from tests.api_callers import _token

    monitor = User.objects.create_user(username=username, kind=AccountKind.API_CLIENT,
                                       display_name="市大数据局监控系统")  # fmt: skip
    if may_view:
        monitor.user_permissions.add(Permission.objects.get(codename="view_operations"))
    return {"Authorization": f"Bearer {_token(monitor, scope, client_credentials=True)}"}


def test_exchange_statistics_per_service_and_consumer_on_the_page_and_through_the_api():
    caller = next(caller for caller in callers() if caller.kind == "client")
    User.objects.filter(pk=caller.user.pk).update(display_name="市公安局人口系统")
    api = Client()
    for _ in range(2):
        assert (
            api.get("/api/v1/registries/persons?name=张&purpose=service_hall", headers=caller.headers).status_code
            == 200
        )
    assert api.get("/api/v1/registries/persons?name=张", headers=caller.headers).status_code == 422  # no purpose
    assert api.get("/api/v1/licences/NO-SUCH-LICENCE", headers=caller.headers).status_code in (404, 422)
    monitor = _monitoring_token()

    answer = api.get("/api/v1/operations/exchange/statistics?hours=24", headers=monitor)
    assert answer.status_code == 200, answer.content
    rows = [(r["system"], r["service"], r["consumer"], r["consumer_name"], r["calls"], r["failures"])
            for r in answer.json()["statistics"]]  # fmt: skip
    assert rows == [
        ("licences", "GET /api/v1/licences/<identifier>", "system-caller", "市公安局人口系统", 1, 1),
        ("registries", "GET /api/v1/registries/persons", "system-caller", "市公安局人口系统", 3, 1),
    ]
    only = api.get("/api/v1/operations/exchange/statistics?system=registries", headers=monitor).json()["statistics"]
    assert [r["service"] for r in only] == ["GET /api/v1/registries/persons"]
    assert only[0]["response_bytes"] > 0
    assert only[0]["mean_total_ms"] >= only[0]["mean_service_ms"] >= 0

    operator = _client(_staff("exchange-operator", "view_operations"))
    page = operator.get("/operations/exchange/?days=7").content.decode()
    for text in (
        "数据交换统计",
        "基础数据库",
        "电子证照",
        "市公安局人口系统",
        "GET /api/v1/registries/persons",
        "33.3%",
    ):
        assert text in page
    assert "system-caller" not in page  # the consumer by its name
    assert operator.get("/operations/exchange/?days=9999&system=../../x").status_code == 200  # falls back to 24 h
    assert _client(_staff("exchange-clerk")).get("/operations/exchange/").status_code == 403


@pytest.mark.parametrize(
    "query", ["hours=0", "hours=2161", "hours=-1", "hours=abc", "system=../x", "system=" + "a" * 21, "hours=1e309"]
)
def test_exchange_statistics_refuse_out_of_range_queries_with_a_problem(query):
    response = Client().get(f"/api/v1/operations/exchange/statistics?{query}", headers=_monitoring_token())
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"


def test_exchange_statistics_need_the_scope_and_the_operators_right():
    api = Client()
    assert api.get("/api/v1/operations/exchange/statistics").status_code == 401
    no_scope = _monitoring_token(scope="registries:read")
    assert api.get("/api/v1/operations/exchange/statistics", headers=no_scope).status_code == 403
    no_right = _monitoring_token(may_view=False, username="monitor-without-right")
    assert api.get("/api/v1/operations/exchange/statistics", headers=no_right).status_code == 403
    clerk = _client(_staff("exchange-clerk2"))
    assert clerk.get("/api/v1/operations/exchange/statistics").status_code == 403
    assert ExchangeRecord.objects.filter(service__contains="/operations/", succeeded=True).count() == 0


def test_the_security_page_names_accounts_by_user_name_and_the_dashboard_reads_the_clocks_in_words():
    target = _staff("duty-holder")
    granter = _staff("granter")
    security_event_raise(rule="duty_change", severity="high", subject_type="accounts.user", subject_id=str(target.pk),
                         evidence={"duty": "audit", "change": "grant", "by_account": str(granter.pk)},
                         window_seconds=60)  # fmt: skip
    page = _client(_staff("secadmin4", "manage_securityevent")).get("/operations/security/").content.decode()
    assert "账号 duty-holder" in page
    assert "<dd>granter</dd>" in page
    assert f"账号 {target.pk}<" not in page
    assert "审计管理员" in page
    assert "授予" in page
    dashboard = _client(_staff("operator5", "view_operations")).get("/operations/").content.decode()
    for words in (
        "临近或超过处置时限的城市管理案件",
        "超过答复期限的数据共享申请",
        "市民卡账务余额合计（分，应为零）",
        "检查通过",
    ):
        assert words in dashboard
    assert "rongcheng_" not in dashboard
