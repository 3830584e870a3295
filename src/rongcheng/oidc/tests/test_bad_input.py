"""Hostile and broken OAuth requests: each is refused with the standard OAuth error, audited, and changes nothing
else (no token, no grant consumed that should not be, no other row)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

from rongcheng.audit.models import AuditRecord
from rongcheng.oidc.tests.conftest import OTHER_REDIRECT, REDIRECT, register
from rongcheng.oidc.tests.flows import authorize_params, code_through_test_client, pkce_pair, query

pytestmark = pytest.mark.django_db


def basic(client_id: str, secret: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token_request(client_id: str, secret: str, **data: str):
    return Client().post("/oauth/token/", data, **basic(client_id, secret))


def exchange(rp, code: str, verifier: str, *, secret: str | None = None, redirect_uri: str = REDIRECT):
    return token_request(rp.registration.application.client_id, secret or rp.client_secret,
                         grant_type="authorization_code", code=code, code_verifier=verifier,
                         redirect_uri=redirect_uri)  # fmt: skip


def state() -> tuple[int, int, int, int, int]:
    return (AccessToken.objects.count(), RefreshToken.objects.count(), Grant.objects.count(),
            IDToken.objects.count(), RefreshToken.objects.filter(revoked__isnull=False).count())  # fmt: skip


def refusals(action: str = "oidc.token.issue") -> list[tuple[str, dict]]:
    return [(r.outcome, r.detail) for r in AuditRecord.objects.filter(action=action, outcome="denied")]


def test_a_wrong_client_secret_is_invalid_client(rp, resident):
    code, verifier = code_through_test_client(Client(), resident, rp.registration.application.client_id, REDIRECT)
    before = state()
    response = exchange(rp, code, verifier, secret="not-the-secret")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert state() == before  # the code is still unused: the right client may still redeem it
    assert refusals() == [("denied", {"error": "invalid_client", "grant_type": "authorization_code"})]
    assert exchange(rp, code, verifier).status_code == 200


def api_status(access_token: str) -> int:
    return int(Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access_token}").status_code)


def test_a_replayed_code_is_invalid_grant_and_revokes_what_the_first_exchange_issued(rp, resident):
    """RFC 6749 §4.1.2: the replay may be the thief's, or the first exchange was: both lose the tokens."""
    code, verifier = code_through_test_client(Client(), resident, rp.registration.application.client_id, REDIRECT)
    first = exchange(rp, code, verifier).json()
    refreshed = token_request(rp.registration.application.client_id, rp.client_secret, grant_type="refresh_token",
                              refresh_token=first["refresh_token"]).json()  # fmt: skip
    assert (api_status(first["access_token"]), api_status(refreshed["access_token"])) == (401, 200)
    response = exchange(rp, code, verifier)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert (AccessToken.objects.count(), RefreshToken.objects.filter(revoked__isnull=True).count()) == (0, 0)
    assert api_status(refreshed["access_token"]) == 401
    again = token_request(rp.registration.application.client_id, rp.client_secret, grant_type="refresh_token",
                          refresh_token=refreshed["refresh_token"])  # fmt: skip
    assert again.status_code == 400
    replay = AuditRecord.objects.get(action="oidc.code.replay")
    assert (replay.outcome, replay.detail) == ("denied", {"access_token_revoked": False, "family_revoked": True})
    assert refusals()[0] == ("denied", {"error": "invalid_grant", "grant_type": "authorization_code"})


def test_a_code_replayed_at_once_revokes_its_access_token(rp, resident):
    code, verifier = code_through_test_client(Client(), resident, rp.registration.application.client_id, REDIRECT)
    first = exchange(rp, code, verifier).json()
    assert api_status(first["access_token"]) == 200
    assert exchange(rp, code, verifier).status_code == 400
    assert api_status(first["access_token"]) == 401
    assert AuditRecord.objects.get(action="oidc.code.replay").detail == {
        "access_token_revoked": True, "family_revoked": True,
    }  # fmt: skip


def test_an_expired_code_is_invalid_grant(rp, resident):
    code, verifier = code_through_test_client(Client(), resident, rp.registration.application.client_id, REDIRECT)
    Grant.objects.filter(code=code).update(expires=timezone.now() - dt.timedelta(seconds=1))
    before = state()
    response = exchange(rp, code, verifier)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert state() == before
    assert refusals() == [("denied", {"error": "invalid_grant", "grant_type": "authorization_code"})]


def test_a_pkce_verifier_that_does_not_match_is_invalid_grant(rp, resident):
    code, _verifier = code_through_test_client(Client(), resident, rp.registration.application.client_id, REDIRECT)
    before = state()
    other_verifier, _ = pkce_pair()
    response = exchange(rp, code, other_verifier)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert state() == before
    assert refusals() == [("denied", {"error": "invalid_grant", "grant_type": "authorization_code"})]
    # The failed exchange burnt the code: the right verifier comes too late (an attacker cannot keep guessing).
    late = exchange(rp, code, _verifier)
    assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")
    assert state() == before


def test_a_code_for_another_redirect_uri_is_invalid_grant(rp, resident):
    code, verifier = code_through_test_client(Client(), resident, rp.registration.application.client_id, REDIRECT)
    before = state()
    response = exchange(rp, code, verifier, redirect_uri=OTHER_REDIRECT)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")  # oauthlib's choice
    assert state() == before


def test_an_unregistered_redirect_uri_is_refused_without_redirecting(rp, resident):
    browser = Client()
    browser.force_login(resident)
    _, challenge = pkce_pair()
    params = authorize_params(rp.registration.application.client_id, "https://evil.example/steal", challenge)
    before = state()
    response = browser.get("/oauth/authorize/?" + urlencode(params))
    assert response.status_code == 400  # never redirected to an unregistered URI
    assert "evil.example" not in response.get("Location", "")
    assert "invalid_request" in response.content.decode()
    assert state() == before
    assert refusals("oidc.authorize") == [("denied", {"error": "invalid_request"})]


def test_a_plain_pkce_challenge_is_refused(rp, resident):
    browser = Client()
    browser.force_login(resident)
    params = authorize_params(rp.registration.application.client_id, REDIRECT, "x" * 43, code_challenge_method="plain")
    response = browser.get("/oauth/authorize/?" + urlencode(params))
    assert response.status_code == 302
    assert query(response["Location"])["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_a_missing_pkce_challenge_is_refused(rp, resident):
    browser = Client()
    browser.force_login(resident)
    params = authorize_params(rp.registration.application.client_id, REDIRECT, "")
    del params["code_challenge"], params["code_challenge_method"]
    response = browser.get("/oauth/authorize/?" + urlencode(params))
    assert query(response["Location"])["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_a_reused_refresh_token_revokes_the_whole_family(rp, resident):
    client_id = rp.registration.application.client_id
    code, verifier = code_through_test_client(Client(), resident, client_id, REDIRECT)
    first = exchange(rp, code, verifier).json()
    second = token_request(client_id, rp.client_secret, grant_type="refresh_token",
                           refresh_token=first["refresh_token"]).json()  # fmt: skip
    assert second["refresh_token"] != first["refresh_token"]
    family = RefreshToken.objects.get(access_token__isnull=False).token_family
    assert RefreshToken.objects.filter(token_family=family).count() == 2

    replay = token_request(
        client_id, rp.client_secret, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    # The whole family is revoked: the current refresh token too, and its access token is gone.
    assert RefreshToken.objects.filter(token_family=family, revoked__isnull=True).count() == 0
    assert not AccessToken.objects.filter(user=resident).exists()
    current = token_request(client_id, rp.client_secret, grant_type="refresh_token",
                            refresh_token=second["refresh_token"])  # fmt: skip
    assert current.json()["error"] == "invalid_grant"
    api = Client().get("/api/v1/registries/persons/1?purpose=self_service",
                       HTTP_AUTHORIZATION=f"Bearer {second['access_token']}")  # fmt: skip
    assert api.status_code == 401
    reuse, again = AuditRecord.objects.filter(action="oidc.refresh_token.reuse").order_by("id")
    assert (reuse.outcome, reuse.target_id, reuse.detail) == (
        "denied", str(family), {"client_id": client_id, "family_revoked": True},
    )  # fmt: skip
    assert again.target_id == str(family)  # the current token, revoked with its family, is a replay too
    assert [d["error"] for _, d in refusals()] == ["invalid_grant", "invalid_grant"]


def test_a_token_for_another_audience_is_refused_by_the_api(manager, person):
    system = register(manager, "gaj-check", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    client_id = system.registration.application.client_id
    response = token_request(client_id, system.client_secret, grant_type="client_credentials",
                             scope="registries:read", resource="https://mzj.example/api/")  # fmt: skip
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    audit_before = AuditRecord.objects.count()
    api = Client().get(f"/api/v1/registries/persons/{person.pk}?purpose=public_security",
                       HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert api.status_code == 401
    assert api["WWW-Authenticate"] == 'Bearer realm="rongcheng", error="invalid_token"'
    assert api.json()["type"] == "/problems/invalid-token"
    (refusal,) = AuditRecord.objects.all()[audit_before:]
    assert (refusal.action, refusal.outcome, refusal.detail) == (
        "registries.person.read", "denied",
        {"error": "invalid_token", "reason": "The access token is invalid: issued for another audience."},
    )  # fmt: skip
    assert not AuditRecord.objects.filter(action="registries.person.read", outcome="success").exists()


def test_a_token_signed_by_another_key_is_refused(manager, person):
    from rongcheng.kernel.keyring import KeyRing

    system = register(manager, "gaj-check", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    token = token_request(system.registration.application.client_id, system.client_secret,
                          grant_type="client_credentials").json()["access_token"]  # fmt: skip
    import json

    from rongcheng.accounts.api_auth import verification_keys
    from rongcheng.kernel.keyring import b64url_decode

    claims = json.loads(b64url_decode(token.split(".")[1]))
    assert verification_keys().verify(token, audience=claims["aud"], issuer=claims["iss"], typ="at+jwt") == claims
    import tempfile

    with tempfile.TemporaryDirectory() as other:
        forged = KeyRing(Path(other)).sign(claims, typ="at+jwt")
    api = Client().get(f"/api/v1/registries/persons/{person.pk}?purpose=public_security",
                       HTTP_AUTHORIZATION=f"Bearer {forged}")  # fmt: skip
    assert api.status_code == 401
    assert api.json()["type"] == "/problems/invalid-token"


@pytest.mark.parametrize(
    "authorization",
    ["Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode(),
     "Basic " + base64.b64encode(b"nul\x00id:secret").decode(),
     "Basic " + base64.b64encode(b"x" * 5000 + b":s").decode(),
     "Basic " + base64.b64encode("客户端:密钥".encode()).decode()],
    ids=["base64", "colon", "nul", "long", "unicode"],
)  # fmt: skip
def test_hostile_client_credentials_are_invalid_client_never_a_crash(authorization, rp):
    before = state()
    response = Client().post("/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=authorization)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert state() == before
    assert [d["error"] for _, d in refusals()] == ["invalid_client"]


def test_an_unknown_client_at_the_authorization_endpoint_is_refused_and_audited(resident):
    browser = Client()
    browser.force_login(resident)
    _, challenge = pkce_pair()
    response = browser.get("/oauth/authorize/?" + urlencode(authorize_params("no-such-client", REDIRECT, challenge)))
    assert response.status_code == 400
    assert not Grant.objects.exists()
    assert refusals("oidc.authorize") == [("denied", {"error": "invalid_request"})]


def test_an_opaque_token_row_for_another_resource_is_refused(manager, person):
    import secrets as random_secrets

    from oauth2_provider.models import set_token_value

    system = register(manager, "gaj-check", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    url = f"/api/v1/registries/persons/{person.pk}?purpose=public_security"
    tokens = {}
    for resource in ([], ["https://mzj.example/api/"]):
        raw = random_secrets.token_urlsafe(32)
        row = AccessToken(application=system.registration.application, scope="registries:read", resource=resource,
                          expires=timezone.now() + dt.timedelta(minutes=10))  # fmt: skip
        set_token_value(row, raw)
        row.save()
        tokens[bool(resource)] = raw
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {tokens[False]}").status_code == 200
    refused = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {tokens[True]}")
    assert (refused.status_code, refused.json()["type"]) == (401, "/problems/invalid-token")


UNPARSEABLE_RESOURCES = ["https://[::1", "https://[", "http://api.example:port/"]


@pytest.mark.parametrize("resource", UNPARSEABLE_RESOURCES)
def test_an_unparseable_resource_is_invalid_target_everywhere_never_500(rp, resident, resource):
    """RFC 8707 resource indicators the toolkit's own check cannot parse: the authorization request, the consent
    form (its hidden field tampered with) and the token request each answer invalid_target, and nothing is issued."""
    from rongcheng.oidc.tests.flows import hidden_fields

    browser = Client()
    browser.force_login(resident)
    client_id = rp.registration.application.client_id
    _, challenge = pkce_pair()
    params = authorize_params(client_id, REDIRECT, challenge)
    before = state()
    asked = browser.get("/oauth/authorize/?" + urlencode({**params, "resource": resource}))
    assert asked.status_code == 302
    assert query(asked["Location"])["error"] == "invalid_target"
    page = browser.get("/oauth/authorize/?" + urlencode(params))
    fields = hidden_fields(page.content.decode())
    posted = browser.post("/oauth/authorize/", {**fields, "resource": resource, "allow": "Authorize"})
    assert posted.status_code == 302
    assert (query(posted["Location"])["error"], query(posted["Location"])["state"]) == ("invalid_target",
                                                                                       params["state"])  # fmt: skip
    tampered = browser.post("/oauth/authorize/", {**fields, "resource": resource, "allow": "Authorize",
                                                  "redirect_uri": "https://evil.example/steal"})  # fmt: skip
    assert tampered.status_code == 400
    assert "evil.example" not in tampered.get("Location", "")
    assert state() == before
    code, verifier = code_through_test_client(Client(), resident, client_id, REDIRECT)
    token = token_request(client_id, rp.client_secret, grant_type="authorization_code", code=code,
                          code_verifier=verifier, redirect_uri=REDIRECT, resource=resource)  # fmt: skip
    assert (token.status_code, token["Content-Type"], token.json()["error"]) == (400, "application/json",
                                                                                  "invalid_target")  # fmt: skip
    assert not AccessToken.objects.filter(user=resident).exists()
