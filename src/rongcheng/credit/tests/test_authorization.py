"""The authorization matrix of every endpoint of /api/v1/credit/ and every page of /credit/: each caller gets exactly
the status shown; a refused call changes nothing (every credit table, and the states in them, as before)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rongcheng.credit import selectors, services
from rongcheng.credit.models import (
    ListEntry,
    Measure,
    Memorandum,
    ProblemRow,
    Record,
    RepairRequest,
    Report,
    Subject,
)
from rongcheng.credit.tests import factories as cf
from rongcheng.hall.tests.test_api import client_for
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.registries.services import person_index_for
from rongcheng.registries.tests.factories import resident

pytestmark = pytest.mark.django_db
API = "/api/v1/credit"
TODAY = dt.date(2026, 12, 4)
PERSON_CODE = "350103199001010020"


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
    person.id_number_index = person_index_for(PERSON_CODE)
    person.save()
    company_record = services.record_report(user=reporter, data=cf.PENALTY)
    mine = services.record_report(
        user=reporter,
        data={**cf.PENALTY, "subject_kind": "person", "subject_code": PERSON_CODE, "subject_name": "陈小明",
              "legal_representative": "", "legal_representative_id": "", "document_number": "榕市监罚〔2026〕99号"},
    )  # fmt: skip
    entry = cf.listed(office, code="91350100MA2XN1Y057", name="福州某某食品有限公司")
    with pytest.raises(ValidationFailed):
        services.record_report(user=reporter, data={**cf.PENALTY, "decided_on": "2027-01-01"}, intake="api")
    problem_row = ProblemRow.objects.get()
    repair = services.repair_request(user=person, record_id=mine.pk, statement="已缴清罚款", materials="缴款凭证")
    report = services.report_generate(user=person, subject_id=mine.subject_id)
    return {"office": office, "reporter": reporter, "person": person, "company_record": company_record,
            "mine": mine, "entry": entry, "problem": problem_row, "repair": repair, "report": report}  # fmt: skip


def snapshot() -> list[Any]:
    """Every row of every credit table with the columns a write would change."""
    return [
        list(Subject.objects.order_by("id").values_list("id", "name")),
        list(Record.objects.order_by("id").values_list("id", "repaired_at", "public_until")),
        list(ProblemRow.objects.order_by("id").values_list("id", "state")),
        list(Memorandum.objects.order_by("id").values_list("id", "title", "list_type")),
        list(Measure.objects.order_by("id").values_list("id", "text")),
        list(ListEntry.objects.order_by("id").values_list("id", "removed_on", "removal_reason")),
        list(RepairRequest.objects.order_by("id").values_list("id", "state", "version")),
        list(Report.objects.order_by("id").values_list("id", "number")),
    ]


# Callers of the API: no token; a resident with the applicant's scope; the reporting department with its scope;
# the credit office with its scope; and each staff account holding the other one's scope.
CALLERS: dict[str, tuple[str | None, str | None]] = {
    "anonymous": (None, None),
    "person": ("person", "hall:apply"),
    "reporter": ("reporter", "credit:report"),
    "office": ("office", "credit:office"),
    "reporter-as-office": ("reporter", "credit:office"),
    "office-as-reporter": ("office", "credit:report"),
}


def _csv(text: str) -> dict[str, Any]:
    return {"file": SimpleUploadedFile("rows.csv", text.encode(), content_type="text/csv")}


def _endpoints(w: dict[str, Any]) -> list[tuple[str, Callable[[Client], Any], dict[str, int]]]:
    """(name, call, status per caller); callers not named get the default of the endpoint's group."""
    record = {**cf.PENALTY, "document_number": "API-MATRIX"}
    entry = {"list_type": "black", "list_name": "失信被执行人", "subject_code": "92350102MA31GX2B31",
             "subject_name": "福州某个体户", "department": "FZ-GSJ", "legal_basis": "依据", "memorandum": "MEMO-SX",
             "listed_on": "2026-12-01"}  # fmt: skip
    memo = {"title": "A级纳税人联合激励", "list_type": "red", "signed_on": "2016-07-01",
            "measures": [{"code": "R1", "text": "绿色通道"}]}  # fmt: skip
    public = dict.fromkeys(CALLERS, 200)
    report_group = {"anonymous": 401, "person": 403, "reporter": 0, "office": 403, "reporter-as-office": 403,
                    "office-as-reporter": 403}  # fmt: skip
    office_group = {"anonymous": 401, "person": 403, "reporter": 403, "office": 0, "reporter-as-office": 403,
                    "office-as-reporter": 403}  # fmt: skip
    subject_group = {"anonymous": 401, "person": 0, "reporter": 403, "office": 403, "reporter-as-office": 403,
                     "office-as-reporter": 403}  # fmt: skip
    json = "application/json"
    return [
        ("search", lambda c: c.get(f"{API}/subjects", {"q": "福州某某"}), public),
        ("subject", lambda c: c.get(f"{API}/subjects/{w['mine'].subject_id}"), public),
        ("report verification", lambda c: c.get(f"{API}/reports/{w['report'].number}"), public),
        ("kept report verification", lambda c: c.post(
            f"{API}/report-verifications", {"content": w["report"].content, "key_id": w["report"].key_id,
                                            "signature": "AAAA"}, content_type=json), public),
        ("report a record", lambda c: c.post(f"{API}/records", record, content_type=json),
         {**report_group, "reporter": 201}),
        ("report a file", lambda c: c.post(f"{API}/records/file", _csv("kind\npenalty\n")),
         {**report_group, "reporter": 200}),
        ("problem queue", lambda c: c.get(f"{API}/problems"), {**report_group, "reporter": 200}),
        ("resolve a problem", lambda c: c.post(f"{API}/problems/{w['problem'].pk}/resolution"),
         {**report_group, "reporter": 200}),
        ("statistics", lambda c: c.get(f"{API}/statistics"),
         {**report_group, "reporter": 200, "office-as-reporter": 200}),
        ("save a memorandum", lambda c: c.put(f"{API}/memoranda/MEMO-A", memo, content_type=json),
         {**office_group, "office": 200}),
        ("add a list entry", lambda c: c.post(f"{API}/list-entries", entry, content_type=json),
         {**office_group, "office": 201}),
        ("remove a list entry", lambda c: c.post(f"{API}/list-entries/{w['entry'].number}/removal",
                                                  {"removed_on": "2026-12-03", "reason": "已履行"}, content_type=json),
         {**office_group, "office": 200}),
        ("screen a file", lambda c: c.post(f"{API}/screenings", _csv("name,code\n某公司,91350100MA2XN1Y057\n")),
         {**office_group, "office": 200, "reporter-as-office": 200}),
        ("decide a repair", lambda c: c.post(f"{API}/repairs/{w['repair'].pk}/transitions",
                                             {"transition": "reject", "reason": "材料不全"}, content_type=json),
         {**office_group, "office": 200}),
        ("own record", lambda c: c.get(f"{API}/mine"), {**subject_group, "person": 200}),
        ("ask for a repair", lambda c: c.post(f"{API}/repairs", {"record_id": w["company_record"].pk,
                                                                "statement": "x", "materials": "y"},
                                              content_type=json), {**subject_group, "person": 404}),
        ("ask for a report", lambda c: c.post(f"{API}/subjects/{w['mine'].subject_id}/reports"),
         {**subject_group, "person": 201}),
    ]  # fmt: skip


def test_every_api_endpoint_answers_each_caller_as_the_matrix_says(world):
    clients = {}
    for name, (who, scope) in CALLERS.items():
        clients[name] = Client() if who is None else client_for(world[who], token_scope=scope)
    for endpoint, call, statuses in _endpoints(world):
        assert set(statuses) == set(CALLERS), endpoint
        # The refusals first: each changes nothing; then the one allowed caller acts.
        for caller in sorted(CALLERS, key=lambda c: statuses[c] < 400):
            before = snapshot()
            response = call(clients[caller])
            assert response.status_code == statuses[caller], (endpoint, caller, response.content[:300])
            if response.status_code >= 400:
                assert response["Content-Type"] == "application/problem+json", (endpoint, caller)
                assert snapshot() == before, (endpoint, caller)


PAGES: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    # (method, url, form, status per signed-in role); anonymous: GET public pages 200, everything else to sign-in.
    ("get", "/credit/", None, {"person": 200, "reporter": 200, "office": 200}),
    ("get", "/credit/subjects/{subject}/", None, {"person": 200, "reporter": 200, "office": 200}),
    ("get", "/credit/reports/{report}/", None, {"person": 200, "reporter": 200, "office": 200}),
    ("get", "/credit/mine/", None, {"person": 200, "reporter": 200, "office": 200}),
    ("get", "/credit/department/", None, {"person": 403, "reporter": 200, "office": 403}),
    ("post", "/credit/department/", {"kind": "penalty"}, {"person": 403, "reporter": 302, "office": 403}),
    ("post", "/credit/department/file/", {}, {"person": 403, "reporter": 302, "office": 403}),
    ("post", "/credit/department/problems/{problem}/resolve/", {}, {"person": 403, "reporter": 302, "office": 403}),
    ("get", "/credit/statistics/", None, {"person": 403, "reporter": 200, "office": 200}),
    ("get", "/credit/screening/", None, {"person": 403, "reporter": 200, "office": 200}),
    ("get", "/credit/office/", None, {"person": 403, "reporter": 403, "office": 200}),
    (
        "post",
        "/credit/office/",
        {"action": "remove", "number": "{entry}", "removed_on": "2026-12-03", "reason": "已履行"},
        {"person": 403, "reporter": 403, "office": 302},
    ),
    (
        "post",
        "/credit/office/repairs/{repair}/",
        {"transition": "reject", "reason": "材料不全"},
        {"person": 302, "reporter": 302, "office": 302},
    ),
    (
        "post",
        "/credit/mine/records/{record}/repair/",
        {"statement": "x", "materials": "y"},
        {"person": 302, "reporter": 302, "office": 302},
    ),
    ("post", "/credit/mine/subjects/{subject}/report/", {}, {"person": 302, "reporter": 302, "office": 302}),
]


def test_every_page_answers_each_role_and_a_refused_post_changes_nothing(world):
    values = {
        "subject": world["mine"].subject_id,
        "report": world["report"].number,
        "problem": world["problem"].pk,
        "entry": world["entry"].number,
        "repair": world["repair"].pk,
        "record": world["company_record"].pk,
    }
    public = {"/credit/", "/credit/subjects/{subject}/", "/credit/reports/{report}/"}
    for method, pattern, form, statuses in PAGES:
        url = pattern.format(**values)
        data = {k: str(v).format(**values) for k, v in (form or {}).items()}
        before = snapshot()
        anonymous = getattr(Client(), method)(url, data) if form is not None else Client().get(url)
        assert anonymous.status_code == (200 if pattern in public else 302), (url, "anonymous")
        if pattern not in public:
            assert anonymous["Location"].startswith("/account/sign-in/"), url
        assert snapshot() == before, (url, "anonymous")
        for role in ("person", "reporter", "office"):
            client = client_for(world[role])
            before = snapshot()
            response = getattr(client, method)(url, data) if form is not None else client.get(url)
            assert response.status_code == statuses[role], (url, role)
            if response.status_code == 403:
                assert snapshot() == before, (url, role)
    # The redirects of the POSTs above were refusals (a message on the next page) for every account that is not the
    # owner or the office: the repair of the company's record (not the person's), the person's report asked by the
    # department, the repair decided by the person or the department. What was done: the office rejected the
    # repair and removed the entry.
    assert RepairRequest.objects.get().state == "rejected"
    assert RepairRequest.objects.count() == 1
    assert ListEntry.objects.get().removed_on == dt.date(2026, 12, 3)
    # Reports: the fixture's, the person's own from the page, and the credit office's (it may report on any subject);
    # the reporting department's request was refused.
    assert [r.requested_by.username for r in Report.objects.order_by("id")] == ["chen", "chen", "xyb"]
