"""/api/v1/identity: the signed-in account and its sessions; problem documents for every refusal."""

from __future__ import annotations

import pytest
from django.test import Client

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.models import AuditRecord
from rongcheng.identity.models import AccountSession
from rongcheng.identity.tests.factories import PASSWORD, resident, staff, verified_resident

pytestmark = pytest.mark.django_db

ME = "/api/v1/identity/me"
SESSIONS = "/api/v1/identity/sessions"


def _signed_in(username: str, agent: str = "pytest") -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    client.post("/account/sign-in/", {"username": username, "password": PASSWORD})
    return client


def _problem(response, status: int, slug: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].rsplit("/", 1)[1] == slug


def test_me_of_a_verified_resident_shows_the_masked_id_number_only():
    _user, person = verified_resident()
    body = _signed_in("resident").get(ME).json()
    assert body == {
        "username": "resident", "display_name": "林则徐", "kind": "resident", "level": 2,
        "id_number_masked": person.id_number_masked, "phone_masked": "138****5678", "has_authenticator": False,
    }  # fmt: skip
    assert "********" in body["id_number_masked"]


@pytest.mark.parametrize("who", ["anonymous", "resident", "officer", "api_client"])
@pytest.mark.parametrize(("method", "path"), [("get", ME), ("get", SESSIONS), ("post", SESSIONS + "/{id}/end")])
def test_authorization_matrix(who, method, path):
    client = Client()
    if who == "resident":
        resident()
        client = _signed_in("resident")
    elif who == "officer":
        officer, _ = staff()
        client.force_login(officer)
    elif who == "api_client":
        client.force_login(User.objects.create_user(username="system", kind=AccountKind.API_CLIENT))
    own = AccountSession.objects.filter(user__username="resident").values_list("pk", flat=True).first()
    response = getattr(client, method)(path.format(id=own or 999_999))
    if who == "anonymous":
        _problem(response, 401, "unauthenticated")
    elif path.endswith("/end") and who == "resident":
        assert response.status_code == 204  # the resident's current session: signed out
        assert AccountSession.objects.get().end_reason == "signed_out"
    elif path.endswith("/end"):
        _problem(response, 404, "not-found")  # force_login made no session record
    else:
        assert response.status_code == 200


def test_sessions_list_and_end_another():
    resident()
    laptop, phone = _signed_in("resident", "laptop"), _signed_in("resident", "phone")
    listed = laptop.get(SESSIONS).json()
    assert [(s["user_agent"], s["current"]) for s in listed] == [("phone", False), ("laptop", True)]
    response = laptop.post(f"{SESSIONS}/{listed[0]['id']}/end")
    assert response.status_code == 204
    _problem(phone.get(ME), 401, "unauthenticated")
    assert [s["user_agent"] for s in laptop.get(SESSIONS).json()] == ["laptop"]
    # Ending it again: not found, and no second audit record.
    before = AuditRecord.objects.filter(action="identity.session.end").count()
    _problem(laptop.post(f"{SESSIONS}/{listed[0]['id']}/end"), 404, "not-found")
    assert AuditRecord.objects.filter(action="identity.session.end").count() == before == 1


def test_ending_another_accounts_session_is_not_found_and_changes_nothing():
    resident("ann")
    resident("bob", phone="13900000001")
    ann, bob = _signed_in("ann"), _signed_in("bob")
    theirs = AccountSession.objects.get(user__username="bob")
    _problem(ann.post(f"{SESSIONS}/{theirs.pk}/end"), 404, "not-found")
    theirs.refresh_from_db()
    assert theirs.ended_at is None
    assert bob.get(ME).status_code == 200


@pytest.mark.parametrize("session_id", ["abc", "-1", "1e9", "99999999999999999999999", "%00"])
def test_hostile_session_ids(session_id):
    resident()
    response = _signed_in("resident").post(f"{SESSIONS}/{session_id}/end")
    assert response.status_code == (400 if session_id == "%00" else 404) or response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert AccountSession.objects.get().ended_at is None
