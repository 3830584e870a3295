"""Which grants the token endpoint answers: only the offered ones (authorization_code, refresh_token,
client_credentials), for every kind of client a row of the toolkit can describe, whatever grant oauthlib or the
toolkit knows. The password grant in particular is no password oracle: it never checks a password, so a right, a
wrong, a locked and a staff password get the same answer."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken, Application, RefreshToken
from oauth2_provider.oauth2_validators import GRANT_TYPE_MAPPING, OAuth2Validator
from oauthlib.openid import Server

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.models import AuditRecord
from rongcheng.identity.models import SignInGuard
from rongcheng.oidc.server import OFFERED_GRANT_TYPES
from rongcheng.oidc.tests.conftest import PASSWORD, REDIRECT
from rongcheng.registries.tests import factories

pytestmark = pytest.mark.django_db

SECRET = "a-client-secret-of-the-tests"  # a test value
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# Every grant type oauthlib's full server dispatches or the toolkit maps, and the registered extension grants a
# client might try.
KNOWN_GRANT_TYPES = sorted(
    set(Server(OAuth2Validator()).grant_types)
    | set(GRANT_TYPE_MAPPING)
    | {
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:openid:params:grant-type:ciba",
    }
)
CLIENT_KINDS = [
    (client_type, grant) for grant, _label in Application.GRANT_TYPES for client_type in ("confidential", "public")
]


def test_the_list_of_known_grants_covers_the_password_and_device_grants():
    assert {"password", DEVICE_CODE, *OFFERED_GRANT_TYPES} <= set(KNOWN_GRANT_TYPES)


def client_of_kind(client_type: str, grant: str, name: str = "any-client") -> Application:
    account = User.objects.create_user(username=name, kind=AccountKind.API_CLIENT, department=factories.department())
    return Application.objects.create(
        name=name, user=account, client_type=client_type, authorization_grant_type=grant, redirect_uris=REDIRECT,
        client_secret=SECRET, hash_client_secret=True, algorithm=Application.RS256_ALGORITHM,
    )  # fmt: skip


def token_post(application: Application, **data: str) -> Any:
    headers: dict[str, Any] = {}
    if application.client_type == Application.CLIENT_CONFIDENTIAL:
        credentials = base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()
        headers["HTTP_AUTHORIZATION"] = f"Basic {credentials}"
    else:
        data = {**data, "client_id": application.client_id}
    return Client().post("/oauth/token/", data, **headers)


def counts() -> tuple[int, int, list[tuple[int, Any]]]:
    guards = [(g.failures, g.locked_until) for g in SignInGuard.objects.order_by("pk")]
    return AccessToken.objects.count(), RefreshToken.objects.count(), guards


@pytest.mark.parametrize(("client_type", "client_grant"), CLIENT_KINDS)
def test_only_the_offered_grants_are_answered_for_every_client_kind(client_type, client_grant):
    factories.resident("linjuemin")
    application = client_of_kind(client_type, client_grant)
    for grant_type in KNOWN_GRANT_TYPES:
        before = counts()
        response = token_post(application, grant_type=grant_type, username="linjuemin", password=PASSWORD,
                              code="any-code", refresh_token="any-token", device_code="any-device")  # fmt: skip
        assert response.status_code != 500, grant_type
        error = response.json().get("error")
        if grant_type in OFFERED_GRANT_TYPES:
            assert error != "unsupported_grant_type", grant_type
            continue
        assert (response.status_code, error) == (400, "unsupported_grant_type"), grant_type
        assert counts() == before, grant_type
        record = AuditRecord.objects.filter(action="oidc.token.issue").latest("pk")
        assert (record.outcome, record.detail) == ("denied", {"error": "unsupported_grant_type",
                                                              "grant_type": grant_type})  # fmt: skip


def test_a_device_grant_without_a_code_is_unsupported_grant_type_not_an_error():
    application = client_of_kind("confidential", Application.GRANT_DEVICE_CODE)
    response = token_post(application, grant_type=DEVICE_CODE)
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


def test_discovery_publishes_only_the_offered_grants():
    discovery = Client().get("/oauth/.well-known/openid-configuration").json()
    assert discovery["grant_types_supported"] == list(OFFERED_GRANT_TYPES)


def test_the_password_grant_is_no_password_oracle():
    resident = factories.resident("linjuemin")
    officer = factories.staff("officer")
    locked = factories.resident("locked")
    SignInGuard.objects.create(user=locked, failures=5, locked_until="2999-01-01T00:00:00Z")
    application = client_of_kind("confidential", Application.GRANT_PASSWORD)
    before = counts()
    answers = {
        (who, password): token_post(application, grant_type="password", username=who, password=password)
        for who in (resident.username, officer.username, locked.username, "nobody")
        for password in (PASSWORD, "wrong-password")
    }
    assert {(r.status_code, r.content) for r in answers.values()} == {(400, b'{"error": "unsupported_grant_type"}')}
    assert counts() == before
    assert not AuditRecord.objects.filter(action__startswith="identity.").exists()


@pytest.mark.django_db(transaction=True)
def test_a_standard_client_library_asking_for_the_password_grant_is_refused(live_server):
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.requests_client import OAuth2Session

    factories.resident("linjuemin")
    application = client_of_kind("confidential", Application.GRANT_PASSWORD)
    session = OAuth2Session(application.client_id, SECRET)
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(f"{live_server.url}/oauth/token/", username="linjuemin", password=PASSWORD)
    assert refused.value.error == "unsupported_grant_type"
    assert not AccessToken.objects.exists()
