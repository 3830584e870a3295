"""The clients registry API (/api/v1/oidc/clients): authorization matrix, secret shown once, rotation, disabling."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.keyring import b64url_decode
from rongcheng.oidc.models import ClientRegistration
from rongcheng.oidc.tests.conftest import REDIRECT, register
from rongcheng.oidc.tests.flows import code_through_test_client
from rongcheng.oidc.tests.test_bad_input import token_request
from rongcheng.registries.tests import factories

pytestmark = pytest.mark.django_db

BODY = {"name": "tjj-stats", "department_code": "FZ-GAJ", "grant_type": "client-credentials",
        "api_scopes": ["registries:read"]}  # fmt: skip


def admin_token(manager) -> str:
    """A security administrator's console: a client that signs the administrator in (authorization code), whose
    token acts for them. A client-credentials client may not hold `oidc:clients` at all."""
    console = register(manager, "secadmin-console", api_scopes=["oidc:clients"])
    client_id = console.registration.application.client_id
    code, verifier = code_through_test_client(Client(), manager, client_id, REDIRECT, scope="oidc:clients")
    response = token_request(client_id, console.client_secret, grant_type="authorization_code", code=code,
                             code_verifier=verifier, redirect_uri=REDIRECT)  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "oidc:clients"
    return str(response.json()["access_token"])


@pytest.mark.parametrize("who", ["anonymous", "resident", "officer"])
def test_who_may_not_register_clients(who, manager):
    browser = Client()
    if who == "resident":
        browser.force_login(factories.resident())
    elif who == "officer":
        browser.force_login(factories.staff())
    before = (ClientRegistration.objects.count(), AuditRecord.objects.filter(outcome="success").count())
    response = browser.post("/api/v1/oidc/clients", BODY, content_type="application/json")
    assert response.status_code == (401 if who == "anonymous" else 403)
    assert response["Content-Type"] == "application/problem+json"
    assert (ClientRegistration.objects.count(), AuditRecord.objects.filter(outcome="success").count()) == before


def test_a_manager_session_registers_a_client_and_sees_its_secret_once(manager):
    browser = Client()
    browser.force_login(manager)
    response = browser.post("/api/v1/oidc/clients", BODY, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["grant_type"], body["department_code"], body["enabled"]) == (
        "tjj-stats", "client-credentials", "FZ-GAJ", True,
    )  # fmt: skip
    assert len(body["client_secret"]) == 128
    assert body["access_token_algorithm"] == "ES256"  # the default, shown so the resource server knows what to verify
    detail = browser.get(f"/api/v1/oidc/clients/{body['client_id']}").json()
    assert "client_secret" not in detail
    assert detail["access_token_algorithm"] == "ES256"
    token = token_request(body["client_id"], body["client_secret"], grant_type="client_credentials")
    assert token.json()["scope"] == "registries:read"


def test_an_administrators_console_with_the_clients_scope_rotates_and_disables(manager):
    token = admin_token(manager)
    bearer: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    created = Client().post("/api/v1/oidc/clients", BODY, content_type="application/json", **bearer)
    assert created.status_code == 201, created.content
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    rotated = Client().post(f"/api/v1/oidc/clients/{client_id}/rotate-secret", **bearer).json()
    assert rotated["client_secret"] != secret
    assert rotated["secret_rotated_at"] is not None
    assert token_request(client_id, secret, grant_type="client_credentials").status_code == 401
    issued = token_request(client_id, rotated["client_secret"], grant_type="client_credentials").json()
    disabled = Client().post(f"/api/v1/oidc/clients/{client_id}/disable", **bearer).json()
    assert (disabled["enabled"], disabled["disabled_at"] is not None) == (False, True)
    api = Client().get("/api/v1/registries/persons/1?purpose=statistics",
                       HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}")  # fmt: skip
    assert api.status_code == 401


def test_a_client_registered_for_rs256_resource_servers_says_so_and_gets_rs256_tokens(manager):
    browser = Client()
    browser.force_login(manager)
    response = browser.post("/api/v1/oidc/clients", {**BODY, "access_token_algorithm": "RS256"},
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["access_token_algorithm"] == "RS256"
    assert [c["access_token_algorithm"] for c in browser.get("/api/v1/oidc/clients").json()] == ["RS256"]
    token = token_request(body["client_id"], body["client_secret"], grant_type="client_credentials").json()
    header = json.loads(b64url_decode(token["access_token"].split(".")[0]))
    assert header["alg"] == "RS256"


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"access_token_algorithm": "HS256"}, "literal_error"),  # the schema names the two
        ({"grant_type": "password"}, "grant_type.choice"),
        ({"department_code": "FZ-NONE"}, "department.known"),
        ({"api_scopes": ["everything"]}, "scope.known"),
        ({"grant_type": "authorization-code"}, "redirect_uri.required"),
        ({"grant_type": "authorization-code", "redirect_uris": ["http://insecure.example/cb"]}, "invalid"),
    ],
)
def test_invalid_registrations_change_nothing(manager, change, rule):
    browser = Client()
    browser.force_login(manager)
    before = (ClientRegistration.objects.count(), AuditRecord.objects.count())
    response = browser.post("/api/v1/oidc/clients", {**BODY, **change}, content_type="application/json")
    assert response.status_code == 422, response.content
    assert [e["rule"] for e in response.json()["errors"]] == [rule]
    assert (ClientRegistration.objects.count(), AuditRecord.objects.count()) == before


@pytest.mark.parametrize("scope", ["oidc:clients", "staff:admin", "hall:apply"])
def test_a_client_credentials_client_may_not_be_given_administrator_or_personal_scopes(manager, scope):
    """三员分立: a machine account never holds an administrator's or security administrator's scope; the API and
    the service refuse it, audit the refusal and write nothing else."""
    browser = Client()
    browser.force_login(manager)
    before = (ClientRegistration.objects.count(), User.objects.count())
    response = browser.post("/api/v1/oidc/clients", {**BODY, "api_scopes": [scope]}, content_type="application/json")
    assert response.status_code == 422, response.content
    assert [e["rule"] for e in response.json()["errors"]] == ["scope.client_kind"]
    assert (ClientRegistration.objects.count(), User.objects.count()) == before
    refused = AuditRecord.objects.get(action="oidc.client.register")
    assert (refused.outcome, refused.actor_id, refused.detail["scopes_refused"]) == ("denied", str(manager.pk),
                                                                                     [scope])  # fmt: skip


def test_an_unknown_client_is_a_404_problem(manager):
    browser = Client()
    browser.force_login(manager)
    response = browser.post("/api/v1/oidc/clients/nope/rotate-secret")
    assert (response.status_code, response.json()["type"]) == (404, "/problems/not-found")


@pytest.mark.parametrize("client_id", ["nope", "nul%00id", "%E5%AE%A2"])
def test_an_unknown_or_hostile_client_id_is_a_404_problem_everywhere(manager, client_id):
    browser = Client()
    browser.force_login(manager)
    # A control character is refused at the edge (config.middleware), before any lookup.
    status, slug = (400, "/problems/bad-request") if "%00" in client_id else (404, "/problems/not-found")
    for response in (
        browser.get(f"/api/v1/oidc/clients/{client_id}"),
        browser.post(f"/api/v1/oidc/clients/{client_id}/rotate-secret"),
        browser.post(f"/api/v1/oidc/clients/{client_id}/disable"),
    ):
        assert (response.status_code, response.json()["type"]) == (status, slug)
    assert browser.get(f"/oidc/clients/{client_id}/").status_code == status
