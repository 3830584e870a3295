"""Public credit over HTTP: the pages and /api/v1/credit/, with the authorization matrix of every endpoint and page;
the hall's check refused through the API too."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from rongcheng.credit import selectors, services
from rongcheng.credit.models import ListEntry, Memorandum, Record, RepairRequest, Report
from rongcheng.credit.tests import factories as cf
from rongcheng.hall.models import Application, ApplicationCheck
from rongcheng.hall.tests.test_api import client_for, problem
from rongcheng.registries.services import person_index_for
from rongcheng.registries.tests.factories import resident

pytestmark = pytest.mark.django_db
API = "/api/v1/credit"
TODAY = dt.date(2026, 12, 4)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(services, "city_today", lambda: TODAY)
    monkeypatch.setattr(selectors, "city_today", lambda: TODAY)


@pytest.fixture
def world():
    office = cf.office()
    reporter = cf.reporter()
    cf.memorandum(user=office)
    person = resident("chen")
    person.id_number_index = person_index_for("350103199001010020")
    person.save()
    record = services.record_report(user=reporter, data=cf.PENALTY)
    mine = services.record_report(
        user=reporter,
        data={**cf.PENALTY, "subject_kind": "person", "subject_code": "350103199001010020", "subject_name": "陈小明",
              "legal_representative": "", "legal_representative_id": "", "document_number": "榕市监罚〔2026〕99号"},
    )  # fmt: skip
    entry = cf.listed(office, code="91350100MA2XN1Y057", name="福州某某食品有限公司")
    return {"office": office, "reporter": reporter, "person": person, "record": record, "mine": mine,
            "entry": entry, "stranger": resident("stranger")}  # fmt: skip


def test_public_search_and_subject_page_mask_persons(world):
    response = Client().get("/credit/", {"q": "陈小"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "陈**" in body
    assert "陈小明" not in body
    assert "350103********0020" in body
    subject_id = world["mine"].subject_id
    page = Client().get(f"/credit/subjects/{subject_id}/").content.decode()
    assert "榕市监罚〔2026〕99号" in page
    assert "陈小明" not in page
    assert "350103199001010020" not in page
    company = Client().get(f"/credit/subjects/{world['record'].subject_id}/").content.decode()
    assert "失信被执行人" in company
    assert "福州某某食品有限公司" in company
    api = Client().get(f"{API}/subjects", {"q": "91350100MA2XN1Y057"}).json()
    assert [(s["name"], s["code"]) for s in api] == [("福州某某食品有限公司", "91350100MA2XN1Y057")]
    detail = Client().get(f"{API}/subjects/{subject_id}").json()
    assert detail["subject"] == {"id": subject_id, "kind": "person", "name": "陈**", "code": "350103********0020"}
    assert [r["document_number"] for r in detail["records"]] == ["榕市监罚〔2026〕99号"]


def test_api_reporting_needs_the_scope_and_the_permission_and_refuses_bad_input(world):
    body = {**cf.PENALTY, "document_number": "API-1"}
    problem(Client().post(f"{API}/records", body, content_type="application/json"), 401)
    for user, scope in ((world["reporter"], "hall:decide"), (world["office"], "credit:report")):
        refused_client = client_for(user, token_scope=scope)
        problem(refused_client.post(f"{API}/records", body, content_type="application/json"), 403)
    reporter = client_for(world["reporter"], token_scope="credit:report")
    before = Record.objects.count()
    refused = problem(reporter.post(f"{API}/records", {**body, "subject_code": "91350100MA2XN1Y058"},
                                    content_type="application/json"), 422)  # fmt: skip
    assert refused["type"].endswith("/credit-record-invalid")
    future = problem(reporter.post(f"{API}/records", {**body, "decided_on": "2026-12-31"},
                                   content_type="application/json"), 422)  # fmt: skip
    assert [e["rule"] for e in future["errors"]] == ["decided_on.future"]
    assert Record.objects.count() == before
    created = reporter.post(f"{API}/records", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["document_number"] == "API-1"
    assert created.json()["late"] is True  # decided 2026-11-20: due by 2026-12-01
    problems = reporter.get(f"{API}/problems").json()
    assert [p["errors"][0]["rule"] for p in problems] == ["decided_on.future", "credit_code.check"]


def test_pages_are_for_their_roles(world):
    matrix = {
        "/credit/department/": {"reporter": 200, "office": 403, "person": 403},
        "/credit/office/": {"reporter": 403, "office": 200, "person": 403},
        "/credit/statistics/": {"reporter": 200, "office": 200, "person": 403},
        "/credit/screening/": {"reporter": 200, "office": 200, "person": 403},
        "/credit/mine/": {"reporter": 200, "office": 200, "person": 200},
    }
    for url, by_role in matrix.items():
        assert Client().get(url).status_code == 302, url  # to the sign-in page
        for role, status in by_role.items():
            assert client_for(world[role]).get(url).status_code == status, (url, role)


def test_api_office_endpoints_are_for_the_credit_office(world):
    entry = {"list_type": "black", "list_name": "失信被执行人", "subject_code": "92350102MA31GX2B31",
             "subject_name": "福州某个体户", "department": "FZ-GSJ", "legal_basis": "依据", "memorandum": "MEMO-SX",
             "listed_on": "2026-12-01"}  # fmt: skip
    not_office = client_for(world["reporter"], token_scope="credit:office")
    problem(not_office.post(f"{API}/list-entries", entry, content_type="application/json"), 403)
    office = client_for(world["office"], token_scope="credit:office")
    created = office.post(f"{API}/list-entries", entry, content_type="application/json")
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    removed = office.post(f"{API}/list-entries/{number}/removal", {"removed_on": "2026-12-03", "reason": "履行"},
                          content_type="application/json")  # fmt: skip
    assert removed.json()["removed_on"] == "2026-12-03"
    memo = office.put(f"{API}/memoranda/MEMO-A", {"title": "A级纳税人联合激励", "list_type": "red",
                                                  "signed_on": "2016-07-01",
                                                  "measures": [{"code": "R1", "text": "绿色通道"}]},
                      content_type="application/json")  # fmt: skip
    assert memo.json()["measures"] == [{"code": "R1", "text": "绿色通道"}]
    assert Memorandum.objects.count() == 2
    assert ListEntry.objects.count() == 2


def test_repair_through_pages_refuses_another_subjects_record(world):
    person = client_for(world["person"])
    other = world["record"]
    response = person.post(f"/credit/mine/records/{other.pk}/repair/", {"statement": "已整改", "materials": "凭证"})
    assert response.status_code == 302
    assert RepairRequest.objects.count() == 0
    api = client_for(world["person"], token_scope="hall:apply")
    problem(api.post(f"{API}/repairs", {"record_id": other.pk, "statement": "x", "materials": "y"},
                     content_type="application/json"), 404)  # fmt: skip
    person.post(f"/credit/mine/records/{world['mine'].pk}/repair/", {"statement": "已整改", "materials": "缴款凭证"})
    request = RepairRequest.objects.get()
    office = client_for(world["office"])
    office.post(f"/credit/office/repairs/{request.pk}/", {"transition": "approve"})
    assert RepairRequest.objects.get().state == "approved"
    assert "榕市监罚〔2026〕99号" not in Client().get(f"/credit/subjects/{world['mine'].subject_id}/").content.decode()
    assert "榕市监罚〔2026〕99号" in person.get("/credit/mine/").content.decode()
    own = client_for(world["person"], token_scope="hall:apply").get(f"{API}/mine").json()
    assert [r["document_number"] for r in own[0]["records"]] == ["榕市监罚〔2026〕99号"]
    assert own[0]["repaired"] == [world["mine"].pk]
    problem(Client().get(f"{API}/mine"), 401)


def test_a_report_from_the_subject_page_verifies_publicly(world):
    person = client_for(world["person"])
    response = person.post(f"/credit/mine/subjects/{world['mine'].subject_id}/report/")
    report = Report.objects.get()
    assert response["Location"] == f"/credit/reports/{report.number}/"
    page = Client().get(response["Location"]).content.decode()
    assert 'data-verdict="authentic"' in page
    assert "<svg" in page
    assert "陈小明" not in page
    api = Client().get(f"{API}/reports/{report.number}").json()
    assert api["authentic"] is True
    assert api["content"]["subject"]["name"] == "陈**"
    Report.objects.filter(pk=report.pk).update(content={**report.content, "records": []})
    assert 'data-verdict="tampered"' in Client().get(response["Location"]).content.decode()
    problem(client_for(world["stranger"], token_scope="hall:apply").post(
        f"{API}/subjects/{world['mine'].subject_id}/reports"), 404)  # fmt: skip


def test_the_hall_check_cannot_be_skipped_through_the_api(world):
    from rongcheng.hall import services as hall
    from rongcheng.hall.tests.entities import SERVICE, setup_company

    company = setup_company()
    entity = company["entity"]
    cf.listed(world["office"], code=entity.credit_code, name=entity.name)
    agent = company["agent"]
    application = hall.application_start(user=agent, service_code=SERVICE, credit_code=entity.credit_code)
    hall.application_prefill(user=agent, application_id=application.pk, authorize_licences=True)
    hall.application_submit(user=agent, application_id=application.pk)
    api = client_for(company["officer"], token_scope="hall:decide")
    url = f"/api/v1/hall/applications/{application.pk}/transitions"
    refused = problem(api.post(url, {"transition": "accept"}, content_type="application/json"), 422)
    assert {e["rule"] for e in refused["errors"]} == {"check.unrecorded"}
    assert Application.objects.get(pk=application.pk).state == "submitted"
    checks = api.get(f"/api/v1/hall/workbench/applications/{application.pk}/checks").json()
    assert [c["measure_code"] for c in checks] == ["M1", "M2"]
    for check in checks:
        recorded = api.post(f"/api/v1/hall/workbench/applications/{application.pk}/checks/{check['id']}",
                            {"applied": True}, content_type="application/json")  # fmt: skip
        assert recorded.status_code == 200, recorded.content
    assert api.post(url, {"transition": "accept"}, content_type="application/json").status_code == 200
    assert ApplicationCheck.objects.filter(recorded_at__isnull=False).count() == 2
    # The officer's page shows the recorded measures.
    page = client_for(company["officer"]).get(f"/hall/workbench/{application.pk}/").content.decode()
    assert "限制参与政府采购" in page
    assert "联合奖惩核查" in page


def test_a_kept_report_verifies_by_post_and_a_changed_one_does_not(world):
    import base64

    report = services.report_generate(user=world["office"], subject_id=world["record"].subject_id)
    body = {"content": report.content, "key_id": report.key_id,
            "signature": base64.b64encode(bytes(report.signature)).decode()}  # fmt: skip
    answer = Client().post(f"{API}/report-verifications", body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"authentic": True}
    changed = {**body, "content": {**report.content, "lists": []}}
    assert Client().post(f"{API}/report-verifications", changed, content_type="application/json").json() == {
        "authentic": False
    }
