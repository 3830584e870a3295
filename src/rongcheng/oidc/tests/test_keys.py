"""Signing keys: generated on first use, rotated by command with the old key still verifying, then retired;
the keyed hash of client secrets."""

from __future__ import annotations

import contextlib
import io
import json
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from rongcheng.kernel.keyring import JwtInvalid, KeyRing, b64url_decode
from rongcheng.oidc.hashers import ClientSecretHasher
from rongcheng.oidc.tests.conftest import register
from rongcheng.oidc.tests.test_bad_input import token_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_keys(settings, tmp_path):
    settings.OIDC_KEYS_DIR = tmp_path / "keys"
    return tmp_path / "keys"


def kid_of(token: str) -> str:
    return str(json.loads(b64url_decode(token.split(".")[0]))["kid"])


def test_rotation_keeps_old_tokens_verifying_until_the_key_is_retired(fresh_keys, manager):
    system = register(manager, "gaj-check", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    client_id = system.registration.application.client_id
    old = token_request(client_id, system.client_secret, grant_type="client_credentials").json()["access_token"]
    assert sorted(p.stat().st_mode & 0o777 for p in fresh_keys.iterdir()) == [0o600]
    out = io.StringIO()
    call_command("oidc_keys", "rotate", stdout=out)
    new_kid = out.getvalue().split()[1]
    new = token_request(client_id, system.client_secret, grant_type="client_credentials").json()["access_token"]
    assert kid_of(new) == new_kid != kid_of(old)
    jwks = Client().get("/oauth/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, kid_of(old)]
    assert {k["alg"] for k in jwks["keys"]} == {"RS256"}
    assert "d" not in jwks["keys"][0]
    url = "/api/v1/registries/persons/1?purpose=statistics"
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 404  # still verifies

    with pytest.raises(CommandError, match="active key cannot be retired"):
        call_command("oidc_keys", "retire", "--", new_kid, stdout=io.StringIO())
    call_command("oidc_keys", "retire", "--", kid_of(old), stdout=io.StringIO())
    assert [k["kid"] for k in Client().get("/oauth/.well-known/jwks.json").json()["keys"]] == [new_kid]
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 404


def test_key_ring_refuses_tampering(tmp_path):
    ring = KeyRing(tmp_path)
    token = ring.sign({"exp": 2_000_000_000, "aud": "a", "iss": "i"}, typ="at+jwt")
    header, body, signature = token.split(".")
    assert ring.verify(token, audience="a", issuer="i", typ="at+jwt")["aud"] == "a"
    for bad, reason in [
        (f"{header}.{body[:-2]}xx.{signature}", "signature"),
        (f"{header}.{body}", "compact"),
        (token, "audience"),
        ("e30.e30.e30", "RS256"),
    ]:
        with pytest.raises(JwtInvalid, match=reason):
            ring.verify(bad, audience="b" if reason == "audience" else "a", issuer="i", typ="at+jwt")
    with pytest.raises(JwtInvalid, match="expired"):
        ring.verify(ring.sign({"exp": 1}), audience=None)
    with pytest.raises(JwtInvalid, match="type"):
        ring.verify(ring.sign({"exp": 2_000_000_000}, typ="JWT"), typ="at+jwt")


def test_client_secrets_use_the_keyed_hash(settings):
    hasher = ClientSecretHasher()
    encoded = hasher.encode("s" * 128, "salt")
    assert encoded.startswith("hmac_sm3$salt$")
    assert len(encoded.split("$")[2]) == 64
    assert hasher.verify("s" * 128, encoded)
    assert not hasher.verify("t" * 128, encoded)
    settings.OIDC_CLIENT_SECRET_KEY = "00" * 32
    assert not hasher.verify("s" * 128, encoded)  # the key is part of the hash
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")  # people's passwords stay argon2


@settings_hypothesis(max_examples=300, deadline=None)
@given(text=st.text(max_size=400) | st.from_regex(r"[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,80}"))
def test_any_string_is_refused_with_jwt_invalid_never_another_error(tmp_path_factory, text):
    ring = _shared_ring(tmp_path_factory)
    with pytest.raises(JwtInvalid):
        ring.verify(text, audience="a", issuer="i", typ="at+jwt")


@settings_hypothesis(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw_-9z"))
def test_a_changed_character_never_yields_other_claims(tmp_path_factory, position, replacement):
    ring = _shared_ring(tmp_path_factory)
    claims = {"exp": 2_000_000_000, "aud": "a", "iss": "i", "sub": "s"}
    token = ring.sign(claims, typ="at+jwt")
    index = position % len(token)
    if token[index] == ".":
        return
    tampered = token[:index] + replacement + token[index + 1 :]
    with contextlib.suppress(JwtInvalid):
        assert ring.verify(tampered, audience="a", issuer="i", typ="at+jwt") == claims  # only padding bits changed


_RINGS: dict[str, KeyRing] = {}


def _shared_ring(tmp_path_factory) -> KeyRing:
    if "ring" not in _RINGS:
        _RINGS["ring"] = KeyRing(tmp_path_factory.mktemp("ring"))
    return _RINGS["ring"]


def test_processes_starting_together_agree_on_one_first_key(tmp_path):
    import threading

    rings = [KeyRing(tmp_path / "keys") for _ in range(6)]
    kids: list[str] = []
    barrier = threading.Barrier(len(rings))

    def start(ring: KeyRing) -> None:
        barrier.wait()
        kids.append(ring.active().kid)

    threads = [threading.Thread(target=start, args=(ring,)) for ring in rings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(kids)) == 1
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["key-00000000000000000000.pem"]


def test_a_token_verified_once_still_expires_and_dies_with_its_retired_key(tmp_path):
    ring = KeyRing(tmp_path)
    ring.active()  # the first key is generated before the clock starts: under load that alone took over 2 s
    expiry = int(time.time()) + 2
    soon = ring.sign({"exp": expiry, "aud": "a", "iss": "i"}, typ="at+jwt")
    assert ring.verify(soon, audience="a", issuer="i", typ="at+jwt")["aud"] == "a"
    assert ring.verify(soon, audience="a", issuer="i", typ="at+jwt")["aud"] == "a"  # the remembered verification
    with pytest.raises(JwtInvalid, match="another audience"):
        ring.verify(soon, audience="b", issuer="i", typ="at+jwt")  # other checks are not answered from memory
    time.sleep(max(0.0, expiry - time.time()) + 0.05)
    with pytest.raises(JwtInvalid, match="expired"):
        ring.verify(soon, audience="a", issuer="i", typ="at+jwt")
    later = ring.sign({"exp": 2_000_000_000, "aud": "a", "iss": "i"}, typ="at+jwt")
    assert ring.verify(later, audience="a", issuer="i", typ="at+jwt")["iss"] == "i"
    old = ring.active().kid
    ring.rotate()
    ring.retire(old)
    with pytest.raises(JwtInvalid, match="unknown key"):
        ring.verify(later, audience="a", issuer="i", typ="at+jwt")


REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})


@settings_hypothesis(max_examples=25, deadline=None)
@given(
    claims=st.dictionaries(
        # jwcrypto's verification (the reference below) type-checks the registered claims (RFC 7519 4.1: "sub" a
        # string, "exp" a number...) and refused {"sub": 0}; free keys are the others (registered ones are above).
        st.text(min_size=1, max_size=8).filter(lambda name: name not in REGISTERED_CLAIMS),
        st.one_of(st.integers(), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3)),
        max_size=6,
    ),
    typ=st.sampled_from(["at+jwt", "JWT", "logout+jwt"]),
)
def test_a_token_is_what_jwcrypto_signs_byte_for_byte(tmp_path_factory, claims, typ):
    """The ring signs through jwcrypto's signing core; its tokens are exactly those of jwcrypto's JWT object (RS256
    is deterministic) and verify with it."""
    from jwcrypto import jwt

    ring = KeyRing(tmp_path_factory.getbasetemp() / "same-keys")
    key = ring.active()
    token = ring.sign(claims, typ=typ)
    reference = jwt.JWT(header={"alg": "RS256", "typ": typ, "kid": key.kid}, claims=dict(claims))
    reference.make_signed_token(key.jwk)
    assert token == reference.serialize()
    checked = jwt.JWT(jwt=token, key=key.jwk, algs=["RS256"], expected_type="JWS", check_claims={})
    assert json.loads(checked.claims) == claims
