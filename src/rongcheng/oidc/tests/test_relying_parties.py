"""Real relying parties against the live server: Authlib (discovery, code + PKCE, id_token checked against the
JWKS, userinfo, refresh, client credentials to a registry API) and the independent `oic` package."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit

import pytest
import requests

from rongcheng.oidc.tests.conftest import PASSWORD, REDIRECT, register
from rongcheng.oidc.tests.flows import browser_sign_in_and_consent, query

pytestmark = pytest.mark.django_db(transaction=True)


def discovery(base: str) -> dict:
    response = requests.get(f"{base}/oauth/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    return dict(response.json())


def test_authlib_relying_party_signs_a_resident_in(live_server, rp, resident):
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.jose import JsonWebKey, jwt

    base = live_server.url
    config = discovery(base)
    assert config["issuer"] == f"{base}/oauth"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["subject_types_supported"] == ["pairwise"]
    assert config["acr_values_supported"] == [f"urn:rongcheng:loa:{n}" for n in (1, 2, 3)]
    client_id = rp.registration.application.client_id
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(12)
    with OAuth2Session(client_id, rp.client_secret, scope="openid profile", redirect_uri=REDIRECT,
                       code_challenge_method="S256") as relying_party:  # fmt: skip
        url, state = relying_party.create_authorization_url(
            config["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        with requests.Session() as browser:
            location = browser_sign_in_and_consent(browser, base, url, resident.username, PASSWORD)
        assert location.startswith(REDIRECT)
        assert (query(location)["state"], query(location)["iss"]) == (state, f"{base}/oauth")
        token = relying_party.fetch_token(
            config["token_endpoint"], authorization_response=location, code_verifier=verifier
        )
    assert (token["token_type"], token["expires_in"], token["scope"]) == ("Bearer", 600, "openid profile")

    jwks = JsonWebKey.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": config["issuer"]}, "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
    })  # fmt: skip
    claims.validate()
    assert (claims["acr"], claims["amr"], claims["name"]) == ("urn:rongcheng:loa:2", ["pwd"], "林觉民")
    assert claims["sub"] != str(resident.pk)
    assert len(claims["sub"]) == 43

    with OAuth2Session(client_id, rp.client_secret, token=token) as relying_party:
        userinfo = relying_party.get(config["userinfo_endpoint"], timeout=10).json()
        assert userinfo == {"sub": claims["sub"], "acr": "urn:rongcheng:loa:2", "amr": ["pwd"], "name": "林觉民"}
        refreshed = relying_party.refresh_token(config["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"] != token["access_token"]
    with OAuth2Session(client_id, rp.client_secret, token=refreshed) as relying_party:
        assert relying_party.get(config["userinfo_endpoint"], timeout=10).json()["sub"] == claims["sub"]


def test_authlib_client_credentials_call_a_registry_api(live_server, manager, person):
    from authlib.integrations.requests_client import OAuth2Session

    system = register(manager, "gaj-population-check", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    base = live_server.url
    config = discovery(base)
    client_id = system.registration.application.client_id
    with OAuth2Session(client_id, system.client_secret, scope="registries:read") as session:
        token = session.fetch_token(config["token_endpoint"], grant_type="client_credentials")
    assert_verified_by_the_published_jwks(token["access_token"], config, "ES256")
    with OAuth2Session(client_id, token=token) as session:
        response = session.get(f"{base}/api/v1/registries/persons/{person.pk}?purpose=public_security", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["record_id"], body["name"]) == (person.pk, "林**")  # masked: no entitlement


def assert_verified_by_the_published_jwks(access_token: str, config: dict, algorithm: str) -> None:
    """Another department's resource server: the JWKS as published, two libraries (Authlib, jwcrypto), nothing of
    ours; each must verify the token under the algorithm its key is published for."""
    from authlib.jose import JsonWebKey, jwt
    from jwcrypto import jwk
    from jwcrypto import jwt as jwcrypto_jwt

    published = requests.get(config["jwks_uri"], timeout=10).json()
    claims = jwt.decode(access_token, JsonWebKey.import_key_set(published), claims_options={
        "iss": {"essential": True, "value": config["issuer"]}, "exp": {"essential": True},
    })  # fmt: skip
    claims.validate()
    assert (claims.header["alg"], claims.header["typ"]) == (algorithm, "at+jwt")
    (key,) = [k for k in published["keys"] if k["kid"] == claims.header["kid"]]
    assert key["alg"] == algorithm
    checked = jwcrypto_jwt.JWT(jwt=access_token, key=jwk.JWKSet.from_json(json.dumps(published)), algs=[algorithm],
                               expected_type="JWS", check_claims={"iss": config["issuer"], "exp": None})  # fmt: skip
    assert json.loads(checked.claims)["jti"] == claims["jti"]


def test_a_client_registered_for_rs256_access_tokens_gets_them_verified_the_same_way(live_server, manager, person):
    from authlib.integrations.requests_client import OAuth2Session

    system = register(manager, "gaj-legacy-check", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"], access_token_algorithm="RS256")  # fmt: skip
    config = discovery(live_server.url)
    client_id = system.registration.application.client_id
    with OAuth2Session(client_id, system.client_secret, scope="registries:read") as session:
        token = session.fetch_token(config["token_endpoint"], grant_type="client_credentials")
    assert_verified_by_the_published_jwks(token["access_token"], config, "RS256")
    with OAuth2Session(client_id, token=token) as session:
        url = f"{live_server.url}/api/v1/registries/persons/{person.pk}?purpose=public_security"
        assert session.get(url, timeout=10).status_code == 200


def test_the_oic_package_does_discovery_and_the_code_flow(live_server, rp, resident):
    from oic.oic import Client
    from oic.oic.message import AccessTokenResponse, AuthorizationResponse, RegistrationResponse
    from oic.utils.authn.client import CLIENT_AUTHN_METHOD

    base = live_server.url
    client_id = rp.registration.application.client_id
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    config = client.provider_config(f"{base}/oauth")
    assert config["issuer"] == f"{base}/oauth"
    client.store_registration_info(
        RegistrationResponse(client_id=client_id, client_secret=rp.client_secret, redirect_uris=[REDIRECT])
    )
    client.redirect_uris = [REDIRECT]
    pkce_args, verifier = client.add_code_challenge()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    request = client.construct_AuthorizationRequest(request_args={
        "response_type": "code", "scope": ["openid", "profile"], "state": state, "nonce": nonce,
        "redirect_uri": REDIRECT, **pkce_args,
    })  # fmt: skip
    url = request.request(client.authorization_endpoint)
    with requests.Session() as browser:
        location = browser_sign_in_and_consent(browser, base, url, resident.username, PASSWORD)
    response = client.parse_response(AuthorizationResponse, info=urlsplit(location).query, sformat="urlencoded")
    assert response["state"] == state
    token = client.do_access_token_request(
        state=state,
        request_args={"code": response["code"], "code_verifier": verifier, "redirect_uri": REDIRECT},
        authn_method="client_secret_basic",
    )
    assert isinstance(token, AccessTokenResponse)
    id_token = token["id_token"]  # verified by oic against the provider's JWKS
    assert (id_token["iss"], id_token["aud"], id_token["nonce"]) == (f"{base}/oauth", [client_id], nonce)
    assert id_token["acr"] == "urn:rongcheng:loa:2"
    userinfo = client.do_user_info_request(state=state)
    assert userinfo["sub"] == id_token["sub"]
