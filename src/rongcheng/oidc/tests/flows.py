"""Driving the sign-in and consent pages as a browser would, with a requests session or Django's test client.

The sign-in page is settings.LOGIN_URL, reached by the redirect of the authorization endpoint; only its field names
(`username`, `password`) are relied upon, so the identity app can replace the page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def browser_sign_in_and_consent(
    session: Any, base: str, authorize_url: str, username: str, password: str, *, allow: bool = True
) -> str:
    """Follow the authorization request through sign-in and consent; the final redirect to the client."""
    response = session.get(authorize_url, allow_redirects=False, timeout=10)
    if response.status_code == 302 and "next=" in response.headers["Location"]:
        login_url = urljoin(base, response.headers["Location"])
        page = session.get(login_url, timeout=10)
        token = CSRF.search(page.text)
        assert token is not None, page.text
        signed_in = session.post(
            login_url,
            data={"csrfmiddlewaretoken": token.group(1), "username": username, "password": password,
                  "next": query(login_url)["next"]},
            headers={"Referer": login_url}, allow_redirects=False, timeout=10,
        )  # fmt: skip
        assert signed_in.status_code == 302, signed_in.text
        response = session.get(urljoin(base, signed_in.headers["Location"]), allow_redirects=False, timeout=10)
    if response.status_code == 200:  # the consent screen
        fields = hidden_fields(response.text)
        token = CSRF.search(response.text)
        assert token is not None
        data = {**fields, "csrfmiddlewaretoken": token.group(1), **({"allow": "Authorize"} if allow else {})}
        response = session.post(urljoin(base, urlsplit(authorize_url).path), data=data,
                                headers={"Referer": authorize_url}, allow_redirects=False, timeout=10)  # fmt: skip
    assert response.status_code == 302, (response.status_code, response.text[:2000])
    return str(response.headers["Location"])


def authorize_params(client_id: str, redirect_uri: str, challenge: str, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid profile",
            "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256", **extra}  # fmt: skip


def code_through_test_client(
    client: Any, user: Any, client_id: str, redirect_uri: str, **extra: str
) -> tuple[str, str]:
    """(code, verifier) through Django's test client, the person signed in already and consenting."""
    verifier, challenge = pkce_pair()
    client.force_login(user)
    url = "/oauth/authorize/?" + urlencode(authorize_params(client_id, redirect_uri, challenge, **extra))
    response = client.get(url)
    if response.status_code == 200:
        fields = hidden_fields(response.content.decode())
        response = client.post("/oauth/authorize/", {**fields, "allow": "Authorize"})
    assert response.status_code == 302, response.content.decode()[:2000]
    params = query(response["Location"])
    assert "code" in params, response["Location"]
    return params["code"], verifier
