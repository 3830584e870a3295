"""Staff administration pages: the authorization matrix, each action through the services, and list query counts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

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


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


CALLERS = ["anonymous", "resident", "officer", "sysadmin", "secadmin", "auditor"]
# page -> expected status for each caller, in CALLERS order (302: to the sign-in page)
GET_MATRIX = {
    "/staff/": [302, 403, 403, 200, 200, 403],
    "/staff/new/": [302, 403, 403, 200, 403, 403],
    "/staff/{officer}/": [302, 403, 403, 200, 200, 403],
    "/staff/roles/": [302, 403, 403, 200, 200, 200],
    "/staff/roles/{role}/": [302, 403, 403, 200, 200, 200],
    "/staff/duties/": [302, 403, 403, 200, 200, 200],
}


@pytest.mark.parametrize("path", list(GET_MATRIX))
def test_page_authorization_matrix(people, path):
    url = path.format(officer=people["officer"].pk, role=police_role().pk)
    got = [client_for(people[name]).get(url).status_code for name in CALLERS]
    assert got == GET_MATRIX[path]
    assert client_for(None).get(url)["Location"].startswith("/account/sign-in/?next=")


POST_MATRIX = {
    # action -> (path, data, expected per caller: 302 done or refused to the sign-in page, 403 refused)
    "disable": ("/staff/{officer}/disable/", {}, [302, 403, 403, 302, 403, 403]),
    "reset": ("/staff/{officer}/reset-password/", {}, [302, 403, 403, 200, 403, 403]),
    "grant": ("/staff/{target}/grant/", {"role": "{role}", "department": "{dept}"}, [302, 403, 403, 403, 302, 403]),
    "revoke": ("/staff/assignments/{assignment}/revoke/", {}, [302, 403, 403, 403, 302, 403]),
}


@pytest.mark.parametrize("action", list(POST_MATRIX))
@pytest.mark.parametrize("caller", CALLERS)
def test_action_authorization_matrix(people, action, caller):
    path, data, expected = POST_MATRIX[action]
    target = bare_staff("target", dept=department())
    values = {
        "officer": people["officer"].pk, "target": target.pk, "role": police_role().pk, "dept": department().pk,
        "assignment": people["officer"].role_assignments.get().pk,
    }  # fmt: skip
    url = path.format(**values)
    body = {k: v.format(**values) for k, v in data.items()}
    before = (
        sorted(User.objects.values_list("pk", "is_active", "password")),
        sorted(RoleAssignment.objects.values_list("pk", "revoked_at")),
    )
    audit_before = AuditRecord.objects.count()
    response = client_for(people[caller]).post(url, body)
    status = expected[CALLERS.index(caller)]
    assert response.status_code == status
    after = (
        sorted(User.objects.values_list("pk", "is_active", "password")),
        sorted(RoleAssignment.objects.values_list("pk", "revoked_at")),
    )
    if status == 403 or caller == "anonymous":
        assert after == before
        denied = AuditRecord.objects.latest("id")
        if caller in ("sysadmin", "secadmin", "auditor"):  # the service saw the attempt and kept its trace
            assert AuditRecord.objects.count() == audit_before + 1
            assert (denied.outcome, denied.actor_label) == ("denied", caller)
        elif caller == "anonymous":
            assert AuditRecord.objects.count() == audit_before
    else:
        assert after != before


def initial_password(page: str) -> str:
    found = re.search(r'id="initial-password">([^<]+)<', page)
    assert found is not None
    return found.group(1)


def test_create_shows_the_initial_password_once(people):
    client = client_for(people["sysadmin"])
    response = client.post("/staff/new/", {"username": "lin.gong", "display_name": "林工",
                                           "department": department().pk})  # fmt: skip
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    page = response.content.decode()
    password = initial_password(page)
    created = User.objects.get(username="lin.gong")
    assert created.check_password(password)
    assert created.must_change_password is True
    detail = client.get(f"/staff/{created.pk}/").content.decode()
    assert password not in detail


def test_create_with_a_taken_username_shows_the_error(people):
    response = client_for(people["sysadmin"]).post(
        "/staff/new/", {"username": "officer", "display_name": "林工", "department": department().pk}
    )
    assert response.status_code == 400
    assert "The username officer is taken." in response.content.decode()
    assert User.objects.filter(username__iexact="officer").count() == 1


def test_reset_password_forces_a_change_and_ends_sessions(people):
    officer = people["officer"]
    officer_client = client_for(officer)
    assert officer_client.get("/").status_code == 200
    response = client_for(people["sysadmin"]).post(f"/staff/{officer.pk}/reset-password/")
    password = initial_password(response.content.decode())
    officer.refresh_from_db()
    assert officer.check_password(password)
    assert officer.must_change_password
    # the old session's password hash no longer matches: the officer is signed out
    assert officer_client.get("/staff/roles/").status_code == 302


def test_disable_and_enable_from_the_page(people):
    officer = people["officer"]
    client = client_for(people["sysadmin"])
    assert client.post(f"/staff/{officer.pk}/disable/")["Location"] == f"/staff/{officer.pk}/"
    officer.refresh_from_db()
    assert officer.is_active is False
    page = client.get(f"/staff/{officer.pk}/").content.decode()
    assert "账号已停用。" in page
    client.post(f"/staff/{officer.pk}/enable/")
    officer.refresh_from_db()
    assert officer.is_active is True


def test_grant_duty_conflict_is_shown_and_changes_nothing(people):
    client = client_for(people["secadmin"])
    sysadmin = people["sysadmin"]
    before = sorted(RoleAssignment.objects.values_list("pk", "revoked_at"))
    response = client.post(f"/staff/{sysadmin.pk}/grant/", {"role": audit_role().pk, "department": ""}, follow=True)
    assert response.status_code == 200
    assert "The account holds the system duty; it cannot also hold the audit duty." in response.content.decode()
    assert sorted(RoleAssignment.objects.values_list("pk", "revoked_at")) == before
    record = AuditRecord.objects.exclude(action="staff.account.read").latest("id")
    assert (record.action, record.outcome, record.detail["problem"]) == ("staff.assignment.grant", "denied",
                                                                          "duty-conflict")  # fmt: skip


def test_grant_across_departments_is_shown_and_changes_nothing(people):
    client = client_for(people["secadmin"])
    target = bare_staff("target", dept=department())
    response = client.post(
        f"/staff/{target.pk}/grant/", {"role": police_role().pk, "department": other_department().pk}, follow=True
    )
    assert "is granted only for the account&#x27;s own department" in response.content.decode()
    assert not target.role_assignments.exists()


def test_grant_and_revoke_from_the_page(people):
    client = client_for(people["secadmin"])
    target = bare_staff("target", dept=department())
    client.post(f"/staff/{target.pk}/grant/", {"role": police_role().pk, "department": department().pk})
    assignment = target.role_assignments.get()
    assert (assignment.department, assignment.granted_by) == (department(), people["secadmin"])
    client.post(f"/staff/assignments/{assignment.pk}/revoke/")
    assignment.refresh_from_db()
    assert assignment.revoked_by == people["secadmin"]


def test_hostile_ids_are_refused(people):
    client = client_for(people["secadmin"])
    assert client.get("/staff/999999/").status_code == 403
    assert client.get(f"/staff/{10**30}/").status_code == 403
    assert client.post(f"/staff/assignments/{10**30}/revoke/").status_code == 403
    assert client.get(f"/staff/{people['resident'].pk}/").status_code == 403
    assert (
        client.post("/staff/999999/grant/", {"role": police_role().pk, "department": department().pk}).status_code
        == 403
    )
    assert client.post("/staff/assignments/999999/revoke/").status_code == 403
    assert client.get("/staff/roles/999999/").status_code == 404
    assert client.get("/staff/?department=abc").status_code == 400
    assert client.get("/staff/?cursor=forged").status_code == 400


def test_duty_overview_lists_holders_and_breaches(people):
    client = client_for(people["auditor"])
    page = client.get("/staff/duties/").content.decode()
    assert "没有发现违反职责分离的情况。" in page
    bare_staff("root", is_superuser=True)
    page = client.get("/staff/duties/").content.decode()
    assert "duties.superuser" in page
    assert "root" in page


def test_list_filters_by_department_and_search(people):
    client = client_for(people["sysadmin"])
    bare_staff("fwzx.clerk", dept=other_department(), display_name="王窗口")
    page = client.get("/staff/", {"department": other_department().pk}).content.decode()
    assert "fwzx.clerk" in page
    assert "officer" not in page
    page = client.get("/staff/", {"q": "王窗"}).content.decode()
    assert "fwzx.clerk" in page
    assert "secadmin" not in page


def test_list_pages_through_every_account(people):
    for n in range(25):
        bare_staff(f"clerk{n:02d}")
    client = client_for(people["sysadmin"])
    seen: list[str] = []
    url = "/staff/"
    while url:
        page = client.get(url).content.decode()
        seen += re.findall(r'<a href="/staff/\d+/">([^<]+)</a>', page)
        nxt = re.search(r'<a href="\?([^"]+)" rel="next">', page)
        url = "/staff/?" + nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert sorted(seen) == sorted(User.objects.filter(kind="staff").values_list("username", flat=True))
    assert len(seen) == 29


def _list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/staff/").status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_the_page(people):
    secadmin = people["secadmin"]
    client = client_for(people["sysadmin"])
    client.get("/staff/")
    few = _list_queries(client)
    for n in range(16):
        clerk = bare_staff(f"clerk{n:02d}")
        role_grant(user_id=clerk.pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
    many = _list_queries(client)
    assert many == few
    assert many <= 9, many
