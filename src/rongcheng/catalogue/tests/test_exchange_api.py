"""The exchange API: a department system with OAuth 2.0 client credentials reads exactly what its grants allow."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from oauth2_provider.models import get_application_model

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.models import AuditRecord
from rongcheng.catalogue import services
from rongcheng.catalogue.api import RowsPage
from rongcheng.catalogue.models import ExchangeUse
from rongcheng.catalogue.tests import factories as f
from rongcheng.hall.selectors import city_today

pytestmark = pytest.mark.django_db
SECRET = "test-client-secret-0123456789"


def _system(department, *, permitted: bool = True) -> str:
    user = User.objects.create_user(username=f"{department.code}-system", kind=AccountKind.API_CLIENT,
                                    department=department)  # fmt: skip
    if permitted:
        user.user_permissions.add(Permission.objects.get(codename="request_sharing"))
    Application = get_application_model()
    app = Application.objects.create(
        name=user.username, user=user, client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_secret=SECRET,
    )  # fmt: skip
    basic = base64.b64encode(f"{app.client_id}:{SECRET}".encode()).decode()
    response = Client().post("/oauth/token/", {"grant_type": "client_credentials", "scope": "catalogue:exchange"},
                             HTTP_AUTHORIZATION=f"Basic {basic}")  # fmt: skip
    if not permitted:
        assert response.status_code != 200 or "catalogue:exchange" not in response.json().get("scope", "")
        return ""
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


@pytest.fixture
def shared():
    resource = f.resource()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    asker = f.requester()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=["name", "capital"], purpose="企业开办审核", scenario="核对",
        period_from=city_today(), period_until=city_today() + dt.timedelta(days=30), actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward(), items=["name"])
    return resource, asker.department


def _rows_url(resource, **query):
    from urllib.parse import urlencode

    cls, _sep, seq = resource.code.partition("/")
    return f"/api/v1/exchange/resources/{cls}/{seq}/rows?" + urlencode(query)


def test_a_system_reads_the_granted_field_with_its_purpose_recorded(shared):
    resource, consumer = shared
    token = _system(consumer)
    response = Client().get(_rows_url(resource, purpose="企业开办审核", limit=1), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response.json() == {"resource_code": resource.code, "fields": ["name"],
                               "rows": [{"name": "榕城科技有限公司"}],
                               "offset": 0, "limit": 1, "next_offset": 1}  # fmt: skip
    assert list(response.json()) == list(RowsPage.model_fields)  # written directly, in the declared schema's order
    RowsPage.model_validate(response.json())
    use = ExchangeUse.objects.get()
    assert (use.client, use.purpose, use.rows) == (f"{consumer.code}-system", "企业开办审核", 1)
    grants = Client().get("/api/v1/exchange/grants", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [(g["resource_code"], g["items"], g["in_force"]) for g in grants] == [(resource.code, ["name"], True)]


def test_a_field_not_granted_is_a_403_problem_and_nothing_is_recorded(shared):
    resource, consumer = shared
    token = _system(consumer)
    response = Client().get(_rows_url(resource, purpose="核对", fields="name,capital"),
                            HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/problems/sharing-grant-not-valid")
    assert not ExchangeUse.objects.exists()
    assert AuditRecord.objects.filter(action="catalogue.exchange.query", outcome="denied").count() == 1


def test_an_expired_grant_is_a_403_problem(shared, monkeypatch):
    resource, consumer = shared
    token = _system(consumer)
    later = city_today() + dt.timedelta(days=31)
    monkeypatch.setattr(services, "city_today", lambda: later)
    response = Client().get(_rows_url(resource, purpose="核对"), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]
    assert not ExchangeUse.objects.exists()


def test_authorization_matrix_of_the_exchange(shared):
    resource, consumer = shared
    assert Client().get(_rows_url(resource, purpose="核对")).status_code == 401
    other = _system(f.department("FZ-WJW", "福州市卫生和计划生育委员会"))
    assert Client().get(_rows_url(resource, purpose="核对"), HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 403
    token = _system(consumer)
    assert Client().get(_rows_url(resource), HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 422  # no purpose
    file = Client().get(_rows_url(resource, purpose="核对").replace("/rows?", "/file?"),
                        HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert file.status_code == 200
    assert file.content.decode() == "name\r\n榕城科技有限公司\r\n闽江贸易有限公司\r\n"
    assert list(ExchangeUse.objects.values_list("kind", "rows")) == [("file", 2)]


def _prepared_text(sql: str) -> str:
    """The text of the statement an `EXECUTE name(...)` runs (a plan kept in the session, ADR 0020), or `sql`."""
    from django.db import connection

    if not sql.startswith("EXECUTE "):
        return sql
    name = sql.removeprefix("EXECUTE ").partition("(")[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name])
        (text,) = cursor.fetchone()
    return str(text).partition(" AS ")[2]


def _statement(sql: str) -> str:
    sql = _prepared_text(sql)
    for label, start in (("token", 'SELECT "oauth2_provider_accesstoken"."id"'), ("grant", "SELECT g.id"),
                         ("use", "INSERT INTO catalogue_exchangeuse"), ("audit", "INSERT INTO audit_record"),
                         ("log", 'INSERT INTO "operations_exchangerecord"'),
                         ("log", "INSERT INTO operations_exchangerecord")):  # fmt: skip
        if sql.startswith(start):
            return label
    return "page" if "FROM catalogue_resourcerow" in sql else sql[:40]


def test_each_call_reads_the_granted_rows_masked_with_one_use_and_one_audit_record():
    """Calls one after another (the second sends its page for the shape the first found, after the grant's query):
    each answers exactly the granted fields of its rows, the personal item masked, and records the read once in
    `ExchangeUse` and once in the audit trail with its purpose. On PostgreSQL a call is six statements: the token,
    the grant, the page, the two records (one transaction), the exchange log's line; the grant's statement and the
    page sent ahead of it keep their plans in the session (EXECUTE of a statement PREPAREd once, ADR 0020)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    resource = f.resource()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    asker = f.requester()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=["name", "legal_person"], purpose="企业开办审核", scenario="核对",
        period_from=city_today(), period_until=city_today() + dt.timedelta(days=30), actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward())
    token = _system(asker.department)
    pages = []
    for call, (offset, purpose) in enumerate(((0, "企业开办审核"), (1, "企业变更审核"), (0, "企业注销审核"))):
        with CaptureQueriesContext(connection) as statements:
            response = Client().get(_rows_url(resource, purpose=purpose, offset=offset, limit=1),
                                    HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
        if connection.vendor == "postgresql":  # the test's transaction adds savepoints around the read's
            sent = [q["sql"] for q in statements.captured_queries if "SAVEPOINT" not in q["sql"]]
            kept = [] if call else ["token"]  # the token's row read once, then kept a second (ADR 0019)
            assert [_statement(sql) for sql in sent] == [*kept, "grant", "page", "use", "audit", "log"]
            grant, page = sent[len(kept) : len(kept) + 2]
            assert grant.startswith("EXECUTE rc_")
            assert page.startswith("EXECUTE rc_")
        assert response.status_code == 200, response.content
        pages.append(response.json())
    assert pages == [
        {"resource_code": resource.code, "fields": ["name", "legal_person"],
         "rows": [{"name": "榕城科技有限公司", "legal_person": "张*"}], "offset": 0, "limit": 1, "next_offset": 1},
        {"resource_code": resource.code, "fields": ["name", "legal_person"],
         "rows": [{"name": "闽江贸易有限公司", "legal_person": "李*"}], "offset": 1, "limit": 1, "next_offset": None},
        {"resource_code": resource.code, "fields": ["name", "legal_person"],
         "rows": [{"name": "榕城科技有限公司", "legal_person": "张*"}], "offset": 0, "limit": 1, "next_offset": 1},
    ]  # fmt: skip
    uses = ExchangeUse.objects.order_by("id")
    assert [(u.grant.request.number, u.purpose, u.rows, u.fields, u.kind) for u in uses] == [
        (request.number, "企业开办审核", 1, ["name", "legal_person"], "query"),
        (request.number, "企业变更审核", 1, ["name", "legal_person"], "query"),
        (request.number, "企业注销审核", 1, ["name", "legal_person"], "query"),
    ]  # fmt: skip
    audits = AuditRecord.objects.filter(action="catalogue.exchange.query").order_by("id")
    assert [(a.target_id, a.purpose, a.outcome, a.detail) for a in audits] == [
        (resource.code, purpose, "success", {"rows": 1, "fields": ["name", "legal_person"], "grant": request.number,
                                             "personal": ["legal_person"], "clear": []})
        for purpose in ("企业开办审核", "企业变更审核", "企业注销审核")
    ]  # fmt: skip
