"""What a client learns about a person: pairwise `sub`, `acr` from the assurance level (and step-up), the ID number
only with the right scope, masked or, for an entitled client, in clear through the registry's audited read."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from rongcheng.accounts.models import AssuranceLevel
from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.keyring import b64url_decode
from rongcheng.oidc.tests.conftest import OTHER_REDIRECT, REDIRECT, register
from rongcheng.oidc.tests.flows import authorize_params, code_through_test_client, pkce_pair, query
from rongcheng.oidc.tests.test_bad_input import exchange
from rongcheng.registries.tests import factories

pytestmark = pytest.mark.django_db


def payload(jwt: str) -> dict:
    return dict(json.loads(b64url_decode(jwt.split(".")[1])))


def sign_in(rp, user, redirect_uri: str = REDIRECT, **extra: str) -> dict:
    code, verifier = code_through_test_client(Client(), user, rp.registration.application.client_id, redirect_uri,
                                              **extra)  # fmt: skip
    response = exchange(rp, code, verifier, redirect_uri=redirect_uri)
    assert response.status_code == 200, response.content
    return dict(response.json())


def userinfo(access_token: str) -> dict:
    response = Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_subjects_are_pairwise_per_client_and_stable(manager, rp, resident):
    other = register(manager, "mzj-portal", redirect_uris=[OTHER_REDIRECT])
    first = payload(sign_in(rp, resident)["id_token"])["sub"]
    again = payload(sign_in(rp, resident)["id_token"])["sub"]
    elsewhere = payload(sign_in(other, resident, OTHER_REDIRECT)["id_token"])["sub"]
    assert first == again
    assert elsewhere != first
    assert str(resident.pk) not in (first, elsewhere)


def test_clients_of_one_sector_share_subjects(manager, resident):
    one = register(manager, "gaj-a", sector_identifier="https://gaj.fuzhou.gov.cn")
    two = register(manager, "gaj-b", redirect_uris=[OTHER_REDIRECT], sector_identifier="https://gaj.fuzhou.gov.cn")
    assert (
        payload(sign_in(one, resident)["id_token"])["sub"]
        == payload(sign_in(two, resident, OTHER_REDIRECT)["id_token"])["sub"]
    )


def test_the_access_token_is_an_rfc9068_jwt(rp, resident):
    tokens = sign_in(rp, resident)
    header = json.loads(b64url_decode(tokens["access_token"].split(".")[0]))
    claims = payload(tokens["access_token"])
    assert (header["alg"], header["typ"]) == ("ES256", "at+jwt")  # a registration's default (ADR 0008)
    assert json.loads(b64url_decode(tokens["id_token"].split(".")[0]))["alg"] == "RS256"  # ID tokens: RS256 always
    client_id = rp.registration.application.client_id
    assert (claims["iss"], claims["aud"], claims["client_id"], claims["scope"], claims["acr"]) == (
        "http://testserver/oauth", "http://testserver/api/v1/", client_id, "openid profile", "urn:rongcheng:loa:2",
    )  # fmt: skip
    assert claims["sub"] == payload(tokens["id_token"])["sub"]
    assert claims["exp"] - claims["iat"] == 600


def test_a_client_registered_for_rs256_gets_rs256_access_tokens(manager, resident):
    legacy = register(manager, "gaj-legacy", access_token_algorithm="RS256")
    tokens = sign_in(legacy, resident)
    for token in (tokens["access_token"], tokens["id_token"]):
        assert json.loads(b64url_decode(token.split(".")[0]))["alg"] == "RS256"
    assert userinfo(tokens["access_token"])["sub"] == payload(tokens["id_token"])["sub"]


def test_acr_follows_the_assurance_level(rp, resident):
    resident.assurance_level = AssuranceLevel.L3
    resident.save(update_fields=["assurance_level"])
    assert payload(sign_in(rp, resident)["id_token"])["acr"] == "urn:rongcheng:loa:3"


def test_a_client_asking_for_a_higher_level_sends_the_person_to_step_up_or_is_refused(rp, resident):
    browser = Client()
    browser.force_login(resident)
    _, challenge = pkce_pair()
    params = authorize_params(rp.registration.application.client_id, REDIRECT, challenge,
                              acr_values="urn:rongcheng:loa:3")  # fmt: skip
    response = browser.get("/oauth/authorize/?" + urlencode(params))
    assert response.status_code == 302
    try:
        step_up = reverse("identity:step-up")
    except NoReverseMatch:
        assert query(response["Location"])["error"] == "unmet_authentication_requirements"
        assert query(response["Location"])["state"] == params["state"]
        (refusal,) = AuditRecord.objects.filter(action="oidc.authorize", outcome="denied")
        assert refusal.detail == {"error": "unmet_authentication_requirements", "required_level": 3}
    else:
        assert response["Location"].startswith(step_up)
        assert query(response["Location"])["level"] == "3"
    # A level the account meets passes.
    params["acr_values"] = "urn:rongcheng:loa:2 urn:rongcheng:loa:3"
    assert browser.get("/oauth/authorize/?" + urlencode(params)).status_code == 200


def test_the_id_number_is_released_masked_with_its_scope_and_audited(rp, resident, person):
    tokens = sign_in(rp, resident, scope="openid id_number_masked")
    assert "id_number_masked" not in payload(tokens["id_token"])  # userinfo only
    before = AuditRecord.objects.filter(action="oidc.claim.release").count()
    claims = userinfo(tokens["access_token"])
    assert claims["id_number_masked"] == person.id_number_masked
    assert "*" in claims["id_number_masked"]
    assert "id_number" not in claims
    release = AuditRecord.objects.filter(action="oidc.claim.release").order_by("-id").first()
    assert before == 0
    assert release is not None
    assert (release.target_id, release.detail["claim"]) == (str(person.pk), "id_number_masked")


def test_without_the_scope_no_id_number_is_released(rp, resident):
    claims = userinfo(sign_in(rp, resident)["access_token"])
    assert set(claims) == {"sub", "acr", "amr", "name"}
    assert not AuditRecord.objects.filter(action__in=["oidc.claim.release", "registries.person.read"]).exists()


def test_the_clear_id_number_scope_needs_the_registry_entitlement(manager, resident, person):
    plain = register(manager, "gaj-portal", api_scopes=["registries:read"])
    browser = Client()
    browser.force_login(resident)
    _, challenge = pkce_pair()
    params = authorize_params(plain.registration.application.client_id, REDIRECT, challenge, scope="openid id_number")
    response = browser.get("/oauth/authorize/?" + urlencode(params))
    assert query(response["Location"])["error"] == "invalid_scope"

    entitled = register(manager, "rsj-portal", redirect_uris=[OTHER_REDIRECT], api_scopes=["registries:read"])
    factories.entitle(client=entitled.registration.application.user, fields=("id_number",), purpose="service_hall")
    claims = userinfo(sign_in(entitled, resident, OTHER_REDIRECT, scope="openid id_number")["access_token"])
    from rongcheng.registries.protection import reveal

    assert claims["id_number"] == reveal("person.id_number", person.id_number_cipher)
    read = AuditRecord.objects.get(action="registries.person.read")
    assert (read.actor_kind, read.actor_label, read.purpose, read.detail["clear"]) == (
        "api_client", "rsj-portal", "service_hall", ["id_number"],
    )  # fmt: skip
