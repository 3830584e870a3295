"""API authentication: OAuth 2.0 client-credentials tokens for department systems, sessions for signed-in people.

The registries' endpoints are called by path only (this app sits below the registries): a record that does not exist
answers 404 to a caller who got through authentication, and 401 or 403 to one who did not.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.models import AuditRecord

pytestmark = pytest.mark.django_db

SECRET = "test-client-secret-0123456789"
READ_PATH = "/api/v1/registries/persons/999999?purpose=public_security"
WRITE_PATH = "/api/v1/registries/indicators/gdp"
READ_PERMISSIONS = ("view_person", "view_legalentity")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Client secrets are hashed with the first password hasher (argon2 in production: ~0.1 s a check)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def gaj() -> Department:
    return Department.objects.create(code="FZ-GAJ", name="福州市公安局", short_name="市公安局")


def account(username: str = "gaj-system", *, kind: str = AccountKind.API_CLIENT, permissions=READ_PERMISSIONS, **extra):
    user = User.objects.create_user(username=username, kind=kind, **extra)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="registries", codename__in=permissions)
    )
    return user


def application(user, secret: str = SECRET):
    Application = get_application_model()
    return Application.objects.create(
        name=user.username, user=user, client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_secret=secret,
    )  # fmt: skip


def request_token(app, *, secret: str = SECRET, scope: str | None = None):
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    return Client().post("/oauth/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")


def token_of(app, scope: str | None = None) -> str:
    response = request_token(app, scope=scope)
    assert response.status_code == 200, response.content.decode()
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response, status: int) -> Any:
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def test_client_credentials_give_a_short_lived_read_token_by_default():
    app = application(account())
    response = request_token(app)
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 600, "registries:read")
    assert "refresh_token" not in body
    stored = get_access_token_model().objects.get(application=app)
    assert body["access_token"] not in (stored.token, stored.token_checksum)  # hashed at rest (RFC 9700 §4)
    assert problem(Client().get(READ_PATH, headers=bearer(body["access_token"])), 404)["type"] == "/problems/not-found"


def test_a_client_gets_only_the_scopes_its_account_holds_permissions_for():
    reader = application(account())
    assert request_token(reader, scope="registries:write").json()["error"] == "invalid_scope"
    writer = application(account("mzj-system", permissions=(*READ_PERMISSIONS, "add_indicator")))
    assert request_token(writer, scope="registries:read registries:write").json()["scope"] == (
        "registries:read registries:write"
    )
    nothing = application(account("idle-system", permissions=()))
    assert request_token(nothing, scope="registries:read").json()["error"] == "invalid_scope"


def test_a_wrong_secret_gets_no_token():
    app = application(account())
    response = request_token(app, secret="not-the-secret")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert not get_access_token_model().objects.exists()


def _assert_invalid_token(response) -> None:
    document = problem(response, 401)
    assert document["type"] == "/problems/invalid-token"
    assert response["WWW-Authenticate"] == 'Bearer realm="rongcheng", error="invalid_token"'


def test_an_expired_token_is_refused():
    app = application(account())
    token = token_of(app)
    get_access_token_model().objects.filter(application=app).update(expires=timezone.now() - dt.timedelta(seconds=1))
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_a_garbage_token_is_refused():
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer("not-a-token")))


def test_the_token_of_a_deleted_application_is_refused():
    app = application(account())
    token = token_of(app)
    app.delete()
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_the_token_of_a_deactivated_account_is_refused():
    user = account()
    token = token_of(application(user))
    User.objects.filter(pk=user.pk).update(is_active=False)
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_a_revoked_token_is_refused():
    app = application(account())
    token = token_of(app)
    basic = base64.b64encode(f"{app.client_id}:{SECRET}".encode()).decode()
    revoked = Client().post("/oauth/revoke_token/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert revoked.status_code == 200
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_client_credentials_act_for_api_client_accounts_only(gaj):
    officer = account("officer", kind=AccountKind.STAFF, department=gaj)
    token = token_of(application(officer))
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_a_token_without_the_scope_is_refused_and_the_refusal_audited():
    user = account(permissions=(*READ_PERMISSIONS, "add_indicator"))
    token = token_of(application(user), scope="registries:read")
    body = {"period": "2017", "value": "1", "name": "GDP", "unit": "亿元", "source_department": "FZ-TJJ"}
    response = Client().post(WRITE_PATH, body, content_type="application/json", headers=bearer(token))
    document = problem(response, 403)
    assert (document["type"], document["required_scope"]) == ("/problems/insufficient-scope", "registries:write")
    assert response["WWW-Authenticate"] == (
        'Bearer realm="rongcheng", error="insufficient_scope", scope="registries:write"'
    )
    (refusal,) = AuditRecord.objects.filter(outcome="denied")
    assert (refusal.action, refusal.actor_kind, refusal.actor_id, refusal.detail) == (
        "registries.indicator.record", "api_client", str(user.pk), {"scope": "registries:write"},
    )  # fmt: skip


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic Z2FqOnNlY3JldA=="}, {"Authorization": "Bearer"}],
    ids=["none", "basic", "empty-bearer"],
)
def test_without_credentials_the_api_answers_401(headers):
    response = Client().get(READ_PATH, headers=headers)
    assert problem(response, 401)["type"] == "/problems/unauthenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="rongcheng"'
    assert not AuditRecord.objects.exists()


def test_a_write_without_credentials_answers_401_not_a_csrf_refusal():
    body = {"period": "2017", "value": "1", "name": "GDP", "unit": "亿元", "source_department": "FZ-TJJ"}
    response = Client(enforce_csrf_checks=True).post(WRITE_PATH, body, content_type="application/json")
    assert problem(response, 401)["type"] == "/problems/unauthenticated"


def test_a_token_in_the_query_string_is_not_accepted():
    token = token_of(application(account()))
    problem(Client().get(f"{READ_PATH}&access_token={token}"), 401)


def test_signed_in_people_use_their_session(gaj):
    officer = account("officer", kind=AccountKind.STAFF, department=gaj)
    browser = Client()
    browser.force_login(officer)
    assert problem(browser.get(READ_PATH), 404)["type"] == "/problems/not-found"
    resident = account("resident", kind=AccountKind.RESIDENT, permissions=())
    browser.force_login(resident)
    assert problem(browser.get(READ_PATH), 403)["type"] == "/problems/forbidden"


@pytest.fixture
def secadmin(gaj) -> User:
    user = User.objects.create_user(username="secadmin", kind=AccountKind.STAFF, department=gaj)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="oidc", codename="manage_client"))
    return user


def test_api_client_create_prints_a_working_secret_once(gaj, secadmin):
    out = io.StringIO()
    call_command(
        "api_client_create", "--name", "gaj-population-check", "--department", "FZ-GAJ", "--granted-by", "secadmin",
        "--scope", "registries:read", "--scope", "registries:write", stdout=out,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines() if ": " in line)
    app = get_application_model().objects.get(client_id=lines["client_id"])
    assert app.client_secret != lines["client_secret"]  # stored hashed
    user = app.user
    assert (user.username, user.kind, user.department, user.has_usable_password()) == (
        "gaj-population-check", "api_client", gaj, False,
    )  # fmt: skip
    assert user.has_perm("registries.view_person")
    assert user.has_perm("registries.add_person")
    assert app.authorization_grant_type == "client-credentials"
    record = AuditRecord.objects.get(action="accounts.api_client.create")
    assert (record.actor_kind, record.actor_id) == ("user", str(secadmin.pk))
    assert record.detail == {
        "client_id": app.client_id, "department": "FZ-GAJ", "scopes": ["registries:read", "registries:write"],
    }  # fmt: skip
    assert request_token(app, secret=lines["client_secret"], scope="registries:write").status_code == 200


def test_api_client_create_defaults_to_reading(gaj, secadmin):
    out = io.StringIO()
    call_command("api_client_create", "--name", "gaj-reader", "--department", "FZ-GAJ", "--granted-by", "secadmin",
                 stdout=out)  # fmt: skip
    user = User.objects.get(username="gaj-reader")
    assert user.has_perm("registries.view_person")
    assert not user.has_perm("registries.add_person")
    assert "scopes: registries:read\n" in out.getvalue()


@pytest.mark.parametrize(
    ("name", "department", "message"),
    [
        ("gaj-system", "FZ-NONE", "No department has the code 'FZ-NONE'."),
        ("taken", "FZ-GAJ", "An account named 'taken' exists already."),
        ("has space", "FZ-GAJ", "username:"),
    ],
)
def test_api_client_create_refuses_bad_input(gaj, secadmin, name, department, message):
    User.objects.create_user(username="taken")
    with pytest.raises(CommandError, match=message):
        call_command("api_client_create", "--name", name, "--department", department, "--granted-by", "secadmin",
                     stdout=io.StringIO())  # fmt: skip
    assert not get_application_model().objects.exists()
    assert User.objects.count() == 2


@pytest.mark.parametrize("scope", ["staff:admin", "oidc:clients", "openid", "id_number", "hall:apply"])
def test_api_client_create_refuses_scopes_a_machine_account_may_not_hold(gaj, secadmin, scope):
    """三员分立: no client-credentials client holds an administrator's or security administrator's scope, nor one
    that acts for a person; the command refuses it before anything is written."""
    with pytest.raises(CommandError):
        call_command("api_client_create", "--name", "gaj-admin-bot", "--department", "FZ-GAJ", "--granted-by",
                     "secadmin", "--scope", scope, stdout=io.StringIO())  # fmt: skip
    assert not get_application_model().objects.exists()
    assert not User.objects.filter(username="gaj-admin-bot").exists()
    from rongcheng.accounts.management.commands.api_client_create import api_client_create
    from rongcheng.audit.services import Actor

    with pytest.raises(CommandError, match="may not hold"):  # the function itself, as scripts call it
        api_client_create(name="gaj-admin-bot", department_code="FZ-GAJ", scopes=[scope], actor=Actor.system("t"))
    assert not get_application_model().objects.exists()
    refused = AuditRecord.objects.get(action="accounts.api_client.create")
    assert (refused.outcome, refused.detail["scopes_refused"]) == ("denied", [scope])


@pytest.mark.parametrize("granted_by", ["nobody", "officer"])
def test_api_client_create_is_an_act_of_a_security_administrator(gaj, granted_by):
    User.objects.create_user(username="officer", kind=AccountKind.STAFF, department=gaj)
    with pytest.raises(CommandError, match="security administrator"):
        call_command("api_client_create", "--name", "gaj-reader", "--department", "FZ-GAJ", "--granted-by",
                     granted_by, stdout=io.StringIO())  # fmt: skip
    assert not get_application_model().objects.exists()
    refused = AuditRecord.objects.get(action="accounts.api_client.create")
    assert (refused.outcome, refused.detail) == ("denied", {"granted_by": granted_by,
                                                            "permission": "oidc.manage_client"})  # fmt: skip


@pytest.mark.parametrize("scope", ["staff:admin", "oidc:clients"])
def test_a_client_credentials_client_edited_to_hold_administrator_rights_cannot_use_them(scope):
    """The allow-list holds at token issuance and at the API even when the rows were edited directly: a machine
    account given the administrators' permissions gets no token for their scopes, and a token row written with
    such a scope is refused by the API."""
    system = account("rogue-system")
    system.user_permissions.add(*Permission.objects.filter(codename__in=["manage_staff_accounts", "assign_role",
                                                                         "manage_client"]))  # fmt: skip
    app = application(system)
    refused = request_token(app, scope=scope)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_scope")
    token = "rogue-opaque-token-0123456789"
    get_access_token_model().objects.create(
        application=app, token=token, scope=scope, expires=timezone.now() + dt.timedelta(minutes=5)
    )
    path = "/api/v1/staff/accounts" if scope == "staff:admin" else "/api/v1/oidc/clients"
    response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403
    assert response.json()["type"].endswith("insufficient-scope")
    denied = AuditRecord.objects.filter(outcome="denied").latest("pk")
    assert denied.detail == {"scope": scope, "client_kind": "client-credentials"}


@pytest.mark.django_db(transaction=True)
def test_a_standard_oauth_client_library_gets_a_token_and_calls_the_api(live_server):
    from authlib.integrations.requests_client import OAuth2Session

    app = application(account())
    # A new session for each call: the test server closes each connection after one request, and a pooled one can be
    # reused in the instant before its close arrives.
    with OAuth2Session(app.client_id, SECRET, scope="registries:read") as session:
        token = session.fetch_token(f"{live_server.url}/oauth/token/", grant_type="client_credentials")
    assert (token["token_type"], token["scope"], token["expires_in"]) == ("Bearer", "registries:read", 600)
    with OAuth2Session(app.client_id, token=token) as session:
        response = session.get(f"{live_server.url}{READ_PATH}", timeout=10)
    assert (response.status_code, response.json()["type"]) == (404, "/problems/not-found")
    anonymous = requests.get(f"{live_server.url}{READ_PATH}", timeout=10)
    assert (anonymous.status_code, anonymous.headers["Content-Type"]) == (401, "application/problem+json")


def test_the_token_lookup_reads_the_token_its_client_owner_and_registration_in_one_query(django_assert_num_queries):
    """The prepared lookup gives what the ORM's select_related gives, field for field, and needs no other query
    for the relations the admission uses (a client without an OpenID Connect registration has none)."""
    from django.core.exceptions import ObjectDoesNotExist

    from rongcheng.accounts.api_auth import _token_row

    user = account()
    token = token_of(application(user))
    checksum = hashlib.sha256(token.encode()).hexdigest()
    expected = (
        get_access_token_model()
        .objects.select_related("application__user", "application__registration", "user")
        .get(token_checksum=checksum)
    )
    with django_assert_num_queries(1):
        found = _token_row(checksum)
    assert found is not None
    with django_assert_num_queries(0):
        pairs = [(found, expected), (found.application, expected.application),
                 (found.application.user, expected.application.user)]  # fmt: skip
        for mine, theirs in pairs:
            assert type(mine) is type(theirs)
            fields = [f.attname for f in type(theirs)._meta.concrete_fields]
            assert [getattr(mine, f) for f in fields] == [getattr(theirs, f) for f in fields]
        assert found.user is None
        assert found.application.user.pk == user.pk
        with pytest.raises(ObjectDoesNotExist):
            _ = found.application.registration
        assert found.is_valid()
        assert found.scope == expected.scope
    assert _token_row("0" * 64) is None


# Each process keeps a token it admitted for settings.API_TOKEN_CACHE_SECONDS (ADR 0019).


@pytest.fixture
def row_reads(monkeypatch) -> list[str]:
    """The checksums whose token row the API read from the database."""
    from rongcheng.accounts import api_auth

    reads: list[str] = []
    real = api_auth._token_row

    def counted(checksum: str) -> Any:
        reads.append(checksum)
        return real(checksum)

    monkeypatch.setattr(api_auth, "_token_row", counted)
    return reads


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The monotonic clock the token cache reads, moved by the test (clock[0] seconds ahead of the real one)."""
    import time

    ahead = [0.0]
    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + ahead[0])
    return ahead


def _found_nobody(response) -> None:
    assert problem(response, 404)["type"] == "/problems/not-found"  # through authentication: the person is absent


def test_a_token_admitted_within_the_bound_is_not_read_again(row_reads, clock, settings):
    assert settings.API_TOKEN_CACHE_SECONDS == 1.0
    token = token_of(application(account()))
    for _ in range(3):
        _found_nobody(Client().get(READ_PATH, headers=bearer(token)))
    assert len(row_reads) == 1
    clock[0] = 1.0  # the bound passed: the row is read again
    _found_nobody(Client().get(READ_PATH, headers=bearer(token)))
    assert len(row_reads) == 2


def test_a_token_revoked_by_another_process_is_refused_once_the_bound_has_passed(clock):
    app = application(account())
    token = token_of(app)
    _found_nobody(Client().get(READ_PATH, headers=bearer(token)))
    # Another process deletes the row: no signal reaches this one (a raw delete sends none either).
    tokens = get_access_token_model().objects.filter(application=app)
    assert tokens._raw_delete(tokens.db) == 1
    _found_nobody(Client().get(READ_PATH, headers=bearer(token)))  # within the bound: still admitted
    clock[0] = 1.0
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_a_token_revoked_through_this_process_is_refused_at_once():
    app = application(account())
    token = token_of(app)
    _found_nobody(Client().get(READ_PATH, headers=bearer(token)))
    basic = base64.b64encode(f"{app.client_id}:{SECRET}".encode()).decode()
    revoked = Client().post("/oauth/revoke_token/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert revoked.status_code == 200
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_an_account_deactivated_through_this_process_is_refused_at_once():
    user = account()
    token = token_of(application(user))
    _found_nobody(Client().get(READ_PATH, headers=bearer(token)))
    user.is_active = False
    user.save(update_fields=["is_active"])
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_a_kept_token_expires_on_time(monkeypatch):
    app = application(account())
    token = token_of(app)
    _found_nobody(Client().get(READ_PATH, headers=bearer(token)))
    expires = get_access_token_model().objects.get(application=app).expires
    later = expires + dt.timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    _assert_invalid_token(Client().get(READ_PATH, headers=bearer(token)))


def test_each_call_gets_its_own_copy_of_the_kept_account():
    from django.test import RequestFactory

    from rongcheng.accounts.api_auth import _access_token

    app = application(account())
    token = token_of(app)
    request = RequestFactory().get(READ_PATH)
    first, second = _access_token(request, token), _access_token(request, token)
    assert first is not None
    assert second is not None
    assert first is not second
    assert first.application.user is not second.application.user
    assert first.application.user.pk == second.application.user.pk == app.user_id


def test_with_the_cache_off_every_call_reads_the_row(row_reads, settings):
    settings.API_TOKEN_CACHE_SECONDS = 0
    token = token_of(application(account()))
    for _ in range(2):
        _found_nobody(Client().get(READ_PATH, headers=bearer(token)))
    assert len(row_reads) == 2
