"""National cryptography: SM3 (GB/T 32905), SM4 (GB/T 32907) and SM2 (GB/T 32918).

Backends were chosen by measurement (see bench/crypto.py): GmSSL through gmssl_pyx for SM3 and SM2, because it is
three times faster than `cryptography` on short inputs and `cryptography` has no SM2; `cryptography` for SM4-GCM,
because it is more than twice as fast as GmSSL on large records. `cryptography` cannot load SM2 keys, so the PEM
import and export below rest on a small, strict DER codec for exactly the structures OpenSSL 3 writes.

Nothing here touches Django at import time: benchmarks and the command line use the module without settings.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac as _hmac
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl_pyx import normalize_sm2_public_key as _gmssl_normalize_sm2_public_key
from gmssl_pyx.gmsslext import GmsslInnerError
from gmssl_pyx.gmsslext import sm2_key_generate as _gmssl_sm2_key_generate
from gmssl_pyx.gmsslext import sm2_sign as _gmssl_sm2_sign
from gmssl_pyx.gmsslext import sm2_verify as _gmssl_sm2_verify
from gmssl_pyx.gmsslext import sm3_hash as _gmssl_sm3_hash
from gmssl_pyx.gmsslext import sm3_hmac as _gmssl_sm3_hmac
from gmssl_pyx.gmsslext import sm4_gcm_encrypt as _gmssl_sm4_gcm_encrypt

__all__ = [
    "DEFAULT_SIGNER_ID",
    "CryptoError",
    "InvalidKeyMaterial",
    "KeyRing",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "blind_index",
    "constant_time_equal",
    "data_keyring",
    "hmac_sm3",
    "self_test",
    "sm3_digest",
]

# GM/T 0009 and GmSSL's SM2_DEFAULT_ID; OpenSSL needs it spelled out (-pkeyopt distid:1234567812345678).
DEFAULT_SIGNER_ID = b"1234567812345678"


# gmssl_pyx ships stubs without py.typed; these typed names keep mypy strict at no cost per call.
_sm2_key_generate: Callable[[], tuple[bytes, bytes]] = _gmssl_sm2_key_generate
_sm2_sign: Callable[[bytes, bytes, bytes, bytes], bytes] = _gmssl_sm2_sign
_sm2_verify: Callable[[bytes, bytes, bytes, bytes], bool] = _gmssl_sm2_verify
_sm3_hash: Callable[[bytes], bytes] = _gmssl_sm3_hash
_sm3_hmac: Callable[[bytes, bytes], bytes] = _gmssl_sm3_hmac
_normalize_sm2_public_key: Callable[[bytes], bytes] = _gmssl_normalize_sm2_public_key
_sm4_gcm_encrypt: Callable[[bytes, bytes, bytes, bytes], tuple[bytes, bytes]] = _gmssl_sm4_gcm_encrypt
# Records up to this size are encrypted through GmSSL (faster per call), larger ones through `cryptography` (faster
# per byte); both produce the same standard SM4-GCM output.
_SMALL_RECORD = 4096


class CryptoError(Exception):
    """A token or signature operation failed; the message never contains key material."""


class InvalidKeyMaterial(CryptoError, ValueError):
    """A key, key specification or key file is malformed; a configuration problem rather than an attack."""


# --- SM3 -------------------------------------------------------------------------------------------------------------


def sm3_digest(data: bytes) -> bytes:
    return _sm3_hash(data)


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3; an empty key is refused (GmSSL's rule), since it would mean a missing secret, not a chosen one."""
    try:
        return _sm3_hmac(key, data)
    except GmsslInnerError:
        raise InvalidKeyMaterial("HMAC-SM3 needs a non-empty key") from None


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return _hmac.compare_digest(a, b)


def blind_index(key: bytes, value: str) -> str:
    """Keyed digest of a value stored encrypted, so it can be found by exact match without decrypting every row.

    A plain digest would let anyone holding the table confirm guesses of low-entropy values (ID numbers, phone
    numbers); the key, kept apart from the data, prevents that.
    """
    if len(key) < 16:
        raise InvalidKeyMaterial("a blind-index key needs at least 16 bytes")
    return hmac_sm3(key, value.encode()).hex()


# --- SM4-GCM tokens with key identifiers -----------------------------------------------------------------------------

_TOKEN_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_SM4_KEY_SIZE = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_KEY_HEX = re.compile(r"[0-9A-Fa-f]{32}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class KeyRing:
    """SM4 keys for data at rest: the current key encrypts, every key decrypts.

    Each token names its key, so a key can be rotated by putting a new one first and re-encrypting at leisure; the
    old key stays in the ring until no token uses it. Nonces are random (96 bits), so a single key should encrypt
    well under 2**32 values: rotate long before that.

    Token layout, all of which is authenticated (the header as GCM associated data)::

        version (1 byte, 0x01) | key id length (1 byte) | key id (ASCII) | nonce (12) | ciphertext | tag (16)
    """

    __slots__ = ("_algorithms", "_current_algorithm", "_current_header", "_current_key", "_current_key_id", "_key_ids")

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if not keys:
            raise InvalidKeyMaterial("a key ring needs at least one key")
        if current_key_id not in keys:
            raise InvalidKeyMaterial(f"current key id {current_key_id!r} is not in the key ring")
        algorithms_by_id: dict[bytes, algorithms.SM4] = {}
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise InvalidKeyMaterial(f"key id {key_id!r} must be 1 to 32 characters of A-Z a-z 0-9 _ . -")
            if len(key) != _SM4_KEY_SIZE:
                raise InvalidKeyMaterial(f"key {key_id!r} must be {_SM4_KEY_SIZE} bytes, not {len(key)}")
            algorithms_by_id[key_id.encode("ascii")] = algorithms.SM4(bytes(key))
        current = current_key_id.encode("ascii")
        self._algorithms = algorithms_by_id
        self._current_key_id = current_key_id
        self._current_algorithm = algorithms_by_id[current]
        self._current_key = bytes(keys[current_key_id])
        self._current_header = bytes((_TOKEN_VERSION, len(current))) + current
        self._key_ids = (current_key_id, *(k for k in keys if k != current_key_id))

    @classmethod
    def from_spec(cls, spec: str) -> KeyRing:
        """Parse ``"k2:<32 hex digits>,k1:<32 hex digits>"``: the first key encrypts, all decrypt.

        The format fits one environment variable, which is how operators hand keys to the process.
        """
        keys: dict[str, bytes] = {}
        entries = spec.split(",")
        for position, raw_entry in enumerate(entries, start=1):
            entry = raw_entry.strip()
            key_id, separator, key_hex = entry.partition(":")
            key_id, key_hex = key_id.strip(), key_hex.strip()
            if not entry or not separator:
                raise InvalidKeyMaterial(f"key spec entry {position} must look like 'id:<32 hex digits>'")
            if not _KEY_ID.fullmatch(key_id):
                raise InvalidKeyMaterial(
                    f"key spec entry {position}: key id must be 1 to 32 characters of A-Z a-z 0-9 _ . -"
                )
            if key_id in keys:
                raise InvalidKeyMaterial(f"key spec entry {position}: key id {key_id!r} appears twice")
            if not _KEY_HEX.fullmatch(key_hex):
                raise InvalidKeyMaterial(
                    f"key spec entry {position} ({key_id!r}): the key must be exactly 32 hex digits (16 bytes), "
                    f"got {len(key_hex)} characters"
                )
            keys[key_id] = bytes.fromhex(key_hex)
        return cls(keys, next(iter(keys)))

    @property
    def current_key_id(self) -> str:
        return self._current_key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return self._key_ids

    def __repr__(self) -> str:
        return f"KeyRing(current_key_id={self._current_key_id!r}, key_ids={self._key_ids!r})"

    def encrypt(self, plaintext: bytes, *, associated_data: bytes = b"") -> bytes:
        """Encrypt under the current key; `associated_data` binds the token to its context (e.g. table and row).

        Binding stops a token from being copied into another row or column and decrypting there.
        """
        header = self._current_header
        nonce = os.urandom(_NONCE_SIZE)
        if 0 < len(plaintext) <= _SMALL_RECORD:  # GmSSL refuses an empty plaintext
            # Same SM4-GCM, one call into GmSSL: 1.7x faster than building a `cryptography` cipher per record.
            ciphertext, tag = _sm4_gcm_encrypt(self._current_key, nonce, header + associated_data, plaintext)
            return b"".join((header, nonce, ciphertext, tag))
        encryptor = Cipher(self._current_algorithm, modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(header + associated_data)
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        return b"".join((header, nonce, ciphertext, encryptor.tag))

    def decrypt(self, token: bytes, *, associated_data: bytes = b"") -> bytes:
        if len(token) < 2 or token[0] != _TOKEN_VERSION:
            raise CryptoError("not a version 1 data token")
        header_end = 2 + token[1]
        body_start = header_end + _NONCE_SIZE
        if token[1] == 0 or len(token) < body_start + _TAG_SIZE:
            raise CryptoError("data token is truncated")
        key_id = token[2:header_end]
        algorithm = self._algorithms.get(key_id)
        if algorithm is None:
            shown = key_id.decode("ascii", "backslashreplace")
            raise CryptoError(f"data token names key {shown!r}, which is not in the key ring")
        tag_start = len(token) - _TAG_SIZE
        decryptor = Cipher(algorithm, modes.GCM(token[header_end:body_start], token[tag_start:])).decryptor()
        decryptor.authenticate_additional_data(token[:header_end] + associated_data)
        try:
            return decryptor.update(token[body_start:tag_start]) + decryptor.finalize()
        except InvalidTag:
            raise CryptoError("data token failed authentication: tampered, or wrong associated data") from None

    def encrypt_text(self, text: str, *, associated_data: bytes = b"") -> str:
        """Encrypt text into URL-safe base64 (no padding), for text columns and JSON."""
        token = self.encrypt(text.encode(), associated_data=associated_data)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")

    def decrypt_text(self, token: str, *, associated_data: bytes = b"") -> str:
        if not _BASE64URL.fullmatch(token):
            raise CryptoError("data token is not URL-safe base64")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except binascii.Error:
            raise CryptoError("data token is not URL-safe base64") from None
        try:
            return self.decrypt(raw, associated_data=associated_data).decode()
        except UnicodeDecodeError:
            raise CryptoError("data token does not hold UTF-8 text") from None


@functools.cache
def data_keyring() -> KeyRing:
    """The key ring for personal data at rest, from ``settings.DATA_KEYS``.

    Read on first use, not at import, so that the module works without Django; tests that change the setting call
    ``data_keyring.cache_clear()``.
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    spec = getattr(settings, "DATA_KEYS", None)
    if not isinstance(spec, str) or not spec.strip():
        raise ImproperlyConfigured("DATA_KEYS must be set to 'id:<32 hex digits>[,id:<32 hex digits>...]'")
    try:
        return KeyRing.from_spec(spec)
    except InvalidKeyMaterial as exc:
        raise ImproperlyConfigured(f"DATA_KEYS is invalid: {exc}") from exc


# --- DER, for exactly the SM2 key structures OpenSSL 3 reads and writes ----------------------------------------------

_INTEGER = 0x02
_BIT_STRING = 0x03
_OCTET_STRING = 0x04
_OID = 0x06
_SEQUENCE = 0x30
_CONTEXT_0 = 0xA0  # constructed [0]
_CONTEXT_1 = 0xA1  # constructed [1]
_CONTEXT_1_PRIMITIVE = 0x81  # PKCS#8 v2 (RFC 5958) publicKey [1] IMPLICIT BIT STRING

_OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_OID_SM2_CURVE = "1.2.156.10197.1.301"
_MAX_DER_LENGTH_OCTETS = 4


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _der(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _der_length(len(content)) + content


def _der_integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative INTEGERs are supported")
    return _der(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or min(arcs) < 0:
        raise ValueError(f"not a valid object identifier: {dotted}")
    content = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        content.extend(reversed(chunk))
    return _der(_OID, bytes(content))


def _der_bit_string(data: bytes) -> bytes:
    return _der(_BIT_STRING, b"\x00" + data)


class _DerReader:
    """Reads one nesting level of DER, refusing BER leniency (indefinite or non-minimal lengths, trailing bytes).

    Strictness matters because a lenient parser accepts several encodings of one key, which defeats comparing or
    fingerprinting key files.
    """

    __slots__ = ("_data", "_offset")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def at_end(self) -> bool:
        return self._offset == len(self._data)

    def peek_tag(self) -> int | None:
        return None if self.at_end() else self._data[self._offset]

    def read(self, tag: int) -> bytes:
        data, offset = self._data, self._offset
        if offset + 2 > len(data):
            raise InvalidKeyMaterial("DER: truncated element")
        if data[offset] != tag:
            raise InvalidKeyMaterial(f"DER: expected tag 0x{tag:02x}, found 0x{data[offset]:02x}")
        first = data[offset + 1]
        offset += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0:
                raise InvalidKeyMaterial("DER: indefinite length is not DER")
            if count > _MAX_DER_LENGTH_OCTETS or offset + count > len(data):
                raise InvalidKeyMaterial("DER: length field is truncated or too large")
            if data[offset] == 0:
                raise InvalidKeyMaterial("DER: length has a leading zero octet")
            length = int.from_bytes(data[offset : offset + count], "big")
            if length < 0x80:
                raise InvalidKeyMaterial("DER: long-form length for a short element")
            offset += count
        if offset + length > len(data):
            raise InvalidKeyMaterial("DER: element runs past the end of its container")
        self._offset = offset + length
        return data[offset : offset + length]

    def finish(self) -> None:
        if not self.at_end():
            raise InvalidKeyMaterial("DER: unexpected trailing data")


def _parse_integer(content: bytes) -> int:
    if not content:
        raise InvalidKeyMaterial("DER: empty INTEGER")
    if len(content) > 1 and ((content[0] == 0x00 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)):
        raise InvalidKeyMaterial("DER: INTEGER is not minimally encoded")
    if content[0] >= 0x80:
        raise InvalidKeyMaterial("DER: negative INTEGER where a non-negative one is required")
    return int.from_bytes(content, "big")


def _parse_oid(content: bytes) -> str:
    if not content or content[-1] & 0x80:
        raise InvalidKeyMaterial("DER: malformed OBJECT IDENTIFIER")
    values: list[int] = []
    value = 0
    starting = True
    for octet in content:
        if starting and octet == 0x80:
            raise InvalidKeyMaterial("DER: OBJECT IDENTIFIER arc has a leading 0x80 octet")
        value = (value << 7) | (octet & 0x7F)
        starting = not octet & 0x80
        if starting:
            values.append(value)
            value = 0
    first = values[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in [*head, *values[1:]])


def _parse_bit_string(content: bytes) -> bytes:
    if not content or content[0] != 0:
        raise InvalidKeyMaterial("DER: BIT STRING must be whole octets")
    return content[1:]


def _parse_sm2_algorithm(content: bytes) -> None:
    reader = _DerReader(content)
    algorithm = _parse_oid(reader.read(_OID))
    if algorithm != _OID_EC_PUBLIC_KEY:
        raise InvalidKeyMaterial(f"not an elliptic-curve key (algorithm {algorithm})")
    if reader.peek_tag() != _OID:
        raise InvalidKeyMaterial("EC key without a named curve; explicit curve parameters are not supported")
    _check_sm2_curve(_parse_oid(reader.read(_OID)))
    reader.finish()


def _check_sm2_curve(curve: str) -> None:
    if curve != _OID_SM2_CURVE:
        raise InvalidKeyMaterial(f"not an SM2 key (curve {curve}, expected {_OID_SM2_CURVE})")


_SM2_ALGORITHM = _der(_SEQUENCE, _der_oid(_OID_EC_PUBLIC_KEY) + _der_oid(_OID_SM2_CURVE))


# --- PEM -------------------------------------------------------------------------------------------------------------

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def _pem_encode(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def _pem_decode(pem: str | bytes, labels: tuple[str, ...]) -> tuple[str, bytes]:
    """The first PEM block whose label is one of `labels`, skipping others (such as OpenSSL's EC PARAMETERS)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    found: list[str] = []
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1).decode("ascii")
        if label not in labels:
            found.append(label)
            continue
        body = match.group(2)
        if b":" in body:
            raise InvalidKeyMaterial("PEM block has headers (legacy encrypted PEM?); decrypt it with openssl pkey")
        try:
            return label, base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            raise InvalidKeyMaterial(f"PEM block {label} is not valid base64") from None
    if "ENCRYPTED PRIVATE KEY" in found:
        raise InvalidKeyMaterial("encrypted private keys are not supported; decrypt with `openssl pkey` first")
    expected = " or ".join(labels)
    raise InvalidKeyMaterial(f"no {expected} PEM block found" + (f" (found {', '.join(found)})" if found else ""))


# --- SM2 -------------------------------------------------------------------------------------------------------------

_SM2_SECRET_SIZE = 32
# a ‖ b ‖ x_G ‖ y_G of sm2p256v1 (GB/T 32918.5), the fixed middle of the Z value.
_SM2_CURVE_FOR_Z = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)
_KEY_CHECK_MESSAGE = b"rongcheng sm2 key pair check"


class Sm2PublicKey:
    """An SM2 public key on sm2p256v1, validated once so that verification is a single call into GmSSL."""

    __slots__ = ("_key_id", "_point")

    def __init__(self, point: bytes) -> None:
        """`point` is 04‖x‖y (65 bytes), x‖y (64 bytes) or a compressed point (33 bytes)."""
        try:
            xy = _normalize_sm2_public_key(bytes(point))
        except GmsslInnerError:
            raise InvalidKeyMaterial("not a point on the SM2 curve") from None
        self._point = xy
        self._key_id = _sm3_hash(b"\x04" + xy).hex()[:16]

    @classmethod
    def from_der(cls, der: bytes) -> Sm2PublicKey:
        """Load a SubjectPublicKeyInfo (id-ecPublicKey, curve sm2p256v1), as `openssl pkey -pubout -outform DER`."""
        outer = _DerReader(der)
        reader = _DerReader(outer.read(_SEQUENCE))
        outer.finish()
        _parse_sm2_algorithm(reader.read(_SEQUENCE))
        point = _parse_bit_string(reader.read(_BIT_STRING))
        reader.finish()
        return cls(point)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> Sm2PublicKey:
        return cls.from_der(_pem_decode(pem, ("PUBLIC KEY",))[1])

    def to_bytes(self) -> bytes:
        """The uncompressed point 04‖x‖y."""
        return b"\x04" + self._point

    def to_der(self) -> bytes:
        return _der(_SEQUENCE, _SM2_ALGORITHM + _der_bit_string(b"\x04" + self._point))

    def to_pem(self) -> str:
        return _pem_encode("PUBLIC KEY", self.to_der())

    def key_id(self) -> str:
        """First 16 hex digits of SM3(04‖x‖y): short enough to travel with each signature, long enough to be unique."""
        return self._key_id

    def z_value(self, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
        """Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A), which binds a signature to the signer's identity."""
        bits = len(signer_id) * 8
        if bits > 0xFFFF:
            raise ValueError("an SM2 signer id is at most 8191 bytes")
        return _sm3_hash(bits.to_bytes(2, "big") + signer_id + _SM2_CURVE_FOR_Z + self._point)

    def verify(self, message: bytes, signature: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> bool:
        """Check a DER (r, s) signature over SM3(Z ‖ message); any malformed input is simply False.

        Signatures arrive from outside, so a garbled one must not turn into a 500. GmSSL reports each failed check
        on stderr; that cannot be switched off from Python.
        """
        try:
            return _sm2_verify(self._point, message, signature, signer_id)
        except GmsslInnerError:
            return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"Sm2PublicKey(key_id={self._key_id!r})"


class Sm2PrivateKey:
    """An SM2 private key with its public key; the public point is kept because GmSSL's signing call needs it."""

    __slots__ = ("_point", "_public_key", "_secret")

    def __init__(self, secret: bytes, public_key: Sm2PublicKey) -> None:
        """Pair a 32-byte secret with its public key, checking that they belong together.

        The check (one signature, one verification, about 3 ms) catches a key file whose public half was swapped:
        GmSSL derives Z from the secret, so such a key would sign with an identity no one can verify.
        """
        if len(secret) != _SM2_SECRET_SIZE:
            raise InvalidKeyMaterial(f"an SM2 private key is {_SM2_SECRET_SIZE} bytes, not {len(secret)}")
        self._init(bytes(secret), public_key)
        try:
            probe = self.sign(_KEY_CHECK_MESSAGE)
        except CryptoError:
            raise InvalidKeyMaterial("SM2 private key is out of range") from None
        if not public_key.verify(_KEY_CHECK_MESSAGE, probe):
            raise InvalidKeyMaterial("SM2 private key does not match its public key")

    def _init(self, secret: bytes, public_key: Sm2PublicKey) -> None:
        self._secret = secret
        self._public_key = public_key
        self._point = public_key._point

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        point, secret = _sm2_key_generate()
        key = cls.__new__(cls)
        key._init(secret, Sm2PublicKey(point))
        return key

    @classmethod
    def from_der(cls, der: bytes) -> Sm2PrivateKey:
        """Load PKCS#8 PrivateKeyInfo (v1 or v2) around an ECPrivateKey on sm2p256v1, as `openssl genpkey` writes."""
        outer = _DerReader(der)
        reader = _DerReader(outer.read(_SEQUENCE))
        outer.finish()
        if _parse_integer(reader.read(_INTEGER)) not in (0, 1):
            raise InvalidKeyMaterial("unsupported PKCS#8 version")
        _parse_sm2_algorithm(reader.read(_SEQUENCE))
        ec_private_key = reader.read(_OCTET_STRING)
        if reader.peek_tag() == _CONTEXT_0:
            reader.read(_CONTEXT_0)  # attributes: none that matter for signing
        if reader.peek_tag() == _CONTEXT_1_PRIMITIVE:
            reader.read(_CONTEXT_1_PRIMITIVE)  # RFC 5958 copy of the public key; the ECPrivateKey one is used
        reader.finish()
        return cls._from_ec_private_key(ec_private_key, require_curve=False)

    @classmethod
    def _from_ec_private_key(cls, der: bytes, *, require_curve: bool) -> Sm2PrivateKey:
        """Parse an RFC 5915 ECPrivateKey; inside PKCS#8 the curve is named outside it, in SEC 1 files inside."""
        outer = _DerReader(der)
        reader = _DerReader(outer.read(_SEQUENCE))
        outer.finish()
        if _parse_integer(reader.read(_INTEGER)) != 1:
            raise InvalidKeyMaterial("unsupported ECPrivateKey version")
        secret = reader.read(_OCTET_STRING)
        if not 0 < len(secret) <= _SM2_SECRET_SIZE:
            raise InvalidKeyMaterial("SM2 private key has the wrong length")
        if reader.peek_tag() == _CONTEXT_0:
            parameters = _DerReader(reader.read(_CONTEXT_0))
            _check_sm2_curve(_parse_oid(parameters.read(_OID)))
            parameters.finish()
        elif require_curve:
            raise InvalidKeyMaterial("EC private key does not name its curve")
        if reader.peek_tag() != _CONTEXT_1:
            raise InvalidKeyMaterial("SM2 private key file lacks the public key; re-export it with OpenSSL 3")
        public = _DerReader(reader.read(_CONTEXT_1))
        point = _parse_bit_string(public.read(_BIT_STRING))
        public.finish()
        reader.finish()
        return cls(secret.rjust(_SM2_SECRET_SIZE, b"\x00"), Sm2PublicKey(point))

    @classmethod
    def from_pem(cls, pem: str | bytes) -> Sm2PrivateKey:
        """Load ``PRIVATE KEY`` (PKCS#8, `openssl genpkey -algorithm SM2`) or ``EC PRIVATE KEY`` (SEC 1).

        SEC 1 is what OpenSSL 1.1.1 (`openssl ecparam -name SM2 -genkey`) and older GM tools write, so it is
        accepted too. Other PEM blocks around the key, such as EC or SM2 PARAMETERS, are skipped.
        """
        label, der = _pem_decode(pem, ("PRIVATE KEY", "EC PRIVATE KEY"))
        if label == "EC PRIVATE KEY":
            return cls._from_ec_private_key(der, require_curve=True)
        return cls.from_der(der)

    def to_der(self) -> bytes:
        """PKCS#8 v1, byte for byte what OpenSSL 3 writes for the same key."""
        ec_private_key = _der(
            _SEQUENCE,
            _der_integer(1)
            + _der(_OCTET_STRING, self._secret)
            + _der(_CONTEXT_1, _der_bit_string(b"\x04" + self._point)),
        )
        return _der(_SEQUENCE, _der_integer(0) + _SM2_ALGORITHM + _der(_OCTET_STRING, ec_private_key))

    def to_pem(self) -> str:
        """Unencrypted PKCS#8 PEM: protect the file itself (permissions, secret store)."""
        return _pem_encode("PRIVATE KEY", self.to_der())

    @property
    def public_key(self) -> Sm2PublicKey:
        return self._public_key

    def sign(self, message: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
        """DER (r, s) over SM3(Z ‖ message), as `openssl pkeyutl -sign -rawin -digest sm3` produces."""
        try:
            return _sm2_sign(self._secret, self._point, message, signer_id)
        except GmsslInnerError as exc:
            raise CryptoError(f"SM2 signing failed: {exc}") from None

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(key_id={self._public_key.key_id()!r})"


# --- Self-test -------------------------------------------------------------------------------------------------------

# GB/T 32918.5 Annex A, via openssl test/sm2_internal_test.c (standards.md §4, vector A).
_SM2_VECTOR_POINT = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
_SM2_VECTOR_Z = "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
_SM2_VECTOR_MESSAGE = b"message digest"
_SM2_VECTOR_SIGNATURE = _der(
    _SEQUENCE,
    _der_integer(0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3)
    + _der_integer(0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA),
)


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Hide GmSSL's stderr report of the failures the self-test provokes on purpose; it would read like a fault."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_sm3() -> list[str]:
    vectors = {
        b"abc": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
        b"abcd" * 16: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
        b"": "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
    }
    failures = [
        f"SM3 vector {message[:8]!r} (length {len(message)}) is wrong"
        for message, hex_digest in vectors.items()
        if sm3_digest(message).hex() != hex_digest
    ]
    reference = _crypto_hmac.HMAC(b"k" * 20, hashes.SM3())
    reference.update(b"abc")
    if hmac_sm3(b"k" * 20, b"abc") != reference.finalize():
        failures.append("HMAC-SM3 disagrees between GmSSL and cryptography")
    return failures


def _check_sm4() -> list[str]:
    failures = []
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one block: the bare cipher
    if (encryptor.update(key) + encryptor.finalize()).hex() != "681edf34d206965e86b3e94f536e4246":
        failures.append("SM4 GB/T 32907 single-block vector is wrong")
    # RFC 8998 A.1 (also GmSSL tests/sm4test.c): SM4-GCM, the mode of the data tokens.
    gcm = Cipher(algorithms.SM4(key), modes.GCM(bytes.fromhex("00001234567800000000ABCD"))).encryptor()
    gcm.authenticate_additional_data(bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2"))
    gcm.update(bytes.fromhex("AA" * 8 + "BB" * 8 + "CC" * 8 + "DD" * 8 + "EE" * 8 + "FF" * 8 + "EE" * 8 + "AA" * 8))
    gcm.finalize()
    if gcm.tag.hex() != "83de3541e4c2b58177e065a9bf7b62ec":
        failures.append("SM4-GCM RFC 8998 vector is wrong")
    ring = KeyRing({"self-test": key}, "self-test")
    token = ring.encrypt(b"self-test", associated_data=b"ad")
    if ring.decrypt(token, associated_data=b"ad") != b"self-test":
        failures.append("SM4-GCM token does not round-trip")
    tampered = token[:-1] + bytes((token[-1] ^ 1,))
    try:
        ring.decrypt(tampered, associated_data=b"ad")
        failures.append("SM4-GCM accepted a tampered token")
    except CryptoError:
        pass
    return failures


def _check_sm2() -> list[str]:
    failures = []
    vector_key = Sm2PublicKey(_SM2_VECTOR_POINT)
    if vector_key.z_value().hex() != _SM2_VECTOR_Z:
        failures.append("SM2 Z value of the GB/T 32918 vector is wrong")
    if not vector_key.verify(_SM2_VECTOR_MESSAGE, _SM2_VECTOR_SIGNATURE):
        failures.append("SM2 GB/T 32918 signature vector does not verify")
    private_key = Sm2PrivateKey.generate()
    signature = private_key.sign(b"self-test")
    if not private_key.public_key.verify(b"self-test", signature):
        failures.append("SM2 sign/verify round trip failed")
    if Sm2PrivateKey.from_pem(private_key.to_pem()).public_key != private_key.public_key:
        failures.append("SM2 private key PEM does not round-trip")
    with _stderr_silenced():
        if vector_key.verify(_SM2_VECTOR_MESSAGE, _SM2_VECTOR_SIGNATURE, signer_id=b"1234567812345679"):
            failures.append("SM2 accepted a signature under the wrong signer id")
        if private_key.public_key.verify(b"self-tesT", signature):
            failures.append("SM2 accepted a signature over another message")
    return failures


def self_test() -> list[str]:
    """Known-answer tests of every primitive in use; a wrong wheel or a broken OpenSSL build shows up at start-up.

    Returns the failures, empty when all is well. Takes a few milliseconds. It points file descriptor 2 at
    /dev/null for the instant it provokes SM2 failures, so call it at start-up (`rongcheng check`), not while other
    threads may be writing to stderr.
    """
    checks: list[Callable[[], list[str]]] = [_check_sm3, _check_sm4, _check_sm2]
    failures: list[str] = []
    for check in checks:
        try:
            failures.extend(check())
        except Exception as exc:  # the self-test reports every failure instead of raising
            failures.append(f"{check.__name__} raised {type(exc).__name__}: {exc}")
    return failures
