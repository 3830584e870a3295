"""The OpenID Connect provider's signing keys: a rotating ring of RSA and P-256 keys kept in a directory, with
RS256 and ES256 JSON Web Tokens (RFC 7515/7519/7518) and JSON Web Keys (RFC 7517, thumbprints RFC 7638) made and
checked by `jwcrypto`.

Each key is bound to one algorithm: RSA 2048 keys sign RS256 (ID tokens, and the access tokens of clients registered
for RS256: RFC 9068 §2.1 and OpenID Connect make RS256 the algorithm everyone supports), P-256 keys sign ES256
(access tokens by default: a tenth of the CPU of an RSA signature, ADR 0008). The newest key of each algorithm signs;
every key still in the directory verifies and is published in the JWKS with its `alg` and `kid`, so a rotated key
keeps verifying the tokens it signed until an operator retires it. A token is checked only with the key its `kid`
names and only under that key's algorithm, whatever else its header says (no algorithm confusion: `none`, HS256,
RS256 over an EC key are refused). Keys live in the data directory (mode 0600), never in the repository; the first
of each algorithm is generated on first use (an older ring of RSA keys alone gains its first P-256 key so). Each
process keeps the parsed keys and reloads them when the directory changes (one `stat` per call), so a rotation or
retirement reaches every worker without a restart. This module owns only the keys' files; the token format, its
signature and the claim checks are jwcrypto's (a well-kept library rather than protocol code of ours).

RS256 and ES256 rather than SM2: standard OpenID Connect libraries of the department systems verify them out of the
box, SM2 has no JOSE algorithm registered (see ADR 0008). Nothing here touches Django: the benchmarks and the command
line use it without settings.
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto import jwk, jws, jwt
from jwcrypto.common import JWException, base64url_decode, base64url_encode, json_decode, json_encode

__all__ = ["JwtInvalid", "KeyRing", "SigningKey", "b64url_decode", "b64url_encode", "key_ring"]

RSA_BITS = 2048
RS256 = "RS256"
ES256 = "ES256"
ALGORITHMS = (RS256, ES256)  # every algorithm the ring signs and verifies with; each key is bound to one
# A key's file names its algorithm: `key-<UTC timestamp>.pem` an RSA key (RS256, as before ES256 came),
# `key-<UTC timestamp>-es256.pem` a P-256 key (ES256).
_SUFFIX = {RS256: "", ES256: "-es256"}
_INITIAL_STAMP = "00000000000000000000"
VERIFIED_REMEMBERED = 4096  # verified tokens remembered per process


class JwtInvalid(Exception):
    """The token is malformed, its signature does not verify, or a claim check failed; the message says which."""


def b64url_encode(data: bytes) -> str:
    return str(base64url_encode(data))


def b64url_decode(text: str) -> bytes:
    try:
        return bytes(base64url_decode(text))
    except (binascii.Error, ValueError) as exc:
        raise JwtInvalid("malformed base64url") from exc


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SigningKey:
    kid: str  # the RFC 7638 thumbprint (SHA-256) of the public key
    created: str  # from the file name: the newest key of each algorithm signs
    algorithm: str  # RS256 or ES256: the only algorithm this key signs or verifies with
    private: PrivateKey
    public: PublicKey
    jwk: jwk.JWK
    public_key: jwk.JWK  # the public half, which verification uses

    @classmethod
    def from_pem(cls, pem: bytes, created: str, algorithm: str = RS256) -> SigningKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if algorithm == RS256:
            if not isinstance(private, rsa.RSAPrivateKey):
                raise ValueError("an RS256 signing key must be an RSA key")
        elif algorithm == ES256:
            if not (isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1)):
                raise ValueError("an ES256 signing key must be a P-256 key")
        else:
            raise ValueError(f"no signing algorithm {algorithm!r}")
        key = jwk.JWK.from_pyca(private)
        kid = key.thumbprint()
        key = jwk.JWK(**{**key.export_private(as_dict=True), "kid": kid, "alg": algorithm, "use": "sig"})
        return cls(kid=kid, created=created, private=private, public=private.public_key(), jwk=key,
                   algorithm=algorithm, public_key=jwk.JWK(**key.export_public(as_dict=True)))  # fmt: skip

    @property
    def file_name(self) -> str:
        return f"key-{self.created}{_SUFFIX[self.algorithm]}.pem"

    def public_jwk(self) -> dict[str, str]:
        public: dict[str, str] = self.jwk.export_public(as_dict=True)
        return public

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _named(path: Path) -> tuple[str, str]:
    """The algorithm and creation stamp a key file's name gives."""
    stem = path.stem.removeprefix("key-")
    if stem.endswith(_SUFFIX[ES256]):
        return ES256, stem.removesuffix(_SUFFIX[ES256])
    return RS256, stem


def _new_pem(algorithm: str = RS256) -> bytes:
    key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == ES256
        else rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_exclusive(path: Path, data: bytes) -> bool:
    """Publish a key file whole or not at all: written aside (0600), then linked into place unless one is there."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink()


class KeyRing:
    """The signing keys in `directory`: `key-<UTC timestamp>[-es256].pem` files, the newest of each algorithm
    active."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._memo_lock = threading.Lock()
        self._stamp: int = -1
        self._keys: dict[str, SigningKey] = {}
        self._active: dict[str, SigningKey] = {}
        # Tokens already verified, so a client presenting its access token on every call pays jwcrypto's parse and
        # signature check once: keyed by the whole token and the checks asked for; the expiry is still checked on
        # every call; emptied whenever the ring changes (a retired key's tokens stop verifying at once).
        self._verified: OrderedDict[tuple[str, str | None, str | None, str | None, int], dict[str, Any]] = OrderedDict()

    # --- loading ------------------------------------------------------------------------------------------------

    def _loaded(self) -> tuple[dict[str, SigningKey], dict[str, SigningKey]]:
        """Every key by kid, and the active key of each algorithm."""
        try:
            stamp = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = -2
        active = self._active
        if stamp == self._stamp and active:
            return self._keys, active
        with self._lock:
            return self._load()

    def _load(self) -> tuple[dict[str, SigningKey], dict[str, SigningKey]]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        present = {_named(path)[0] for path in self.directory.glob("key-*.pem")}
        for algorithm in ALGORITHMS:
            if algorithm not in present:  # first use; a racing process may win
                _write_exclusive(self.directory / f"key-{_INITIAL_STAMP}{_SUFFIX[algorithm]}.pem", _new_pem(algorithm))
        stamp = self.directory.stat().st_mtime_ns
        keys: dict[str, SigningKey] = {}
        newest: dict[str, SigningKey] = {}
        for path in sorted(self.directory.glob("key-*.pem")):  # whole files only: see _write_exclusive
            algorithm, created = _named(path)
            key = SigningKey.from_pem(path.read_bytes(), created, algorithm)
            keys[key.kid] = key
            if algorithm not in newest or created >= newest[algorithm].created:
                newest[algorithm] = key
        if set(newest) != set(ALGORITHMS):
            raise JwtInvalid(f"no usable signing key of each algorithm in {self.directory}")
        self._keys, self._active, self._stamp = keys, newest, stamp
        self._verified = OrderedDict()
        return keys, newest

    def keys(self) -> list[SigningKey]:
        """Every key, oldest first (RSA before P-256 of the same time)."""
        keys, _ = self._loaded()
        return sorted(keys.values(), key=lambda k: (k.created, ALGORITHMS.index(k.algorithm)))

    def active(self, algorithm: str = RS256) -> SigningKey:
        """The key that signs tokens of `algorithm` now."""
        return self._loaded()[1][algorithm]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in reversed(self.keys())]}

    # --- administration -----------------------------------------------------------------------------------------

    def rotate(self, algorithm: str = RS256) -> SigningKey:
        """A new key of `algorithm` signs from now on; the previous ones stay for verification until retired."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"no signing algorithm {algorithm!r}")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
        path = self.directory / f"key-{stamp}{_SUFFIX[algorithm]}.pem"
        if not _write_exclusive(path, _new_pem(algorithm)):
            raise FileExistsError(path)
        with self._lock:
            self._load()
        return self.active(algorithm)

    def retire(self, kid: str) -> SigningKey:
        """Remove a key that no longer signs: tokens it signed stop verifying."""
        keys, active = self._loaded()
        key = keys.get(kid)
        if key is None:
            raise KeyError(kid)
        if key.kid == active[key.algorithm].kid:
            raise ValueError("the active key cannot be retired; rotate first")
        (self.directory / key.file_name).unlink()
        with self._lock:
            self._load()
        return key

    # --- tokens -------------------------------------------------------------------------------------------------

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT", algorithm: str = RS256) -> str:
        """The compact JWS of `claims` under the active key of `algorithm`: byte for byte what
        `jwt.JWT(...).make_signed_token` makes (RS256 signatures are deterministic; a test compares the two), through
        jwcrypto's signing core: the JWT and JWS objects around it copy a header registry and re-parse the header
        per token, a third of a token grant's signing time, for checks a fixed header of ours does not need."""
        key = self.active(algorithm)
        header = json_encode({"alg": key.algorithm, "typ": typ, "kid": key.kid})
        signed = jws.JWSCore(key.algorithm, key.jwk, header, json_encode(dict(claims)), [key.algorithm]).sign()
        return f"{signed['protected']}.{signed['payload'].decode()}.{signed['signature']}"

    def verify(
        self,
        token: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        typ: str | None = None,
        leeway: int = 0,
    ) -> dict[str, Any]:
        """The claims of a token signed by a key of the ring, under that key's algorithm, unexpired, for `audience`
        and from `issuer`."""
        keys, _ = self._loaded()
        memo = (token, audience, issuer, typ, leeway)
        known = self._verified.get(memo)
        if known is not None:
            if time.time() >= known["exp"] + leeway:
                raise JwtInvalid("expired")
            return dict(known)
        claims = self._verify(token, keys, audience=audience, issuer=issuer, typ=typ, leeway=leeway)
        with self._memo_lock:
            self._verified[memo] = dict(claims)
            while len(self._verified) > VERIFIED_REMEMBERED:
                self._verified.popitem(last=False)
        return claims

    def _verify(
        self,
        token: str,
        keys: dict[str, SigningKey],
        *,
        audience: str | None,
        issuer: str | None,
        typ: str | None,
        leeway: int,
    ) -> dict[str, Any]:
        if token.count(".") != 2:
            raise JwtInvalid("not a compact JWS (a JWE or a token in pieces is refused)")
        header = self._header(token)
        key = keys.get(header["kid"])
        if key is None:
            raise JwtInvalid("signed by an unknown key")
        if header["alg"] != key.algorithm:  # the key decides the algorithm, never the token
            raise JwtInvalid(f"the header names {header['alg']}, but the key named verifies {key.algorithm} only")
        if typ is not None and str(header.get("typ", "")).lower() not in {typ.lower(), f"application/{typ}".lower()}:
            raise JwtInvalid(f"not a token of type {typ}")
        expected: dict[str, Any] = {"exp": None}  # required, and checked against the clock with `leeway`
        if issuer is not None:
            expected["iss"] = issuer
        if audience is not None:
            expected["aud"] = audience
        try:
            checked = jwt.JWT(algs=[key.algorithm], check_claims=expected, expected_type="JWS")
            checked.leeway = leeway
            checked.deserialize(token, key=key.public_key)
        except jwt.JWTExpired as exc:
            raise JwtInvalid("expired") from exc
        except jwt.JWTMissingClaim as exc:
            raise JwtInvalid("expired: the token has no expiry") from exc
        except jwt.JWTInvalidClaimValue as exc:
            which = "issued for another audience" if "'aud'" in str(exc) else "issued by another issuer"
            raise JwtInvalid(which) from exc
        except jws.InvalidJWSSignature as exc:
            raise JwtInvalid("the signature does not verify") from exc
        except (JWException, ValueError, TypeError, UnicodeError) as exc:
            raise JwtInvalid("the signature does not verify or the token is malformed") from exc
        try:
            claims = json_decode(checked.claims)
        except ValueError as exc:
            raise JwtInvalid("the payload is not JSON") from exc
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise JwtInvalid("the payload is not a JSON object with an integer expiry")
        return claims

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        try:
            header = json_decode(b64url_decode(token.partition(".")[0]))
        except (ValueError, UnicodeError) as exc:
            raise JwtInvalid("the header is not JSON") from exc
        if (
            not isinstance(header, dict)
            or header.get("alg") not in ALGORITHMS
            or not isinstance(header.get("kid"), str)
        ):
            raise JwtInvalid("only RS256 or ES256 tokens naming their key are accepted")
        return header


@functools.cache
def key_ring(directory: Path) -> KeyRing:
    """The one ring of a directory in this process, shared by the signer and the verifiers."""
    return KeyRing(Path(directory))
