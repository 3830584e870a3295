"""/api/v1/hall/: the authorization matrix of every endpoint, problem documents for every refusal, hostile input,
and query-count guards on the lists."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import services
from rongcheng.hall.models import Application, ApplicationMaterial, CalendarDay, ServiceItem, State
from rongcheng.hall.tests import factories as f

pytestmark = pytest.mark.django_db
API = "/api/v1/hall"


def token_for(user, *, scope: str) -> str:
    """A django-oauth-toolkit access token for this account (as the authorization-code flow would issue it)."""
    application = get_application_model().objects.create(
        name=f"app-{user.username}", user=user, client_type="confidential",
        authorization_grant_type="authorization-code", redirect_uris="https://app.example/cb",
    )  # fmt: skip
    value = secrets.token_urlsafe(24)
    get_access_token_model().objects.create(
        user=user, application=application, token=value, scope=scope,
        expires=timezone.now() + dt.timedelta(minutes=10),
    )  # fmt: skip
    return value


def problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    return document


@pytest.fixture
def world():
    item = f.service()
    resident, stranger = f.applicant(), f.applicant()
    officer = f.officer()
    return {"item": item, "resident": resident, "stranger": stranger, "officer": officer,
            "powerless": f.officer(can_decide=False),
            "elsewhere": f.officer(dept=f.department("FZ-MZJ", "福州市民政局"))}  # fmt: skip


def client_for(user=None, *, token_scope: str | None = None) -> Client:
    if token_scope is not None:
        return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(user, scope=token_scope)}")
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_catalogue_is_public(world):
    response = Client().get(f"{API}/services", {"q": "个体"})
    assert response.status_code == 200
    assert [s["code"] for s in response.json()] == ["GSJ-001"]
    body = Client().get(f"{API}/services/GSJ-001").json()
    assert body["department"] == "FZ-GSJ"
    assert [m["source"] for m in body["materials"]] == ["registry", "upload"]
    problem(Client().get(f"{API}/services/NOPE"), 404)


def test_a_whole_application_through_the_api(world):
    resident, officer = world["resident"], world["officer"]
    applicant = client_for(resident, token_scope="hall:apply")
    decider = client_for(officer, token_scope="hall:decide")
    started = applicant.post(f"{API}/applications", {"service": "GSJ-001"}, content_type="application/json")
    assert started.status_code == 201, started.content
    pk = started.json()["id"]
    assert started.json()["state"] == "draft"
    prefilled = applicant.post(f"{API}/applications/{pk}/prefill", {"authorize_licences": True},
                               content_type="application/json").json()  # fmt: skip
    identity = prefilled["materials"][0]
    assert identity["source"] == "registry"
    assert identity["values"]["person.name"] == {"value": "林则徐", "source": "registries:person.name", "label": "姓名"}
    assert "*" in identity["values"]["person.id_number"]["value"]
    uploaded = applicant.post(f"{API}/applications/{pk}/materials/premises", {"file": _file("lease.pdf", f.PDF)})
    assert uploaded.status_code == 200, uploaded.content
    assert uploaded.json()["file_format"] == "pdf"
    assert len(uploaded.json()["sm3"]) == 64
    saved = applicant.patch(f"{API}/applications/{pk}", {"statement": "开一家茶铺"}, content_type="application/json")
    assert saved.json()["statement"] == "开一家茶铺"
    submitted = applicant.post(f"{API}/applications/{pk}/submit").json()
    assert submitted["number"].startswith("FZ-GSJ-")
    queue = decider.get(f"{API}/workbench", {"scope": "intake"}).json()
    assert [a["id"] for a in queue["items"]] == [pk]
    for name in ("accept", "review"):
        response = decider.post(f"{API}/applications/{pk}/transitions", {"transition": name},
                                content_type="application/json")  # fmt: skip
        assert response.status_code == 200, response.content
    again = decider.post(
        f"{API}/applications/{pk}/transitions", {"transition": "accept"}, content_type="application/json"
    )
    assert problem(again, 409)["type"].endswith("/hall-transition-not-allowed")
    problem(decider.post(f"{API}/applications/{pk}/transitions", {"transition": "publish"},
                         content_type="application/json"), 422)  # fmt: skip
    problem(decider.post(f"{API}/applications/{pk}/transitions", {"transition": "resubmit"},
                         content_type="application/json"), 422)  # fmt: skip
    returned = decider.post(f"{API}/applications/{pk}/transitions",
                            {"transition": "return_for_correction", "reason": "租赁合同未签字"},
                            content_type="application/json").json()  # fmt: skip
    assert returned["state"] == "correction"
    assert returned["clock_stopped_on"] is not None
    resubmitted = applicant.post(f"{API}/applications/{pk}/resubmit", {"statement": "已补签"},
                                 content_type="application/json").json()  # fmt: skip
    assert resubmitted["state"] == "under_review"
    for name in ("approve", "conclude"):
        decider.post(f"{API}/applications/{pk}/transitions", {"transition": name}, content_type="application/json")
    detail = applicant.get(f"{API}/applications/{pk}").json()
    assert detail["state"] == "concluded"
    assert [e["transition"] for e in detail["timeline"]] == [
        "start", "submit", "accept", "review", "return_for_correction", "resubmit", "approve", "conclude"]  # fmt: skip
    rating = applicant.post(f"{API}/applications/{pk}/rating", {"level": 1, "comment": "慢"},
                            content_type="application/json")  # fmt: skip
    assert rating.status_code == 201
    assert rating.json()["follow_up_opened"] is True
    follow_ups = decider.get(f"{API}/follow-ups").json()
    assert [x["application"] for x in follow_ups] == [pk]
    answered = decider.post(f"{API}/follow-ups/{follow_ups[0]['id']}/answer", {"answer": "已改进"},
                            content_type="application/json")  # fmt: skip
    assert answered.status_code == 200
    inbox = applicant.get(f"{API}/messages").json()
    assert any("已改进" in m["text"] for m in inbox)
    assert applicant.post(f"{API}/messages/{inbox[0]['id']}/read").status_code == 204
    assert applicant.get(f"{API}/messages").json()[0]["read_at"] is not None
    assert decider.post(f"{API}/messages/{inbox[1]['id']}/read").status_code == 403


def _file(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


@pytest.fixture
def draft(world):
    application = services.application_start(user=world["resident"], service_code="GSJ-001")
    services.application_prefill(user=world["resident"], application_id=application.pk, authorize_licences=False)
    return application


def test_the_applicant_deletes_a_draft_through_the_api_and_only_a_draft_of_theirs(world, draft):
    other = client_for(f.applicant(), token_scope="hall:apply")
    assert other.delete(f"{API}/applications/{draft.pk}").status_code == 404
    assert Application.objects.filter(pk=draft.pk).exists()
    applicant = client_for(world["resident"], token_scope="hall:apply")
    assert applicant.delete(f"{API}/applications/{draft.pk}").status_code == 204
    assert not Application.objects.filter(pk=draft.pk).exists()
    assert applicant.delete(f"{API}/applications/{draft.pk}").status_code == 404
    submitted = f.submitted(world["resident"], world["item"])
    refused = applicant.delete(f"{API}/applications/{submitted.pk}")
    assert refused.status_code == 409
    assert Application.objects.filter(pk=submitted.pk, state=State.SUBMITTED).exists()


def test_officers_do_not_see_drafts_through_any_scope_or_state(world, draft):
    """A draft (and the registry data prefilled into it) is its applicant's until it is submitted."""
    officer = world["officer"]
    draft.window_id = officer.department_id
    draft.save(update_fields=["window"])
    for as_officer in (client_for(officer), client_for(officer, token_scope="hall:decide")):
        for scope in ("department", "window", "intake", "countersign"):
            for state in ("", "draft"):
                listed = as_officer.get(f"{API}/workbench", {"scope": scope, "state": state} if state else
                                        {"scope": scope})  # fmt: skip
                assert listed.status_code == 200, listed.content.decode()
                assert [row["id"] for row in listed.json()["items"]] == []
        problem(as_officer.get(f"{API}/workbench/applications/{draft.pk}"), 404)
    applicant = client_for(world["resident"])
    applicant.post(f"{API}/applications/{draft.pk}/materials/premises", {"file": _file("lease.pdf", f.PDF)})
    services.application_submit(user=world["resident"], application_id=draft.pk)
    listed = client_for(officer).get(f"{API}/workbench", {"scope": "department", "state": "submitted"}).json()
    assert [row["id"] for row in listed["items"]] == [draft.pk]


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("lease.pdf", b"MZ\x90\x00 this is a windows program", "upload.format"),  # executable named .pdf
        ("lease.pdf", b"GIF89a" + b"\x00" * 20, "upload.format"),  # a format the material does not accept
        ("lease.png", f.PDF, "upload.extension"),  # name and content disagree
        ("lease.pdf", b"%PDF-" + b"0" * 2000, "upload.size"),  # over the material's 1 KiB
        ("empty.pdf", b"", "upload.empty"),
    ],
)
def test_hostile_uploads_are_refused_and_nothing_is_stored(world, draft, name, content, rule):
    client = client_for(world["resident"])
    audits = AuditRecord.objects.count()
    response = client.post(f"{API}/applications/{draft.pk}/materials/premises", {"file": _file(name, content)})
    document = problem(response, 422)
    assert [e["rule"] for e in document["errors"]] == [rule]
    assert not ApplicationMaterial.objects.filter(application=draft, code="premises").exists()
    assert AuditRecord.objects.count() == audits


def test_uploads_only_for_upload_materials(world, draft):
    response = client_for(world["resident"]).post(
        f"{API}/applications/{draft.pk}/materials/identity", {"file": _file("x.pdf", f.PDF)}
    )
    assert problem(response, 422)["errors"][0]["rule"] == "material.not_upload"


def test_below_the_assurance_level_is_refused_with_a_problem(world):
    weak = f.applicant(level=1)
    response = client_for(weak).post(f"{API}/applications", {"service": "GSJ-001"}, content_type="application/json")
    document = problem(response, 403)
    assert document["type"].endswith("/hall-assurance-too-low")
    assert document["required_level"] == 2
    assert not Application.objects.exists()


def test_a_deadline_on_the_calendar_through_the_api(world, monkeypatch):
    from django.contrib.auth import get_user_model

    from rongcheng.hall import calendar as working

    clerk = world["officer"]
    clerk.user_permissions.add(Permission.objects.get(codename="change_calendarday"))
    clerk = get_user_model().objects.get(pk=clerk.pk)
    client = client_for(clerk)
    response = client.put(
        f"{API}/calendar/2026-12-25", {"kind": "holiday", "name": "测试"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    problem(client.put(f"{API}/calendar/2026-12-23", {"kind": "workday"}, content_type="application/json"), 422)
    monkeypatch.setattr(working, "today", lambda: dt.date(2026, 12, 24))
    application = f.walk(f.submitted(world["resident"], f.service("GSJ-003", statutory_days=1, promised_days=1)),
                         world["officer"], "accept")  # fmt: skip
    assert application.deadline == dt.date(2026, 12, 28)  # not Friday 25th (holiday) nor the weekend
    assert [d["date"] for d in Client().get(f"{API}/calendar", {"year": 2026}).json()] == ["2026-12-25"]
    assert client.delete(f"{API}/calendar/2026-12-25").status_code == 204
    assert not CalendarDay.objects.exists()


# ── the authorization matrix ──────────────────────────────────────────────────────────────────────────────────────

CALLERS = ("anonymous", "resident", "resident_token", "resident_wrong_scope", "stranger", "powerless", "officer",
           "officer_token", "elsewhere")  # fmt: skip


def _caller(world, name: str) -> Client:
    return {
        "anonymous": lambda: Client(),
        "resident": lambda: client_for(world["resident"]),
        "resident_token": lambda: client_for(world["resident"], token_scope="hall:apply"),
        "resident_wrong_scope": lambda: client_for(world["resident"], token_scope="registries:read"),
        "stranger": lambda: client_for(world["stranger"]),
        "powerless": lambda: client_for(world["powerless"]),
        "officer": lambda: client_for(world["officer"]),
        "officer_token": lambda: client_for(world["officer"], token_scope="hall:decide"),
        "elsewhere": lambda: client_for(world["elsewhere"]),
    }[name]()


# endpoint -> expected status for each caller in CALLERS order
MATRIX: dict[str, tuple[int, ...]] = {
    "GET /applications":                    (401, 200, 200, 403, 200, 200, 200, 403, 200),
    "GET /applications/{pk}":               (401, 200, 200, 403, 404, 404, 404, 403, 404),
    "PATCH /applications/{pk}":             (401, 409, 409, 403, 404, 404, 404, 403, 404),
    "POST /applications/{pk}/submit":       (401, 409, 409, 403, 404, 404, 404, 403, 404),
    "POST /applications/{pk}/rating":       (401, 409, 409, 403, 404, 404, 404, 403, 404),
    "GET /messages":                        (401, 200, 200, 403, 200, 200, 200, 403, 200),
    "GET /workbench":                       (401, 403, 403, 403, 403, 403, 200, 200, 200),
    "GET /workbench/applications/{pk}":     (401, 403, 403, 403, 403, 403, 200, 200, 404),
    "POST /applications/{pk}/transitions":  (401, 403, 403, 403, 403, 403, 200, 409, 403),
    "GET /follow-ups":                      (401, 403, 403, 403, 403, 403, 200, 200, 200),
    "PUT /calendar/2027-03-01":             (401, 403, 403, 403, 403, 403, 403, 403, 403),
    "POST /applications":                   (401, 201, 201, 403, 201, 403, 403, 403, 403),
    "POST /applications/{pk}/prefill":      (401, 409, 409, 403, 404, 404, 404, 403, 404),
    "POST /applications/{pk}/resubmit":     (401, 409, 409, 403, 404, 404, 404, 403, 404),
    "POST /applications/{pk}/countersign":  (401, 403, 403, 403, 403, 403, 409, 409, 409),
    "POST /follow-ups/999/answer":          (401, 403, 403, 403, 403, 403, 404, 404, 404),
    "DELETE /calendar/2027-03-01":          (401, 403, 403, 403, 403, 403, 403, 403, 403),
    "GET /services":                        (200, 200, 200, 200, 200, 200, 200, 200, 200),
}  # fmt: skip


BODIES: dict[str, dict[str, Any]] = {
    "PATCH /applications/{pk}": {"statement": "x"},
    "POST /applications/{pk}/rating": {"level": 5},
    "POST /applications/{pk}/transitions": {"transition": "review"},
    "PUT /calendar/2027-03-01": {"kind": "holiday"},
    "POST /applications": {"service": "GSJ-001"},
    "POST /applications/{pk}/countersign": {"agree": True},
    "POST /follow-ups/999/answer": {"answer": "x"},
}


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_authorization_matrix(world, endpoint):
    application = f.submitted(world["resident"], world["item"])
    f.walk(application, world["officer"], "accept")  # accepted: the other department's window no longer sees it
    method, path = endpoint.split(" ")
    path = path.replace("{pk}", str(application.pk))
    body = BODIES.get(endpoint, {})
    statuses = []
    for name in CALLERS:
        client = _caller(world, name)
        call = getattr(client, method.lower())
        kwargs = {"content_type": "application/json"} if method != "GET" else {}
        response = call(f"{API}{path}", body, **kwargs) if method != "GET" else call(f"{API}{path}")
        if response.status_code >= 400:
            assert response["Content-Type"] == "application/problem+json", (name, response.content)
        statuses.append(response.status_code)
    assert tuple(statuses) == MATRIX[endpoint], dict(zip(CALLERS, statuses, strict=True))


# ── query-count guards ────────────────────────────────────────────────────────────────────────────────────────────


def test_lists_take_a_constant_number_of_queries(world):
    resident, officer = world["resident"], world["officer"]
    client_applicant, client_officer = client_for(resident), client_for(officer)
    f.submitted(resident, world["item"])
    client_applicant.get(f"{API}/applications")  # warm: permission cache, session
    client_officer.get(f"{API}/workbench")
    counts = []
    for extra in (0, 5):
        for _ in range(extra):
            f.submitted(resident, world["item"])
        with CaptureQueriesContext(connection) as mine:
            assert client_applicant.get(f"{API}/applications").status_code == 200
        with CaptureQueriesContext(connection) as queue:
            assert client_officer.get(f"{API}/workbench", {"state": State.SUBMITTED}).status_code == 200
        counts.append((len(mine), len(queue)))
    assert counts[0] == counts[1]
    assert counts[0][0] <= 6  # session, account, page of applications with their services and departments


def test_a_department_maintains_its_own_catalogue_only(world):
    maintainer = f.officer(can_decide=False)
    maintainer.user_permissions.add(Permission.objects.get(content_type__app_label="hall", codename="manage_catalogue"))
    client = client_for(type(maintainer).objects.get(pk=maintainer.pk))
    operator = {"code": "operator", "name": "经营者", "source": "registry", "fields": ["person.name"]}
    body = {"name": "食品小作坊登记", "department": "FZ-GSJ", "kind": "licensing", "statutory_days": 10,
            "legal_basis": "《福建省食品小作坊监督管理规定》", "promised_days": 5, "materials": [operator]}  # fmt: skip
    response = client.put(f"{API}/services/GSJ-XZF-001", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["materials"][0]["fields"] == ["person.name"]
    elsewhere = client.put(
        f"{API}/services/MZJ-X-001", {**body, "department": "FZ-MZJ"}, content_type="application/json"
    )
    problem(elsewhere, 403)
    fax = {**body, "materials": [{"code": "x", "name": "x", "source": "fax"}]}
    bad = client.put(f"{API}/services/GSJ-XZF-002", fax, content_type="application/json")
    assert problem(bad, 422)["errors"][0]["rule"] == "material.source"
    decider = client_for(world["officer"])
    problem(decider.put(f"{API}/services/GSJ-XZF-003", body, content_type="application/json"), 403)
    assert not ServiceItem.objects.filter(code__in=["MZJ-X-001", "GSJ-XZF-002", "GSJ-XZF-003"]).exists()
