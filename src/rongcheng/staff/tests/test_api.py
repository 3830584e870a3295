"""/api/v1/staff/: the authorization matrix (sessions and bearer tokens with the `staff:admin` scope), the actions,
and hostile input refused as problem documents with nothing changed and the refusal audited."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, get_application_model, set_token_value

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.staff.models import Duty, RoleAssignment
from rongcheng.staff.services import role_grant
from rongcheng.staff.tests.factories import (
    administrator,
    audit_role,
    bare_staff,
    department,
    other_department,
    police_role,
    resident,
)

pytestmark = pytest.mark.django_db
API = "/api/v1/staff"


def bearer(user: User, scope: str) -> dict[str, str]:
    """An access token as the authorization-code flow issues it to a signed-in administrator's tool."""
    Application = get_application_model()
    application = Application.objects.create(
        name=f"tool-{user.username}", user=user, client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE, redirect_uris="https://tool.example/cb",
    )  # fmt: skip
    raw = secrets.token_urlsafe(32)
    token = AccessToken(user=user, application=application, scope=scope,
                        expires=timezone.now() + dt.timedelta(minutes=10))  # fmt: skip
    set_token_value(token, raw)
    token.save()
    return {"Authorization": f"Bearer {raw}"}


class Caller:
    def __init__(self, user: User | None, *, token_scope: str | None = None) -> None:
        self.http = Client()
        self.headers: dict[str, str] = {}
        if user is not None and token_scope:
            self.headers = bearer(user, token_scope)
        elif user is not None:
            self.http.force_login(user)

    def get(self, path: str, **params: Any):
        return self.http.get(API + path, params, headers=self.headers)

    def post(self, path: str, body: dict[str, Any] | None = None):
        return self.http.post(API + path, json.dumps(body or {}), content_type="application/json",
                              headers=self.headers)  # fmt: skip


def problem(response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["type"].endswith(f"/problems/{slug}")
    return document


@pytest.fixture
def people() -> dict[str, Any]:
    sysadmin = administrator(Duty.SYSTEM, "sysadmin")
    secadmin = administrator(Duty.SECURITY, "secadmin")
    auditor = administrator(Duty.AUDIT, "auditor")
    officer = bare_staff("officer", dept=department())
    role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
    return {
        "anonymous": None, "resident": resident(), "officer": officer, "sysadmin": sysadmin, "secadmin": secadmin,
        "auditor": auditor,
    }  # fmt: skip


def state() -> tuple[Any, ...]:
    return (
        sorted(User.objects.values_list("pk", "username", "is_active", "password")),
        sorted(RoleAssignment.objects.values_list("pk", "user_id", "role_id", "department_id", "revoked_at")),
        AuditRecord.objects.count(),
    )


def assert_refused(before: tuple[Any, ...], *, action: str, actor: str) -> None:
    after = state()
    assert after[:2] == before[:2]
    assert after[2] == before[2] + 1
    record = AuditRecord.objects.latest("id")
    assert (record.action, record.outcome, record.actor_label) == (action, "denied", actor)


CALLERS = ["anonymous", "resident", "officer", "sysadmin", "secadmin", "auditor"]
MATRIX = {
    "list": ("get", "/accounts", None, [401, 403, 403, 200, 200, 403]),
    "read": ("get", "/accounts/{officer}", None, [401, 403, 403, 200, 200, 403]),
    "create": ("post", "/accounts", {"username": "new.one", "display_name": "新人", "department_id": "{dept}"},
               [401, 403, 403, 201, 403, 403]),
    "disable": ("post", "/accounts/{officer}/disable", None, [401, 403, 403, 200, 403, 403]),
    "reset": ("post", "/accounts/{officer}/password-reset", None, [401, 403, 403, 200, 403, 403]),
    "roles": ("get", "/roles", None, [401, 403, 403, 200, 200, 200]),
    "grant": ("post", "/assignments", {"user_id": "{target}", "role_id": "{role}", "department_id": "{dept}"},
              [401, 403, 403, 403, 201, 403]),
    "revoke": ("post", "/assignments/{assignment}/revoke", None, [401, 403, 403, 403, 200, 403]),
}  # fmt: skip


@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("caller", CALLERS)
def test_authorization_matrix(people, endpoint, caller):
    method, path, body, expected = MATRIX[endpoint]
    target = bare_staff("target", dept=department())
    values = {
        "officer": people["officer"].pk, "target": target.pk, "role": police_role().pk, "dept": department().pk,
        "assignment": people["officer"].role_assignments.get().pk,
    }  # fmt: skip
    url = path.format(**values)
    payload = {k: int(v.format(**values)) if "{" in v else v for k, v in body.items()} if body else None
    before = state()
    client = Caller(people[caller])
    response = client.get(url) if method == "get" else client.post(url, payload)
    status = expected[CALLERS.index(caller)]
    assert response.status_code == status, response.content.decode()
    if status >= 400:
        assert response["Content-Type"] == "application/problem+json"
        after = state()
        assert after[:2] == before[:2]
        if caller != "anonymous":  # every refusal of a signed-in caller is in the trail
            record = AuditRecord.objects.latest("id")
            assert (record.outcome, record.actor_label) == ("denied", people[caller].username)


def test_bearer_token_needs_the_staff_admin_scope(people):
    sysadmin = people["sysadmin"]
    ok = Caller(sysadmin, token_scope="staff:admin").post(
        "/accounts", {"username": "lin.gong", "display_name": "林工", "department_id": department().pk}
    )
    assert ok.status_code == 201
    body = ok.json()
    assert body["account"]["username"] == "lin.gong"
    assert body["account"]["must_change_password"] is True
    assert body["account"]["assignments"] == []
    assert User.objects.get(username="lin.gong").check_password(body["initial_password"])
    before = state()
    refused = Caller(sysadmin, token_scope="registries:read").post(
        "/accounts", {"username": "lin.gong2", "display_name": "林工", "department_id": department().pk}
    )
    problem(refused, 403, "insufficient-scope")
    assert_refused(before, action="staff.account.create", actor="sysadmin")


def test_list_and_roles(people):
    page = Caller(people["secadmin"]).get("/accounts", department_id=department().pk).json()
    assert [item["username"] for item in page["items"]] == ["officer"]
    officer = page["items"][0]
    assert [(a["role"], a["duty"], a["department_code"], a["granted_by"]) for a in officer["assignments"]] == [
        ("户籍民警", "business", "FZ-GAJ", "secadmin")
    ]
    roles = Caller(people["auditor"]).get("/roles").json()
    assert [(r["name"], r["duty"], r["city_wide"]) for r in roles] == [
        ("审计管理员", "audit", True), ("户籍民警", "business", False), ("安全管理员", "security", True),
        ("系统管理员", "system", True),
    ]  # fmt: skip
    assert roles[0]["permissions"] == ["audit.view_auditrecord", "staff.view_duty_overview", "staff.view_role"]


def test_list_pages_with_a_cursor(people):
    for n in range(5):
        bare_staff(f"clerk{n}")
    client = Caller(people["sysadmin"])
    names: list[str] = []
    pages = 0
    cursor = None
    while pages == 0 or cursor:
        page = client.get("/accounts", limit=4, **({"cursor": cursor} if cursor else {})).json()
        names += [i["username"] for i in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
    assert sorted(names) == sorted(User.objects.filter(kind="staff").values_list("username", flat=True))
    assert (len(names), pages) == (9, 3)
    problem(client.get("/accounts", cursor="forged"), 422, "validation-failed")
    problem(client.get("/accounts", limit=0), 422, "validation-failed")


def test_duty_conflict_is_a_409_with_a_stable_type(people):
    before = state()
    response = Caller(people["secadmin"]).post(
        "/assignments", {"user_id": people["sysadmin"].pk, "role_id": audit_role().pk, "department_id": None}
    )
    document = problem(response, 409, "duty-conflict")
    assert document["title"] == "Separation of administrator duties"
    assert (document["held"], document["requested"]) == (["system"], "audit")
    assert_refused(before, action="staff.assignment.grant", actor="secadmin")


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"user_id": 2_000_000_000, "role_id": "{role}", "department_id": "{dept}"}, 404, "staff-account-not-found"),
        ({"user_id": "{target}", "role_id": 2_000_000_000, "department_id": "{dept}"}, 404, "role-not-found"),
        ({"user_id": "{target}", "role_id": "{role}", "department_id": 2_000_000_000}, 404, "department-not-found"),
        ({"user_id": "{target}", "role_id": "{role}", "department_id": "{other}"}, 422, "role-department-mismatch"),
        ({"user_id": "{target}", "role_id": "{role}", "department_id": None}, 422, "role-department-mismatch"),
        ({"user_id": "{self}", "role_id": "{role}", "department_id": "{selfdept}"}, 403, "self-administration-refused"),
        ({"user_id": "{resident}", "role_id": "{role}", "department_id": "{dept}"}, 404, "staff-account-not-found"),
    ],
)
def test_hostile_grants_are_refused_and_audited(people, body, status, slug):
    secadmin = people["secadmin"]
    target = bare_staff("target", dept=department())
    values = {
        "target": target.pk, "role": police_role().pk, "dept": department().pk, "other": other_department().pk,
        "self": secadmin.pk, "selfdept": secadmin.department_id, "resident": people["resident"].pk,
    }  # fmt: skip
    payload = {k: values[v.strip("{}")] if isinstance(v, str) else v for k, v in body.items()}
    before = state()
    problem(Caller(secadmin).post("/assignments", payload), status, slug)
    assert_refused(before, action="staff.assignment.grant", actor="secadmin")


@pytest.mark.parametrize(
    "payload",
    [
        {"user_id": "1; DROP TABLE accounts_user", "role_id": 1},
        {"user_id": 1.5, "role_id": 1},
        {"role_id": 1},
        {"user_id": 10**30, "role_id": 1},
    ],
)
def test_malformed_grants_fail_the_schema(people, payload):
    before = state()
    problem(Caller(people["secadmin"]).post("/assignments", payload), 422, "validation-failed")
    assert state()[:2] == before[:2]


def test_unknown_ids_in_paths(people):
    sysadmin, secadmin = Caller(people["sysadmin"]), Caller(people["secadmin"])
    huge = 10**30
    for path in ("/accounts/2000000000/disable", "/accounts/2000000000/password-reset"):
        before = state()
        problem(sysadmin.post(path), 404, "staff-account-not-found")
        assert state()[:2] == before[:2]
    before = state()  # beyond any row id: the document's range, refused before the service runs
    problem(sysadmin.post(f"/accounts/{huge}/disable"), 422, "validation-failed")
    assert state()[:2] == before[:2]
    problem(sysadmin.get("/accounts/2000000000"), 404, "staff-account-not-found")
    before = state()
    problem(secadmin.post("/assignments/2000000000/revoke"), 404, "role-assignment-not-found")
    assert_refused(before, action="staff.assignment.revoke", actor="secadmin")


def test_revoke_and_reenable(people):
    sysadmin, secadmin = Caller(people["sysadmin"]), Caller(people["secadmin"])
    officer = people["officer"]
    assignment = officer.role_assignments.get()
    revoked = secadmin.post(f"/assignments/{assignment.pk}/revoke").json()
    assert revoked["revoked_at"] is not None
    problem(secadmin.post(f"/assignments/{assignment.pk}/revoke"), 409, "role-assignment-revoked")
    assert sysadmin.post(f"/accounts/{officer.pk}/disable").json()["is_active"] is False
    problem(sysadmin.post(f"/accounts/{officer.pk}/disable"), 409, "staff-account-state")
    assert sysadmin.post(f"/accounts/{officer.pk}/enable").json()["is_active"] is True
    reset = sysadmin.post(f"/accounts/{officer.pk}/password-reset").json()
    officer.refresh_from_db()
    assert officer.check_password(reset["initial_password"])
    assert officer.must_change_password
