"""The catalogue's services: metadata rules, versions, uploads validated row by row, sharing to a deadline."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl  # type: ignore[import-untyped]  # no stubs installed
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rongcheng.audit.models import AuditRecord
from rongcheng.catalogue import services
from rongcheng.catalogue.errors import (
    CatalogueActionDenied,
    DataResourceInvalid,
    GrantNotValid,
    SharingRefused,
    SharingRequestInvalid,
    SharingTransitionRefused,
    UploadRejected,
)
from rongcheng.catalogue.models import (
    DataResourceVersion,
    ExchangeUse,
    ResourceRow,
    SharingGrant,
    SharingRequest,
    SharingState,
)
from rongcheng.catalogue.sharing import TRANSITIONS
from rongcheng.catalogue.tests import factories as f
from rongcheng.hall.selectors import city_today, working_days_add
from rongcheng.kernel.transitions import walk

pytestmark = pytest.mark.django_db


def test_a_resource_gets_its_code_from_its_classification_and_a_sequence():
    first = f.resource()
    second = f.resource(name="第二个")
    assert first.code == "301001/000001"
    assert second.code == "301001/000002"
    assert first.classification == "301001"
    assert first.published_on == city_today()
    assert first.next_update_due == city_today() + dt.timedelta(days=1)
    assert list(first.versions.values_list("version", "note")) == [(1, "created")]


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"sharing_type": "not_shared", "sharing_condition": ""}, "sharing_condition", "sharing.basis"),
        ({"category": "base", "sharing_type": "conditional"}, "sharing_type", "sharing.base"),
        ({"open_type": "conditional", "open_condition": ""}, "open_condition", "open.reason"),
        ({"classification": "1"}, "classification", "classification.format"),
        ({"items": [{"name": "a", "type": "blob"}]}, "items", "item.type"),
        ({"items": []}, "items", "required"),
        ({"update_cycle": 2}, "update_cycle", "choice"),
    ],
)
def test_metadata_breaking_the_guide_is_refused_and_nothing_stored(overrides, field, rule):
    with pytest.raises(DataResourceInvalid) as refused:
        f.resource(**overrides)
    assert {"loc": refused.value.errors[0]["loc"][0], "rule": refused.value.errors[0]["rule"]} == {
        "loc": field,
        "rule": rule,
    }
    assert not DataResourceVersion.objects.exists()


def test_every_change_is_a_new_version_and_the_old_one_is_kept():
    resource = f.resource()
    editor = f.editor()
    services.data_resource_update(code=resource.code, changes={"summary": "新的摘要。"}, actor=editor)
    versions = list(resource.versions.order_by("version").values_list("version", "snapshot__summary", "note"))
    assert versions == [(1, "本市市场主体的登记信息。", "created"), (2, "新的摘要。", "changed: summary")]


def test_an_editor_of_another_department_cannot_change_a_resource():
    resource = f.resource()
    outsider = f.editor(f.department("FZ-MZJ", "福州市民政局"))
    with pytest.raises(CatalogueActionDenied):
        services.data_resource_update(code=resource.code, changes={"summary": "x"}, actor=outsider)
    resource.refresh_from_db()
    assert resource.version == 1
    assert AuditRecord.objects.filter(action="catalogue.resource.update", outcome="denied").count() == 1


def test_an_upload_matching_the_items_replaces_the_rows():
    resource = f.resource()
    report = services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    assert report.rows == 2
    rows = list(ResourceRow.objects.filter(resource=resource).order_by("row_number").values_list("data", flat=True))
    assert rows[1] == {"credit_code": "91350100MA2XXXXX02", "name": "闽江贸易有限公司", "capital": 50.5,
                       "established": "2018-07-15", "legal_person": "李四"}  # fmt: skip


def test_an_xlsx_upload_is_read_like_a_csv():
    resource = f.resource()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["credit_code", "name", "capital", "established", "legal_person"])
    sheet.append(["91350100MA2XXXXX01", "榕城科技有限公司", 100, dt.datetime(2017, 3, 1), "张三"])
    buffer = io.BytesIO()
    book.save(buffer)
    report = services.resource_rows_upload(
        code=resource.code, file_name="a.xlsx", content=buffer.getvalue(), actor=f.editor()
    )
    assert report.rows == 1
    assert ResourceRow.objects.get(resource=resource).data["established"] == "2017-03-01"


def test_an_upload_with_one_bad_row_stores_nothing_and_reports_each_row():
    resource = f.resource()
    editor = f.editor()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=editor)
    bad = (
        "credit_code,name,capital,established,legal_person\n"
        "91350100MA2XXXXX01,甲,abc,2017-03-01,张三\n"
        "91350100MA2XXXXX02,乙,10,2017-13-01,李四\n"
        "91350100MA2XXXXX03,丙,10,2017-01-01\n"
    ).encode()
    with pytest.raises(UploadRejected) as refused:
        services.resource_rows_upload(code=resource.code, file_name="b.csv", content=bad, actor=editor)
    assert [(e["row"], e["loc"][0], e["rule"]) for e in refused.value.errors] == [
        (2, "capital", "type.number"),
        (3, "established", "type.date"),
        (4, "row", "row.width"),
    ]
    assert ResourceRow.objects.filter(resource=resource).count() == 2  # the earlier upload, untouched
    resource.refresh_from_db()
    assert resource.version == 2


def test_an_upload_with_other_columns_is_refused_by_its_header():
    resource = f.resource()
    with pytest.raises(UploadRejected) as refused:
        services.resource_rows_upload(code=resource.code, file_name="a.csv", content=b"x,y\n1,2\n", actor=f.editor())
    assert refused.value.errors[0]["rule"] == "header.items"
    assert not ResourceRow.objects.exists()


# --- sharing --------------------------------------------------------------------------------------------------------


def _ask(resource, user, items=("name", "credit_code"), until=None):
    return services.sharing_request_submit(
        resource_code=resource.code, items=list(items), purpose="企业开办审核", scenario="开办企业时核对名称",
        period_from=city_today(), period_until=until or city_today() + dt.timedelta(days=90), actor=user,
    )  # fmt: skip


def test_an_unconditional_resource_is_granted_at_once():
    resource = f.resource(sharing_type="unconditional", sharing_condition="")
    request = _ask(resource, f.requester())
    assert request.state == SharingState.GRANTED
    grant = SharingGrant.objects.get(request=request)
    assert grant.items == ["name", "credit_code"]
    assert grant.expires_on == city_today() + dt.timedelta(days=90)


def test_a_conditional_resource_goes_to_the_provider_with_a_deadline_in_working_days():
    resource = f.resource()
    request = _ask(resource, f.requester())
    assert request.state == SharingState.SUBMITTED
    assert request.deadline == working_days_add(city_today(), 10)
    assert not SharingGrant.objects.exists()


def test_a_not_shared_resource_is_refused_and_nothing_is_stored():
    resource = f.resource(sharing_type="not_shared", sharing_condition="《统计法》第二十五条")
    with pytest.raises(SharingRefused) as refused:
        _ask(resource, f.requester())
    assert "《统计法》第二十五条" in refused.value.detail
    assert not SharingRequest.objects.exists()
    assert AuditRecord.objects.filter(action="catalogue.sharing.submit", outcome="denied").count() == 1


def test_a_request_for_undeclared_items_fails_the_conformance_check():
    with pytest.raises(SharingRequestInvalid) as refused:
        _ask(f.resource(), f.requester(), items=("name", "salary"))
    assert refused.value.errors[0]["rule"] == "items.declared"
    assert not SharingRequest.objects.exists()


def test_the_provider_grants_some_items_and_the_requester_reads_exactly_those():
    resource = f.resource()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    asker = f.requester()
    request = _ask(resource, asker)
    steward = f.steward()
    services.sharing_request_transition(number=request.number, name="grant", actor=steward, items=["name"])
    page = services.exchange_read(resource_code=resource.code, fields=None, purpose="企业开办审核", offset=0,
                                  limit=10, user=asker)  # fmt: skip
    assert page.rows == [{"name": "榕城科技有限公司"}, {"name": "闽江贸易有限公司"}]
    use = ExchangeUse.objects.get()
    assert (use.rows, use.fields, use.purpose) == (2, ["name"], "企业开办审核")
    with pytest.raises(GrantNotValid):
        services.exchange_read(resource_code=resource.code, fields=["name", "credit_code"], purpose="企业开办审核",
                               offset=0, limit=10, user=asker)  # fmt: skip
    assert ExchangeUse.objects.count() == 1


def _kind(sql: str) -> str:
    """A statement's first word, " rows" when it reads uploaded rows; "kept " and the statement's own kind for the
    EXECUTE of a plan kept in the session (ADR 0020)."""
    if sql.startswith("EXECUTE "):
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s",
                           [sql.removeprefix("EXECUTE ").partition("(")[0]])  # fmt: skip
            (text,) = cursor.fetchone()
        return "kept " + _kind(str(text).partition(" AS ")[2])
    return sql.split()[0] + (" rows" if "resourcerow" in sql else "")


def test_pages_of_uploaded_rows_follow_in_order_each_read_recorded():
    resource = f.resource()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    asker = f.requester()
    request = _ask(resource, asker)
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward(), items=["name"])

    def read(offset: int) -> services.ExchangePage:
        return services.exchange_read(resource_code=resource.code, fields=None, purpose="核验", offset=offset,
                                      limit=1, user=asker)  # fmt: skip

    with CaptureQueriesContext(connection) as statements:
        first = read(0)
    assert (first.rows, first.more) == ([{"name": "榕城科技有限公司"}], True)
    if connection.vendor == "postgresql":  # the grant's query, then the page in the same round trip (pipeline)
        kinds = [_kind(s["sql"]) for s in statements]
        # inside the test's transaction: a savepoint; the grant and the page keep their plans (ADR 0020)
        assert kinds == ["SAVEPOINT", "kept SELECT", "kept SELECT rows", "INSERT", "INSERT", "RELEASE"]
    second, past = read(1), read(2)
    assert (second.rows, second.more) == ([{"name": "闽江贸易有限公司"}], False)
    assert (past.rows, past.more) == ([], False)
    assert [use.rows for use in ExchangeUse.objects.order_by("pk")] == [1, 1, 0]
    assert AuditRecord.objects.filter(action="catalogue.exchange.query", outcome="success").count() == 3


def test_an_expired_grant_reads_nothing(monkeypatch):
    resource = f.resource(sharing_type="unconditional", sharing_condition="")
    asker = f.requester()
    _ask(resource, asker, until=city_today() + dt.timedelta(days=1))
    later = city_today() + dt.timedelta(days=2)
    monkeypatch.setattr(services, "city_today", lambda: later)
    with pytest.raises(GrantNotValid) as refused:
        services.exchange_read(resource_code=resource.code, fields=None, purpose="核验", offset=0, limit=10,
                               user=asker)  # fmt: skip
    assert "expired" in refused.value.detail
    assert not ExchangeUse.objects.exists()


def test_a_refusal_needs_a_reason_and_can_be_disputed_to_the_office():
    resource = f.resource()
    asker = f.requester()
    request = _ask(resource, asker)
    steward = f.steward()
    with pytest.raises(SharingRequestInvalid):
        services.sharing_request_transition(number=request.number, name="refuse", actor=steward, reason=" ")
    services.sharing_request_transition(number=request.number, name="refuse", actor=steward, reason="超出职责范围")
    services.sharing_request_transition(number=request.number, name="dispute", actor=asker, reason="开办企业需要")
    request = services.sharing_request_transition(
        number=request.number, name="office_grant", actor=f.office(), reason="属于政务服务所需"
    )
    assert request.state == SharingState.GRANTED
    assert SharingGrant.objects.get(request=request).items == ["name", "credit_code"]


def test_the_requester_cannot_answer_its_own_request_nor_the_provider_dispute():
    resource = f.resource()
    asker = f.requester()
    request = _ask(resource, asker)
    with pytest.raises(CatalogueActionDenied):
        services.sharing_request_transition(number=request.number, name="grant", actor=asker)
    with pytest.raises(SharingTransitionRefused):
        services.sharing_request_transition(number=request.number, name="dispute", actor=asker, reason="x")
    request.refresh_from_db()
    assert request.state == SharingState.SUBMITTED


def test_a_revoked_grant_reads_nothing():
    resource = f.resource(sharing_type="unconditional", sharing_condition="")
    asker = f.requester()
    request = _ask(resource, asker)
    services.sharing_request_transition(number=request.number, name="revoke", actor=f.steward(), reason="停止合作")
    with pytest.raises(GrantNotValid):
        services.exchange_read(resource_code=resource.code, fields=None, purpose="核验", offset=0, limit=10,
                               user=asker)  # fmt: skip


def test_overdue_requests_are_escalated_once():
    resource = f.resource()
    request = _ask(resource, f.requester())
    late = request.deadline + dt.timedelta(days=1)
    assert services.sharing_overdue_escalate(today=late) == 1
    assert services.sharing_overdue_escalate(today=late) == 0
    request.refresh_from_db()
    assert request.escalated_at is not None


def test_the_sharing_table_reaches_every_state():
    states, edges = walk(TRANSITIONS, "new")
    assert states == set(SharingState.values)
    assert len(edges) == len(TRANSITIONS)
