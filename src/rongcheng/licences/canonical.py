"""RFC 8785 JSON Canonicalization Scheme (JCS) for the values a licence holds: strings, integers, booleans, null,
arrays and objects.

Floating-point numbers are refused rather than canonicalised: face data has no need of them (amounts are strings
or integers of the smallest unit), and ECMAScript number formatting is where canonical forms usually disagree.
Integers must be exact in an IEEE 754 double (|n| ≤ 2**53 − 1), as RFC 8785 §3.2.2.3 and I-JSON require.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalJsonError(ValueError):
    """The value cannot be canonicalised (a float, a non-string key, a lone surrogate, an unsafe integer …)."""


def _string(value: str, out: list[str]) -> None:
    # The standard library's C string encoder (ensure_ascii off) escapes exactly as RFC 8785 §3.2.2.2 asks: the
    # two-character forms for \b \t \n \f \r " \\, \u00xx (lowercase) for other controls, everything else as is.
    # A lone surrogate passes through here and is refused by the final UTF-8 encoding.
    out.append(encode_basestring(value))


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _value(value: Any, out: list[str], depth: int) -> None:
    if depth > 32:
        raise CanonicalJsonError("nesting deeper than 32 levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        _string(value, out)
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalJsonError(f"integer {value} is outside the exact range of an IEEE 754 double")
        out.append(str(int(value)))
    elif isinstance(value, float):
        raise CanonicalJsonError("floating-point numbers are not accepted; use a string or an integer")
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CanonicalJsonError("object keys must be strings")
        out.append("{")
        for position, key in enumerate(sorted(value, key=_utf16_key)):  # RFC 8785 §3.2.3: UTF-16 code units
            if position:
                out.append(",")
            _string(key, out)
            out.append(":")
            _value(value[key], out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _value(item, out, depth + 1)
        out.append("]")
    else:
        raise CanonicalJsonError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of `value`."""
    out: list[str] = []
    _value(value, out, 0)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:  # a surrogate hidden in a key
        raise CanonicalJsonError("a string is not valid Unicode text") from exc
