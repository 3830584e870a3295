"""The electronic-licence identifier (电子证照标识) of GB/T 36904 and its ISO/IEC 7064 MOD 37,36 check character.

    1.2.156.3005.2 . <licence type code> . <issuer code> . <serial> . <version> . <check character>

The check character covers type ‖ issuer ‖ serial ‖ version (no dots, no root) over the alphabet 0-9A-Z
(standards.md §5: it matches independently published identifiers and python-stdnum's implementation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rongcheng.kernel.errors import ValidationFailed

ROOT = "1.2.156.3005.2"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUES = {character: value for value, character in enumerate(ALPHABET)}
_MODULUS = 36  # ISO/IEC 7064 hybrid system M = 36, M + 1 = 37

TYPE_CODE = re.compile(r"[0-9A-Z]{18}[0-9]{3}")
ISSUER_CODE = re.compile(r"[0-9A-Z]{6,18}")
SERIAL = re.compile(r"[0-9A-Z]{1,32}")
VERSION = re.compile(r"[0-9]{3}")
_IDENTIFIER = re.compile(
    r"1\.2\.156\.3005\.2\.([0-9A-Z]{18}[0-9]{3})\.([0-9A-Z]{6,18})\.([0-9A-Z]{1,32})\.([0-9]{3})\.([0-9A-Z])"
)
MAX_LENGTH = len(ROOT) + 1 + 21 + 1 + 18 + 1 + 32 + 1 + 3 + 1 + 1


class LicenceIdentifierInvalid(ValidationFailed):
    type_slug = "licence-identifier-invalid"
    title = "Not a valid licence identifier"


def _remainder(text: str) -> int:
    """The running value P of ISO/IEC 7064's hybrid MOD 37,36 after the characters of `text`."""
    product = _MODULUS
    for character in text:
        value = _VALUES.get(character)
        if value is None:
            raise ValueError(f"{character!r} is not in 0-9A-Z")
        total = (product + value) % _MODULUS or _MODULUS
        product = (total * 2) % (_MODULUS + 1)
    return product


def check_character(body: str) -> str:
    """The character that, appended to `body`, makes the MOD 37,36 check hold."""
    return ALPHABET[(_MODULUS + 1 - _remainder(body)) % _MODULUS]


def check_holds(body_with_check: str) -> bool:
    """True when the last character is the right check character of the rest (ISO/IEC 7064: final sum is 1)."""
    if len(body_with_check) < 2:
        return False
    try:
        total = (_remainder(body_with_check[:-1]) + _VALUES[body_with_check[-1]]) % _MODULUS
    except (KeyError, ValueError):
        return False
    return total == 1


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer_code: str
    serial: str
    version: str
    check: str

    def __str__(self) -> str:
        return f"{ROOT}.{self.type_code}.{self.issuer_code}.{self.serial}.{self.version}.{self.check}"


IDENTIFIER_FORMAT = "gbt36904-licence-identifier"
# The shape as the API document states it (upper case, as issued); the check character is enforced by identifier_parse.
IDENTIFIER_PATTERN = f"^{_IDENTIFIER.pattern}$"


def identifier_make(*, type_code: str, issuer_code: str, serial: str, version: str = "001") -> LicenceIdentifier:
    for pattern, value, name in (
        (TYPE_CODE, type_code, "type_code"),
        (ISSUER_CODE, issuer_code, "issuer_code"),
        (SERIAL, serial, "serial"),
        (VERSION, version, "version"),
    ):
        if not pattern.fullmatch(value):
            raise ValueError(f"{name} {value!r} does not match {pattern.pattern}")
    return LicenceIdentifier(
        type_code, issuer_code, serial, version, check_character(type_code + issuer_code + serial + version)
    )


def identifier_parse(value: str, *, field: str = "identifier") -> LicenceIdentifier:
    """Parse and check an identifier; a wrong shape and a wrong check character are told apart."""
    text = value.strip().upper() if isinstance(value, str) else ""
    match = _IDENTIFIER.fullmatch(text)
    if match is None:
        raise LicenceIdentifierInvalid(
            "The licence identifier does not have the GB/T 36904 form "
            "1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check character>.",
            errors=[{"loc": [field], "rule": "identifier.format", "msg": "not a GB/T 36904 identifier"}],
        )
    type_code, issuer_code, serial, version, check = match.groups()
    if not check_holds(type_code + issuer_code + serial + version + check):
        raise LicenceIdentifierInvalid(
            "The licence identifier's check character is wrong: it was mistyped or altered.",
            errors=[{"loc": [field], "rule": "identifier.check_character", "msg": "wrong ISO 7064 check character"}],
        )
    return LicenceIdentifier(type_code, issuer_code, serial, version, check)
