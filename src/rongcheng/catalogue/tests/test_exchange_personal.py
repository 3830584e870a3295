"""Personal data on the exchange: masked unless the grant names it in clear, read through the registries' audited
selector, and shown in the person's "who read my data" with the consuming department and the purpose."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.selectors import TARGETS
from rongcheng.catalogue import services
from rongcheng.catalogue.errors import DatasetInvalid, SharingRequestInvalid
from rongcheng.catalogue.models import Dataset, ExchangeUse, SharingGrant, SharingRequest
from rongcheng.catalogue.tests import factories as f
from rongcheng.catalogue.tests.test_exchange_api import _rows_url, _system
from rongcheng.hall.selectors import city_today
from rongcheng.registries.tests.factories import make_person, resident

pytestmark = pytest.mark.django_db
PURPOSE = "最低生活保障申请审核"
ITEMS = ["id_number", "name", "division_code"]


def _persons_resource():
    police = f.department("FZ-GAJ", "福州市公安局")
    items = [{"name": c.name, "type": c.type, "description": c.description, "personal": c.personal}
             for c in services.provider_columns("registries.persons")]  # fmt: skip
    return f.resource(police, name="户籍人口个人信息", classification="10003", items=items,
                      backing="registries.persons", sharing_condition="用于法定职责，明文字段须说明依据")  # fmt: skip


def _granted(resource, *, clear_asked: list[str], clear_granted: list[str] | None):
    asker = f.requester()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=ITEMS, clear_items=clear_asked, purpose=PURPOSE, scenario="核对申请人身份",
        period_from=city_today(), period_until=city_today() + dt.timedelta(days=90), actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward(resource.provider),
                                        clear_items=clear_granted)  # fmt: skip
    return asker.department


def _reads(pages: int | None = None) -> list[tuple[str, AuditRecord]]:
    """Each person read through the exchange, in order, with the record of the read: on PostgreSQL a page's one record
    lists its persons (`audit_record_page`: `pages` records, if given), elsewhere each has a record of its own."""
    records = list(AuditRecord.objects.filter(action="registries.person.read").order_by("id"))
    if pages is not None and connection.vendor == "postgresql":
        assert len(records) == pages
        assert all(r.target_id == "" for r in records)
    return [(target, r) for r in records for target in (r.detail.pop(TARGETS) if TARGETS in r.detail
                                                        else [r.target_id])]  # fmt: skip


@pytest.fixture
def people():
    first = make_person(id_number="350102198503120018", name="林则徐", division_code="350102")
    second = make_person(id_number="350103199001010020", name="沈葆桢", division_code="350103")
    return first, second


def test_a_person_read_through_the_exchange_sees_it_and_another_person_does_not(people):
    first, second = people
    resource = _persons_resource()
    consumer = _granted(resource, clear_asked=["name"], clear_granted=["name"])
    token = _system(consumer)
    response = Client().get(_rows_url(resource, purpose=PURPOSE, limit=1), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response.json()["rows"] == [{"id_number": "350102********0018", "name": "林则徐", "division_code": "350102"}]
    assert [(t, r.purpose, r.detail["via"], r.detail["clear"], r.detail["department"]) for t, r in _reads(1)] == [
        (str(first.pk), PURPOSE, "exchange", ["name"], "福州市民政局")
    ]

    browser = Client()
    browser.force_login(resident("linzexu", person=first))
    page = browser.get(reverse("registries:my-reads"))
    entries = [r["entry"] for r in page.context["rows"]]
    assert [(e.actor_kind, e.department, e.purpose, e.fields, e.via) for e in entries] == [
        ("api_client", "福州市民政局", PURPOSE, ("name",), "exchange")
    ]
    body = page.content.decode()
    assert f"部门系统 {consumer.code}-system（福州市民政局）" in body
    assert f'<td data-label="目的">{PURPOSE}</td>' in body
    assert "部门间数据共享（按共享授权）" in body

    other = Client()
    other.force_login(resident("shenbaozhen", person=second))
    assert other.get(reverse("registries:my-reads")).context["rows"] == []


def test_personal_items_not_granted_in_clear_are_masked(people):
    resource = _persons_resource()
    consumer = _granted(resource, clear_asked=["name"], clear_granted=[])
    assert SharingGrant.objects.get().clear_items == []
    token = _system(consumer)
    body = Client().get(_rows_url(resource, purpose=PURPOSE), HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["rows"] == [
        {"id_number": "350102********0018", "name": "林**", "division_code": "350102"},
        {"id_number": "350103********0020", "name": "沈**", "division_code": "350103"},
    ]
    assert [r.detail["clear"] for _t, r in _reads(1)] == [[], []]


def test_uploaded_personal_items_are_masked_unless_granted_in_clear():
    resource = f.resource()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    asker = f.requester()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=["name", "legal_person"], purpose="企业开办审核", scenario="核对",
        period_from=city_today(), period_until=city_today() + dt.timedelta(days=30), actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward())
    token = _system(asker.department)
    body = Client().get(_rows_url(resource, purpose="企业开办审核"), HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["rows"] == [{"name": "榕城科技有限公司", "legal_person": "张*"},
                            {"name": "闽江贸易有限公司", "legal_person": "李*"}]  # fmt: skip


def test_clear_items_cannot_be_had_without_the_providers_answer_and_nothing_is_stored(people):
    resource = _persons_resource()
    asker = f.requester()
    period = {"period_from": city_today(), "period_until": city_today() + dt.timedelta(days=30)}
    with pytest.raises(SharingRequestInvalid) as not_personal:
        services.sharing_request_submit(resource_code=resource.code, items=ITEMS, clear_items=["division_code"],
                                        purpose=PURPOSE, scenario="核对", actor=asker, **period)  # fmt: skip
    assert [e["rule"] for e in not_personal.value.errors] == ["clear.personal"]
    unconditional = f.resource(name="无条件资源", classification="01002", sharing_type="unconditional")
    with pytest.raises(SharingRequestInvalid) as at_once:
        services.sharing_request_submit(resource_code=unconditional.code, items=["legal_person"],
                                        clear_items=["legal_person"], purpose=PURPOSE, scenario="核对", actor=asker,
                                        **period)  # fmt: skip
    assert [e["rule"] for e in at_once.value.errors] == ["clear.conditional"]
    request = services.sharing_request_submit(resource_code=resource.code, items=ITEMS, clear_items=["name"],
                                              purpose=PURPOSE, scenario="核对", actor=asker, **period)  # fmt: skip
    with pytest.raises(SharingRequestInvalid) as beyond:
        services.sharing_request_transition(number=request.number, name="grant", actor=f.steward(resource.provider),
                                            clear_items=["name", "id_number"])  # fmt: skip
    assert [e["rule"] for e in beyond.value.errors] == ["clear.subset"]
    assert SharingRequest.objects.count() == 1
    assert SharingRequest.objects.get().state == "submitted"
    assert not SharingGrant.objects.exists()
    assert not ExchangeUse.objects.exists()


def test_individual_records_are_never_an_open_dataset():
    editor = f.editor()
    with pytest.raises(DatasetInvalid) as refused:
        services.dataset_create(
            organization_code="FZ-GSJ",
            name="people",
            actor=editor,
            data={
                "title": "people",
                "resources": [{"name": "people", "format": "CSV", "backing": "registries.persons"}],
            },
        )
    assert [e["rule"] for e in refused.value.errors] == ["backing.records"]
    assert not Dataset.objects.exists()


def test_the_bulk_file_of_person_records_is_masked_and_each_person_sees_the_read(people):
    first, second = people
    resource = _persons_resource()
    consumer = _granted(resource, clear_asked=[], clear_granted=None)
    token = _system(consumer)
    url = _rows_url(resource, purpose=PURPOSE).replace("/rows?", "/file?")
    response = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response.content.decode().splitlines() == [
        "id_number,name,division_code", "350102********0018,林**,350102", "350103********0020,沈**,350103",
    ]  # fmt: skip
    assert [(t, r.detail["via"], r.detail["clear"]) for t, r in _reads(1)] == [
        (str(first.pk), "exchange", []), (str(second.pk), "exchange", []),
    ]  # fmt: skip
    assert list(ExchangeUse.objects.values_list("kind", "rows")) == [("file", 2)]


def test_on_the_pages_clear_items_are_asked_for_and_the_provider_grants_only_those_ticked(people):
    resource = _persons_resource()
    asker = f.requester()
    browser = Client()
    browser.force_login(asker)
    form = browser.get(f"/catalogue/r/{resource.classification}/{resource.sequence}/request/").content.decode()
    assert "需要明文的个人信息项" in form
    clear = form.split("需要明文的个人信息项")[1].split("</fieldset>")[0]
    assert '公民身份号码 <span class="api-field">接口字段名 <code lang="en">id_number</code></span>' in clear
    response = browser.post(f"/catalogue/r/{resource.classification}/{resource.sequence}/request/", {
        "items": ITEMS, "clear_items": ["name", "id_number"], "purpose": PURPOSE, "scenario": "核对",
        "period_from": city_today().isoformat(), "period_until": (city_today() + dt.timedelta(days=30)).isoformat(),
    })  # fmt: skip
    request = SharingRequest.objects.get()
    assert response.status_code == 302
    assert (request.state, request.items, request.clear_items) == ("submitted", ITEMS, ["name", "id_number"])
    provider = Client()
    provider.force_login(f.steward(resource.provider))
    detail = provider.get(f"/catalogue/sharing/{request.number}/").content.decode()
    assert "同意明文提供的个人信息项" in detail
    # the items asked for in clear by their titles, as the items above them, never by their column names
    name, id_number = resource.item_titles(["name", "id_number"])
    assert (name, id_number) == ("姓名", "公民身份号码")
    assert f"<dd>{name}、{id_number}</dd>" in detail
    assert f'name="clear_items" value="id_number"> {id_number}</label>' in detail
    assert "> id_number<" not in detail
    assert "、id_number" not in detail
    provider.post(f"/catalogue/sharing/{request.number}/grant/",
                  {"items": ITEMS, "clear_items": ["name"], "clear_answered": "1"})  # fmt: skip
    grant = SharingGrant.objects.get()
    assert (grant.items, grant.clear_items) == (ITEMS, ["name"])


def test_each_page_of_person_records_reads_the_persons_once_and_records_each_read_once(people):
    """Page after page through the service: exactly the granted fields (the ID number masked, the name in clear),
    one `ExchangeUse` and one exchange audit record per call, a read recorded for each person with the purpose. No page
    of uploaded rows is read for a resource backed by the registry (on PostgreSQL one was sent ahead of the grant's
    query at every call until the code was known backed), and the persons' records join the read's own transaction
    (no savepoint of their own: the one seen here is the read's, inside the test's transaction)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rongcheng.accounts.models import User

    first, second = people
    resource = _persons_resource()
    consumer = _granted(resource, clear_asked=["name"], clear_granted=["name"])
    reader = User.objects.get(department=consumer)
    grant = SharingGrant.objects.get()
    pages = []
    for call, (offset, purpose) in enumerate(((0, PURPOSE), (1, "临时救助申请审核"), (0, PURPOSE))):
        with CaptureQueriesContext(connection) as statements:
            page = services.exchange_read(resource_code=resource.code, fields=None, purpose=purpose, offset=offset,
                                          limit=1, user=reader)  # fmt: skip
        sent = [q["sql"] for q in statements.captured_queries]
        # the first call may send one ahead (this process has not yet seen the code's grant), never the later ones
        assert len([sql for sql in sent if "catalogue_resourcerow" in sql]) <= (1 if call == 0 else 0)
        assert [sql for sql in sent if sql.startswith("SAVEPOINT")] == sent[:1]
        if connection.vendor == "postgresql":
            # the page, its read record, the ExchangeUse and the exchange's record: one statement (audit_record_page
            # with the exchange's rows alongside), and no other write
            (page_sql,) = [sql for sql in sent if "registries_person" in sql]
            assert page_sql.count("INSERT INTO audit_record") == 2
            assert "INSERT INTO catalogue_exchangeuse" in page_sql
            assert [sql for sql in sent if "INSERT" in sql] == [page_sql]
        pages.append((page.fields, page.rows, page.more))
    assert pages == [
        (ITEMS, [{"id_number": "350102********0018", "name": "林则徐", "division_code": "350102"}], True),
        (ITEMS, [{"id_number": "350103********0020", "name": "沈葆桢", "division_code": "350103"}], False),
        (ITEMS, [{"id_number": "350102********0018", "name": "林则徐", "division_code": "350102"}], True),
    ]
    uses = ExchangeUse.objects.order_by("id")
    assert [(u.grant_id, u.purpose, u.rows, u.fields, u.kind) for u in uses] == [
        (grant.pk, purpose, 1, ITEMS, "query") for purpose in (PURPOSE, "临时救助申请审核", PURPOSE)
    ]
    exchange = AuditRecord.objects.filter(action="catalogue.exchange.query").order_by("id")
    assert [(a.target_id, a.purpose, a.detail) for a in exchange] == [
        (resource.code, purpose, {"rows": 1, "fields": ITEMS, "grant": grant.request.number,
                                  "personal": ["id_number", "name"], "clear": ["name"]})
        for purpose in (PURPOSE, "临时救助申请审核", PURPOSE)
    ]  # fmt: skip
    assert [(t, r.purpose, r.actor_id, r.detail) for t, r in _reads(3)] == [
        (str(person.pk), purpose, str(reader.pk), {"clear": ["name"], "via": "exchange", "department": "福州市民政局",
                                                   "grant": grant.request.number, "fields": ITEMS})
        for person, purpose in ((first, PURPOSE), (second, "临时救助申请审核"), (first, PURPOSE))
    ]  # fmt: skip


def test_a_page_of_person_records_past_the_end_still_records_the_read(people):
    """A call that reads no person (an offset past the end) is still a use of the grant and an audited read, of 0
    rows, and records no person; the chain seals it (on PostgreSQL written by the page's own statement)."""
    from rongcheng.accounts.models import User
    from rongcheng.audit.services import audit_verify

    resource = _persons_resource()
    consumer = _granted(resource, clear_asked=[], clear_granted=[])
    reader = User.objects.get(department=consumer)
    for offset, count in ((5, 0), (1, 1)):
        page = services.exchange_read(resource_code=resource.code, fields=["name"], purpose=PURPOSE, offset=offset,
                                      limit=10, user=reader)  # fmt: skip
        assert (len(page.rows), page.more) == (count, False)
    assert list(ExchangeUse.objects.order_by("id").values_list("rows", "fields")) == [(0, ["name"]), (1, ["name"])]
    exchange = AuditRecord.objects.filter(action="catalogue.exchange.query").order_by("id")
    assert [(a.target_id, a.detail["rows"], a.detail["fields"]) for a in exchange] == [
        (resource.code, 0, ["name"]),
        (resource.code, 1, ["name"]),
    ]
    assert [t for t, _r in _reads(1)] == [str(people[1].pk)]
    assert audit_verify().ok


def test_an_uploaded_resource_once_guessed_backed_still_answers_its_rows():
    """The guess that a code is backed only keeps its page of uploaded rows from being sent ahead: a wrong guess
    reads the page after the grant's query, the same rows masked the same way."""
    from rongcheng.catalogue import exchange_pages

    resource = f.resource()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=f.CSV_OK, actor=f.editor())
    asker = f.requester()
    request = services.sharing_request_submit(
        resource_code=resource.code, items=["name", "legal_person"], purpose=PURPOSE, scenario="核对",
        period_from=city_today(), period_until=city_today() + dt.timedelta(days=30), actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward())
    for as_json in (False, True, True):
        exchange_pages.backed_remember(resource.code, True)
        page = services.exchange_read(resource_code=resource.code, fields=None, purpose=PURPOSE, offset=0, limit=5,
                                      user=asker, as_json=as_json)  # fmt: skip
        assert page.rows == [{"name": "榕城科技有限公司", "legal_person": "张*"},
                             {"name": "闽江贸易有限公司", "legal_person": "李*"}]  # fmt: skip
    assert not exchange_pages.backed_guess(resource.code)
    assert ExchangeUse.objects.filter(grant__request=request).count() == 3


def test_a_page_of_every_field_reads_exactly_the_persons_it_records_masked_or_in_clear(people):
    """The registry's page for the exchange, every field, some in clear: the exact values (the stored masked forms,
    the ciphers decrypted only for the fields in clear, the address by its join), the person past the limit only
    telling that more follow, and a read recorded for each person returned, in order, none for the one past the
    limit (on PostgreSQL the page and its one record listing them are one statement, `audit_record_page`)."""
    from rongcheng.audit.services import Actor
    from rongcheng.registries.selectors import EXCHANGE_FIELDS, persons_read_for_sharing

    first, second = people
    third = make_person(name="严复")
    actor = Actor("api_client", "42", "fz-mzj-system")
    arguments: dict[str, Any] = {"actor": actor, "department": "福州市民政局", "grant": "GX0001", "purpose": PURPOSE,
                 "fields": list(EXCHANGE_FIELDS), "clear": frozenset({"phone", "address", "sex"})}  # fmt: skip
    rows, more = persons_read_for_sharing(offset=0, limit=2, **arguments)
    expected = [
        {"id_number": "350102********0018", "name": "林**", "sex": first.sex, "birth_date": "1985-**-**",
         "ethnicity": "01", "division_code": "350102", "address": "福州市鼓楼区三坊七巷1号", "phone": "13812345678",
         "status": first.status},
        {"id_number": "350103********0020", "name": "沈**", "sex": second.sex, "birth_date": "1990-**-**",
         "ethnicity": "01", "division_code": "350103", "address": "福州市鼓楼区三坊七巷1号", "phone": "13812345678",
         "status": second.status},
    ]  # fmt: skip
    assert (rows, more) == (expected, True)
    assert persons_read_for_sharing(offset=2, limit=2, **arguments)[1] is False
    assert [(t, r.actor_kind, r.actor_id, r.purpose, r.outcome, r.detail) for t, r in _reads(2)] == [
        (str(person.pk), "api_client", "42", PURPOSE, "success",
         {"clear": ["address", "phone"], "via": "exchange", "department": "福州市民政局", "grant": "GX0001",
          "fields": list(EXCHANGE_FIELDS)})
        for person in (first, second, third)
    ]  # fmt: skip


def test_a_page_of_stored_columns_only_is_built_without_a_reader_a_value(people, monkeypatch):
    """A page whose fields are all columns as stored (the ID number's stored masked form, the name in clear, the
    division code, the status) is built by one getter a row: no per-value reader is chosen, the values and the
    order of the fields are those asked, and each person's read is recorded as for any page."""
    from rongcheng.audit.services import Actor
    from rongcheng.registries import selectors

    def no_reader(*args: Any) -> Any:
        raise AssertionError("a reader a value")

    monkeypatch.setattr(selectors, "_exchange_reader", no_reader)
    first, second = people
    rows, more = selectors.persons_read_for_sharing(
        actor=Actor("api_client", "42", "fz-mzj-system"), department="福州市民政局", grant="GX0001", purpose=PURPOSE,
        fields=["status", "id_number", "name", "division_code"], clear=frozenset({"name"}), offset=0, limit=5,
    )  # fmt: skip
    assert more is False
    assert [list(row.items()) for row in rows] == [
        [("status", person.status), ("id_number", masked), ("name", person.name),
         ("division_code", person.division_code)]
        for person, masked in ((first, "350102********0018"), (second, "350103********0020"))
    ]  # fmt: skip
    assert [target for target, _record in _reads(1)] == [str(first.pk), str(second.pk)]
