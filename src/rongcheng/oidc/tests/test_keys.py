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


def alg_of(token: str) -> str:
    return str(json.loads(b64url_decode(token.split(".")[0]))["alg"])


def test_rotation_keeps_old_tokens_verifying_until_the_key_is_retired(fresh_keys, manager):
    """Both algorithms' keys rotate together and retire one by one, the same way: ES256 access tokens (the default)
    and RS256 ones (a client registered for them)."""
    systems = [
        register(manager, name, grant_type="client-credentials", redirect_uris=[], api_scopes=["registries:read"],
                 access_token_algorithm=algorithm)
        for name, algorithm in (("gaj-check", "ES256"), ("gaj-legacy", "RS256"))
    ]  # fmt: skip

    def tokens() -> list[str]:
        return [
            token_request(
                s.registration.application.client_id, s.client_secret, grant_type="client_credentials"
            ).json()["access_token"]
            for s in systems
        ]

    old = tokens()
    assert [alg_of(t) for t in old] == ["ES256", "RS256"]
    assert sorted(p.stat().st_mode & 0o777 for p in fresh_keys.iterdir()) == [0o600, 0o600]
    out = io.StringIO()
    call_command("oidc_keys", "rotate", stdout=out)
    rotated = dict(line.split()[2:0:-1] for line in out.getvalue().splitlines() if line.startswith("active:"))
    assert set(rotated) == {"ES256", "RS256"}
    new = tokens()
    assert [kid_of(t) for t in new] == [rotated["ES256"], rotated["RS256"]]
    assert not {kid_of(t) for t in new} & {kid_of(t) for t in old}
    jwks = Client().get("/oauth/.well-known/jwks.json").json()["keys"]
    assert {(k["kid"], k["alg"]) for k in jwks} == {(kid_of(t), alg_of(t)) for t in old + new}
    assert {k["kid"] for k in jwks[:2]} == set(rotated.values())  # newest first
    assert {(k["alg"], k["kty"], k.get("crv"), k["use"]) for k in jwks} == {
        ("ES256", "EC", "P-256", "sig"), ("RS256", "RSA", None, "sig"),
    }  # fmt: skip
    assert not any("d" in k for k in jwks)
    url = "/api/v1/registries/persons/1?purpose=statistics"
    for token in old:
        assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404  # still verifies

    for kid in rotated.values():
        with pytest.raises(CommandError, match="active key cannot be retired"):
            call_command("oidc_keys", "retire", "--", kid, stdout=io.StringIO())
    for token in old:
        call_command("oidc_keys", "retire", "--", kid_of(token), stdout=io.StringIO())
    remaining = Client().get("/oauth/.well-known/jwks.json").json()["keys"]
    assert {k["kid"] for k in remaining} == set(rotated.values())
    for token in old:
        assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    for token in new:
        assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404


def test_one_algorithm_rotates_alone(fresh_keys):
    call_command("oidc_keys", "list", stdout=io.StringIO())  # the first keys
    out = io.StringIO()
    call_command("oidc_keys", "rotate", "--algorithm", "ES256", stdout=out)
    assert [line.split()[2] for line in out.getvalue().splitlines() if line.startswith("active:")] == ["ES256"]
    listed = [line.split() for line in out.getvalue().splitlines() if not line.startswith("active:")]
    assert sorted((algorithm, state) for _, algorithm, _, state in listed) == [
        ("ES256", "signing"), ("ES256", "verifying"), ("RS256", "signing"),
    ]  # fmt: skip


def test_key_ring_refuses_tampering(tmp_path):
    ring = KeyRing(tmp_path)
    token = ring.sign({"exp": 2_000_000_000, "aud": "a", "iss": "i"}, typ="at+jwt")
    header, body, signature = token.split(".")
    assert ring.verify(token, audience="a", issuer="i", typ="at+jwt")["aud"] == "a"
    for bad, reason in [
        (f"{header}.{body[:-2]}xx.{signature}", "signature"),
        (f"{header}.{body}", "compact"),
        (token, "audience"),
        ("e30.e30.e30", "RS256 or ES256"),
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
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "key-00000000000000000000-es256.pem", "key-00000000000000000000.pem",
    ]  # fmt: skip


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


def _forged(header: dict, claims: dict, sign) -> str:
    from jwcrypto.common import base64url_encode, json_encode

    signing_input = f"{base64url_encode(json_encode(header))}.{base64url_encode(json_encode(claims))}"
    return f"{signing_input}.{base64url_encode(sign(signing_input.encode()))}"


def _confusions(ring: KeyRing, claims: dict) -> list[tuple[str, str]]:
    """Tokens whose header names an algorithm other than their key's, each signed as its header says, with what
    the refusal must say."""
    import hashlib
    import hmac

    from jwcrypto import jwa

    rsa_key, ec_key = ring.active("RS256"), ring.active("ES256")

    def core(algorithm: str, key):
        return lambda data: jwa.JWA.signing_alg(algorithm).sign(key.jwk, data)

    def hs256(secret: bytes):
        return lambda data: hmac.new(secret, data, hashlib.sha256).digest()

    typ = "at+jwt"
    return [
        (_forged({"alg": "none", "typ": typ, "kid": ec_key.kid}, claims, lambda data: b""), "RS256 or ES256"),
        (_forged({"alg": "HS256", "typ": typ, "kid": rsa_key.kid}, claims,
                 hs256(json.dumps(rsa_key.public_jwk()).encode())), "RS256 or ES256"),
        (_forged({"alg": "HS256", "typ": typ, "kid": ec_key.kid}, claims,
                 hs256(ec_key.public_key.export_to_pem())), "RS256 or ES256"),
        (_forged({"alg": "RS256", "typ": typ, "kid": ec_key.kid}, claims, core("RS256", rsa_key)), "ES256 only"),
        (_forged({"alg": "ES256", "typ": typ, "kid": rsa_key.kid}, claims, core("ES256", ec_key)), "RS256 only"),
    ]  # fmt: skip


def test_the_key_decides_the_algorithm_whatever_the_header_says(tmp_path):
    ring = KeyRing(tmp_path)
    claims = {"exp": 2_000_000_000, "aud": "a", "iss": "i"}
    for algorithm in ("ES256", "RS256"):
        token = ring.sign(claims, typ="at+jwt", algorithm=algorithm)
        assert json.loads(b64url_decode(token.split(".")[0]))["alg"] == algorithm
        assert ring.verify(token, audience="a", issuer="i", typ="at+jwt") == claims
    for forged, reason in _confusions(ring, claims):
        with pytest.raises(JwtInvalid, match=reason):
            ring.verify(forged, audience="a", issuer="i", typ="at+jwt")


def test_the_api_refuses_a_token_whose_header_lies_about_its_algorithm(fresh_keys, manager):
    system = register(manager, "gaj-check", grant_type="client-credentials", redirect_uris=[],
                      api_scopes=["registries:read"])  # fmt: skip
    client_id = system.registration.application.client_id
    token = token_request(client_id, system.client_secret, grant_type="client_credentials").json()["access_token"]
    url = "/api/v1/registries/persons/1?purpose=statistics"
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404  # the real one passes
    ring = KeyRing(fresh_keys)
    claims = json.loads(b64url_decode(token.split(".")[1]))
    for forged, reason in _confusions(ring, claims):
        answer = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert answer.status_code == 401
        assert reason in answer.content.decode()


def test_a_ring_of_rsa_keys_alone_gains_a_p256_key_and_keeps_its_rsa_keys(tmp_path):
    from rongcheng.kernel.keyring import _new_pem

    (tmp_path / "key-20260101000000000000.pem").write_bytes(_new_pem("RS256"))
    ring = KeyRing(tmp_path)
    before = ring.active("RS256").kid
    token = ring.sign({"exp": 2_000_000_000}, typ="at+jwt", algorithm="ES256")
    assert ring.active("RS256").kid == before
    assert sorted((k.algorithm, k.created) for k in ring.keys()) == [  # noqa: SIM118  # a method
        ("ES256", "00000000000000000000"), ("RS256", "20260101000000000000"),
    ]  # fmt: skip
    assert ring.verify(token)["exp"] == 2_000_000_000


def test_a_key_file_holding_the_other_kind_of_key_is_refused(tmp_path):
    from rongcheng.kernel.keyring import _new_pem

    (tmp_path / "key-20260101000000000000-es256.pem").write_bytes(_new_pem("RS256"))
    with pytest.raises(ValueError, match="P-256"):
        KeyRing(tmp_path).active("ES256")


@settings_hypothesis(max_examples=25, deadline=None)
@given(claims=st.dictionaries(st.sampled_from(["sub", "scope", "client_id", "x"]), st.text(max_size=20), max_size=4))
def test_an_es256_token_verifies_with_jwcrypto_and_the_published_key(tmp_path_factory, claims):
    from jwcrypto import jwk, jwt

    ring = KeyRing(tmp_path_factory.getbasetemp() / "same-keys")
    token = ring.sign(claims, typ="at+jwt", algorithm="ES256")
    published = jwk.JWKSet.from_json(json.dumps(ring.jwks()))
    checked = jwt.JWT(jwt=token, key=published, algs=["ES256"], expected_type="JWS", check_claims={})
    assert json.loads(checked.claims) == claims
    assert json.loads(checked.token.objects["protected"]) == {"alg": "ES256", "typ": "at+jwt",
                                                                "kid": ring.active("ES256").kid}  # fmt: skip
