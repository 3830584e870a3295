"""Token introspection (RFC 7662) is for a token's own client: another client learns nothing (`active: false`, as
for an unknown token), and the answer carries the pairwise `sub`, never the username. Driven with `requests`
against the live server, as a resource server would call it."""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from rongcheng.audit.models import AuditRecord
from rongcheng.oidc.tests.conftest import OTHER_REDIRECT, register
from rongcheng.oidc.tests.test_bad_input import basic, token_request
from rongcheng.oidc.tests.test_claims import payload, sign_in

pytestmark = pytest.mark.django_db


def introspect(client_id: str, secret: str, token: str) -> tuple[int, dict]:
    response = Client().post("/oauth/introspect/", {"token": token}, **basic(client_id, secret))
    return response.status_code, dict(response.json())


def test_a_client_introspects_its_own_token_and_sees_the_pairwise_subject_only(rp, resident):
    tokens = sign_in(rp, resident)
    client_id = rp.registration.application.client_id
    status, answer = introspect(client_id, rp.client_secret, tokens["access_token"])
    assert status == 200
    assert answer.pop("exp") > 0
    assert answer == {"active": True, "scope": "openid profile", "client_id": client_id, "token_type": "Bearer",
                      "sub": payload(tokens["id_token"])["sub"]}  # fmt: skip
    assert resident.username not in str(answer)


def test_another_client_learns_nothing_of_a_foreign_token(manager, rp, resident):
    other = register(manager, "mzj-portal", redirect_uris=[OTHER_REDIRECT])
    system = register(manager, "tjj-stats", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    tokens = sign_in(rp, resident)
    for client in (other, system):
        status, answer = introspect(client.registration.application.client_id, client.client_secret,
                                    tokens["access_token"])  # fmt: skip
        assert (status, answer) == (200, {"active": False})
    refusals = AuditRecord.objects.filter(action="oidc.token.introspect", outcome="denied")
    target = rp.registration.application.client_id
    assert [(r.actor_label, r.target_id) for r in refusals] == [
        (other.registration.application.client_id, target), (system.registration.application.client_id, target),
    ]  # fmt: skip
    # The same answer as for a token that does not exist.
    assert introspect(other.registration.application.client_id, other.client_secret, "no-such-token") == (
        200, {"active": False},
    )  # fmt: skip


def test_a_system_introspects_its_client_credentials_token(manager):
    system = register(manager, "tjj-stats", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    client_id = system.registration.application.client_id
    token = token_request(client_id, system.client_secret, grant_type="client_credentials").json()["access_token"]
    status, answer = introspect(client_id, system.client_secret, token)
    assert (status, answer["active"], answer["sub"], answer["client_id"]) == (200, True, client_id, client_id)


def test_introspection_needs_client_authentication(rp, resident):
    tokens = sign_in(rp, resident)
    anonymous = Client().post("/oauth/introspect/", {"token": tokens["access_token"]})
    assert (anonymous.status_code, anonymous.json()) == (401, {"error": "invalid_client"})
    wrong = Client().post("/oauth/introspect/", {"token": tokens["access_token"]},
                          **basic(rp.registration.application.client_id, "wrong"))  # fmt: skip
    assert wrong.status_code == 401
    bearer = Client().post("/oauth/introspect/", {"token": tokens["access_token"]},
                           HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")  # fmt: skip
    assert bearer.status_code == 401
    missing = Client().post("/oauth/introspect/", {}, **basic(rp.registration.application.client_id, rp.client_secret))
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


@pytest.mark.django_db(transaction=True)
def test_a_resource_server_over_http_gets_active_false_for_a_foreign_token(live_server, manager, rp, resident):
    other = register(manager, "mzj-portal", redirect_uris=[OTHER_REDIRECT])
    tokens = sign_in(rp, resident)
    url = f"{live_server.url}/oauth/introspect/"
    foreign = requests.post(url, data={"token": tokens["access_token"]}, timeout=10,
                            auth=(other.registration.application.client_id, other.client_secret))  # fmt: skip
    assert (foreign.status_code, foreign.json()) == (200, {"active": False})
    own = requests.post(url, data={"token": tokens["access_token"]}, timeout=10,
                        auth=(rp.registration.application.client_id, rp.client_secret))  # fmt: skip
    assert own.json()["active"] is True
    assert "username" not in own.json()
