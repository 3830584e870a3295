"""Pages: consent remembered per client and revocable from /oidc/authorized-clients/; the clients registry."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from rongcheng.audit.models import AuditRecord
from rongcheng.oidc.models import ClientRegistration, Consent
from rongcheng.oidc.tests.conftest import PASSWORD, REDIRECT, register
from rongcheng.oidc.tests.flows import authorize_params, code_through_test_client, hidden_fields, pkce_pair, query
from rongcheng.oidc.tests.test_bad_input import exchange, token_request
from rongcheng.registries.tests import factories

pytestmark = pytest.mark.django_db


def authorize(browser: Client, rp, **extra: str):
    _, challenge = pkce_pair()
    params = authorize_params(rp.registration.application.client_id, REDIRECT, challenge, **extra)
    return browser.get("/oauth/authorize/?" + urlencode(params))


def test_the_consent_screen_lists_the_claims_in_chinese(rp, resident):
    browser = Client()
    browser.force_login(resident)
    response = authorize(browser, rp, scope="openid profile id_number_masked")
    # The form's POST redirects to the client: its origin, and only it, joins the page's form-action.
    assert "form-action 'self' https://rp.gaj.example;" in response["Content-Security-Policy"] + ";"
    page = response.content.decode()
    for text in ("授权确认", "gaj-portal", "市公安局"):
        assert text in page
    for claim in ("登录标识", "姓名", "身份证号码（隐去出生日期等数字）"):
        assert claim in page
    assert "<script" not in page
    assert "style=" not in page


def test_the_consent_buttons_read_allow_and_deny_in_each_language(rp, resident):
    def buttons(response) -> list[str]:
        form = response.content.decode().split('id="authorizationForm"')[1].split("</form>")[0]
        return re.findall(r"<button[^>]*>([^<]*)</button>", form)

    browser = Client()
    browser.force_login(resident)
    assert buttons(authorize(browser, rp)) == ["同意授权", "拒绝授权"]
    english = Client(headers={"Accept-Language": "en"})
    english.force_login(resident)
    assert buttons(authorize(english, rp)) == ["Allow", "Deny"]


def test_consent_is_remembered_until_more_is_asked(rp, resident):
    browser = Client()
    code_through_test_client(browser, resident, rp.registration.application.client_id, REDIRECT)
    (consent,) = Consent.objects.all()
    assert consent.scopes == {"openid", "profile"}
    again = authorize(browser, rp)
    assert again.status_code == 302
    assert "code" in query(again["Location"])
    assert authorize(browser, rp, scope="openid profile id_number_masked").status_code == 200  # asks again
    assert authorize(browser, rp, prompt="consent").status_code == 200


def test_refusing_consent_returns_access_denied_and_remembers_nothing(rp, resident):
    browser = Client()
    browser.force_login(resident)
    fields = hidden_fields(authorize(browser, rp).content.decode())
    response = browser.post("/oauth/authorize/", fields)
    assert query(response["Location"])["error"] == "access_denied"
    assert not Consent.objects.exists()
    (refusal,) = AuditRecord.objects.filter(action="oidc.authorize", outcome="denied")
    assert refusal.detail == {"error": "access_denied"}


def test_a_person_sees_and_revokes_authorized_clients(rp, resident):
    browser = Client()
    code, verifier = code_through_test_client(browser, resident, rp.registration.application.client_id, REDIRECT)
    tokens = exchange(rp, code, verifier).json()
    page = browser.get("/oidc/authorized-clients/").content.decode()
    for text in ("gaj-portal", "市公安局", "openid profile"):
        assert text in page
    consent = Consent.objects.get()
    intruder = factories.resident("intruder")
    other = Client()
    other.force_login(intruder)
    other.post(f"/oidc/authorized-clients/{consent.pk}/revoke/")
    assert Consent.objects.filter(pk=consent.pk).exists()  # someone else's consent is not theirs to revoke

    response = browser.post(f"/oidc/authorized-clients/{consent.pk}/revoke/", follow=True)
    assert "已撤销授权" in response.content.decode()
    assert not Consent.objects.exists()
    assert not AccessToken.objects.exists()
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 0
    refused = token_request(rp.registration.application.client_id, rp.client_secret, grant_type="refresh_token",
                            refresh_token=tokens["refresh_token"])  # fmt: skip
    assert refused.json()["error"] == "invalid_grant"
    assert Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401
    record = AuditRecord.objects.get(action="oidc.consent.revoke")
    assert (record.actor_id, record.detail) == (str(resident.pk), {"access_tokens_revoked": 1})


def test_the_authorized_clients_page_needs_sign_in():
    response = Client().get("/oidc/authorized-clients/")
    assert response.status_code == 302
    assert "next=/oidc/authorized-clients/" in response["Location"]


@pytest.mark.parametrize("who", ["anonymous", "resident", "officer"])
def test_only_client_managers_see_the_clients_registry(who, rp, resident):
    browser = Client()
    if who == "resident":
        browser.force_login(resident)
    elif who == "officer":
        browser.force_login(factories.staff())
    before = ClientRegistration.objects.count()
    for url in ("/oidc/clients/", "/oidc/clients/register/", f"/oidc/clients/{rp.registration.application.client_id}/"):
        assert browser.get(url).status_code == (302 if who == "anonymous" else 403)
    assert browser.post(f"/oidc/clients/{rp.registration.application.client_id}/disable/").status_code in (302, 403)
    assert ClientRegistration.objects.filter(disabled_at__isnull=True).count() == before


def test_a_manager_registers_rotates_and_disables_a_client_in_pages(manager):
    browser = Client()
    browser.force_login(manager)
    response = browser.post("/oidc/clients/register/", {
        "name": "sbj-portal", "department_code": "FZ-GAJ", "grant_type": "authorization-code",
        "redirect_uris": "https://sbj.example/cb", "post_logout_redirect_uris": "", "sector_identifier": "",
    }, follow=True)  # fmt: skip
    page = response.content.decode()
    secret = re.search(r'id="client-secret">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    client_id = re.search(r'id="client-id">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    assert response["Cache-Control"] == "no-store"
    assert Application.objects.get(client_id=client_id).client_secret.startswith("hmac_sm3$")
    # the algorithm the department's resource servers verify its access tokens with, as registered (the default)
    assert re.search(r'id="access-token-algorithm">([^<]+)<', page).group(1) == "ES256 (P-256)"  # type: ignore[union-attr]
    assert "client-secret" not in browser.get(f"/oidc/clients/{client_id}/").content.decode()  # shown once
    assert token_request(client_id, secret, grant_type="client_credentials").json()["error"] == "unauthorized_client"

    rotated = browser.post(f"/oidc/clients/{client_id}/rotate-secret/", follow=True).content.decode()
    new_secret = re.search(r'id="client-secret">([^<]+)<', rotated).group(1)  # type: ignore[union-attr]
    assert new_secret != secret
    assert token_request(client_id, secret, grant_type="client_credentials").json()["error"] == "invalid_client"
    browser.post(f"/oidc/clients/{client_id}/disable/")
    assert token_request(client_id, new_secret, grant_type="client_credentials").json()["error"] == "invalid_client"
    assert [r.action for r in AuditRecord.objects.filter(target_type="oidc.client", outcome="success").order_by("id")
            if r.action.startswith("oidc.client")] == [
        "oidc.client.register", "oidc.client.rotate_secret", "oidc.client.disable",
    ]  # fmt: skip


def test_the_registration_form_offers_the_access_token_algorithm_and_keeps_the_choice(manager):
    browser = Client()
    browser.force_login(manager)
    form = browser.get("/oidc/clients/register/").content.decode()
    assert re.findall(r'<option value="(ES256|RS256)"( selected)?', form) == [("ES256", " selected"), ("RS256", "")]
    page = browser.post("/oidc/clients/register/", {
        "name": "sbj-legacy", "department_code": "FZ-GAJ", "grant_type": "client-credentials", "redirect_uris": "",
        "post_logout_redirect_uris": "", "sector_identifier": "", "access_token_algorithm": "RS256",
    }, follow=True).content.decode()  # fmt: skip
    assert re.search(r'id="access-token-algorithm">([^<]+)<', page).group(1) == "RS256 (RSA 2048)"  # type: ignore[union-attr]
    assert ClientRegistration.objects.get(application__name="sbj-legacy").access_token_algorithm == "RS256"


def test_the_portal_sign_in_page_is_the_one_the_provider_uses(rp, resident):
    from django.conf import settings
    from django.shortcuts import resolve_url

    browser = Client()
    response = authorize(browser, rp)
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")
    signed_in = browser.post(response["Location"], {"username": resident.username, "password": PASSWORD,
                                                    "next": query(response["Location"])["next"]})  # fmt: skip
    assert signed_in.status_code == 302
    assert signed_in["Location"].startswith("/oauth/authorize/")


def test_rp_initiated_logout_signs_the_person_out_and_returns_to_the_client(rp, resident):
    browser = Client()
    code, verifier = code_through_test_client(browser, resident, rp.registration.application.client_id, REDIRECT)
    tokens = exchange(rp, code, verifier).json()
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://rp.gaj.example/bye",
              "state": "s1"}  # fmt: skip
    page = browser.get("/oauth/logout/?" + urlencode(params))
    assert page.status_code == 200
    assert "form-action 'self' https://rp.gaj.example;" in page["Content-Security-Policy"] + ";"
    assert "gaj-portal" in page.content.decode()
    fields = hidden_fields(page.content.decode())
    response = browser.post("/oauth/logout/", {**fields, "allow": "Logout"})
    assert response.status_code == 302
    assert response["Location"] == "https://rp.gaj.example/bye?state=s1"
    assert "_auth_user_id" not in browser.session
    assert not AccessToken.objects.filter(user=resident).exists()


def test_logout_to_an_unregistered_uri_is_refused(rp, resident):
    browser = Client()
    code, verifier = code_through_test_client(browser, resident, rp.registration.application.client_id, REDIRECT)
    tokens = exchange(rp, code, verifier).json()
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"}
    response = browser.get("/oauth/logout/?" + urlencode(params))
    assert response.status_code == 400
    assert "_auth_user_id" in browser.session


def test_the_list_pages_take_a_bounded_number_of_queries(manager, resident, django_assert_max_num_queries):
    for number in range(5):
        issued = register(manager, f"portal-{number}", redirect_uris=[f"https://p{number}.example/cb"])
        code_through_test_client(Client(), resident, issued.registration.application.client_id,
                                 f"https://p{number}.example/cb")  # fmt: skip
    person_browser = Client()
    person_browser.force_login(resident)
    with django_assert_max_num_queries(8):
        page = person_browser.get("/oidc/authorized-clients/").content.decode()
    assert page.count("撤销授权</button>") == 5
    manager_browser = Client()
    manager_browser.force_login(manager)
    with django_assert_max_num_queries(8):
        page = manager_browser.get("/oidc/clients/").content.decode()
    assert page.count("/oidc/clients/") >= 6
