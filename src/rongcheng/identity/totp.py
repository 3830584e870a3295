"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) with HMAC-SHA-1, 6 digits and 30-second steps:
the parameters every authenticator app assumes when an otpauth URI names none."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20  # RFC 4226 §4: 160 bits recommended for HMAC-SHA-1


def secret_generate() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_base32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def secret_from_base32(text: str) -> bytes:
    cleaned = text.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    binary = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def totp(secret: bytes, moment: dt.datetime, digits: int = DIGITS) -> str:
    return hotp(secret, time_step(moment), digits)


def totp_match(secret: bytes, code: str, moment: dt.datetime, *, window: int = 1) -> int | None:
    """The time step whose code matches (the current one or `window` steps either side, for clock drift), else None.
    Every candidate is compared, in constant time, so the timing does not tell which step matched."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = time_step(moment)
    matched = None
    for counter in range(current - window, current + window + 1):
        if hmac.compare_digest(hotp(secret, counter), code):
            matched = counter
    return matched


def otpauth_uri(secret: bytes, *, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode({"secret": secret_base32(secret), "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_SECONDS})  # fmt: skip
    return f"otpauth://totp/{label}?{query}"
