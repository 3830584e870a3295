"""RS256 JSON Web Tokens (RFC 7515/7519) signed with a rotating key ring kept in a directory.

The OpenID Connect provider signs ID tokens and access tokens (RFC 9068) with the newest key of the ring; every key
still in the directory verifies and is published in the JWKS, so a rotated key keeps verifying the tokens it signed
until an operator retires it. Keys live in the data directory (mode 0600), never in the repository; the first is
generated on first use. Each process keeps the parsed keys and reloads them when the directory changes (one `stat`
per call), so a rotation or retirement reaches every worker without a restart.

RS256 rather than SM2: standard OpenID Connect libraries of the department systems verify RS256 out of the box (see
ADR 0008). Nothing here touches Django: the benchmarks and the command line use it without settings.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["JwtInvalid", "KeyRing", "SigningKey", "b64url_decode", "b64url_encode", "key_ring"]

RSA_BITS = 2048
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_INITIAL_NAME = "key-00000000000000000000.pem"


class JwtInvalid(Exception):
    """The token is malformed, its signature does not verify, or a claim check failed; the message says which."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtInvalid("malformed base64url") from exc


def _int_b64(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    created: str  # from the file name: the newest key signs
    private: rsa.RSAPrivateKey
    public: rsa.RSAPublicKey

    @classmethod
    def from_pem(cls, pem: bytes, created: str) -> SigningKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("an OpenID Connect signing key must be an RSA key")
        public = private.public_key()
        numbers = public.public_numbers()
        # RFC 7638 thumbprint: members in lexicographic order, no whitespace.
        canonical = json.dumps(
            {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}, separators=(",", ":")
        )
        kid = b64url_encode(hashlib.sha256(canonical.encode()).digest())
        return cls(kid=kid, created=created, private=private, public=public)

    def public_jwk(self) -> dict[str, str]:
        numbers = self.public.public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": _int_b64(numbers.n),
                "e": _int_b64(numbers.e)}  # fmt: skip

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _new_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
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
    """The signing keys in `directory`: `key-<UTC timestamp>.pem` files, the newest active."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._stamp: int = -1
        self._keys: dict[str, SigningKey] = {}
        self._active: SigningKey | None = None
        self._headers: dict[tuple[str, str | None], str] = {}  # (header segment, typ) -> kid

    # --- loading ------------------------------------------------------------------------------------------------

    def _current(self) -> tuple[dict[str, SigningKey], SigningKey]:
        try:
            stamp = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = -2
        active = self._active
        if stamp == self._stamp and active is not None:
            return self._keys, active
        with self._lock:
            return self._load()

    def _load(self) -> tuple[dict[str, SigningKey], SigningKey]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not any(self.directory.glob("key-*.pem")):
            _write_exclusive(self.directory / _INITIAL_NAME, _new_pem())  # first use; a racing process may win
        stamp = self.directory.stat().st_mtime_ns
        keys: dict[str, SigningKey] = {}
        newest: SigningKey | None = None
        for path in sorted(self.directory.glob("key-*.pem")):  # whole files only: see _write_exclusive
            data = path.read_bytes()
            key = SigningKey.from_pem(data, path.stem.removeprefix("key-"))
            keys[key.kid] = key
            newest = key
        if newest is None:
            raise JwtInvalid(f"no usable signing key in {self.directory}")
        self._headers = {}
        self._keys, self._active, self._stamp = keys, newest, stamp
        return keys, newest

    def keys(self) -> list[SigningKey]:
        keys, _ = self._current()
        return sorted(keys.values(), key=lambda k: k.created)

    def active(self) -> SigningKey:
        return self._current()[1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in reversed(self.keys())]}

    # --- administration -----------------------------------------------------------------------------------------

    def rotate(self) -> SigningKey:
        """A new key signs from now on; the previous ones stay for verification until retired."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
        path = self.directory / f"key-{stamp}.pem"
        if not _write_exclusive(path, _new_pem()):
            raise FileExistsError(path)
        with self._lock:
            self._load()
        return self.active()

    def retire(self, kid: str) -> SigningKey:
        """Remove a key that no longer signs: tokens it signed stop verifying."""
        keys, active = self._current()
        key = keys.get(kid)
        if key is None:
            raise KeyError(kid)
        if key.kid == active.kid:
            raise ValueError("the active key cannot be retired; rotate first")
        (self.directory / f"key-{key.created}.pem").unlink()
        with self._lock:
            self._load()
        return key

    # --- tokens -------------------------------------------------------------------------------------------------

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        key = self.active()
        header = b64url_encode(json.dumps({"alg": "RS256", "typ": typ, "kid": key.kid}, separators=(",", ":")).encode())
        payload = b64url_encode(json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        return f"{header}.{payload}.{b64url_encode(key.private.sign(signing_input, _PKCS1, _SHA256))}"

    def verify(
        self,
        token: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        typ: str | None = None,
        leeway: int = 0,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The claims of a token signed by a key of the ring, unexpired, for `audience` and from `issuer`."""
        keys, _ = self._current()
        header_segment, dot, rest = token.partition(".")
        payload_segment, dot2, signature_segment = rest.partition(".")
        if not dot or not dot2 or "." in signature_segment:
            raise JwtInvalid("not a compact JWS")
        kid = self._headers.get((header_segment, typ))
        if kid is None:
            kid = self._header_kid(header_segment, typ)
        key = keys.get(kid)
        if key is None:
            raise JwtInvalid("signed by an unknown key")
        try:
            key.public.verify(
                b64url_decode(signature_segment), f"{header_segment}.{payload_segment}".encode("ascii"), _PKCS1, _SHA256
            )
        except (InvalidSignature, UnicodeEncodeError) as exc:
            raise JwtInvalid("the signature does not verify") from exc
        try:
            claims = json.loads(b64url_decode(payload_segment))
        except ValueError as exc:
            raise JwtInvalid("the payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise JwtInvalid("the payload is not a JSON object")
        exp = claims.get("exp")
        if not isinstance(exp, int) or (now if now is not None else time.time()) >= exp + leeway:
            raise JwtInvalid("expired")
        if issuer is not None and claims.get("iss") != issuer:
            raise JwtInvalid("issued by another issuer")
        if audience is not None:
            aud = claims.get("aud")
            if not (aud == audience or (isinstance(aud, list) and audience in aud)):
                raise JwtInvalid("issued for another audience")
        return claims

    def _header_kid(self, header_segment: str, typ: str | None) -> str:
        try:
            header = json.loads(b64url_decode(header_segment))
        except ValueError as exc:
            raise JwtInvalid("the header is not JSON") from exc
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise JwtInvalid("only RS256 tokens naming their key are accepted")
        if typ is not None and str(header.get("typ", "")).lower() not in {typ.lower(), f"application/{typ}".lower()}:
            raise JwtInvalid(f"not a token of type {typ}")
        kid: str = header["kid"]
        if len(self._headers) < 64:
            self._headers[(header_segment, typ)] = kid  # a handful of distinct headers exist: one per key and type
        return kid


@functools.cache
def key_ring(directory: Path) -> KeyRing:
    """The one ring of a directory in this process, shared by the signer and the verifiers."""
    return KeyRing(Path(directory))
