"""Server-side masking of personal data for display (GB/T 35273 展示限制).

ID numbers keep the division (first 6) and the last 4 characters; the birth date (positions 7-14) is always hidden.
Phones keep the first 3 and last 4 digits. Names keep the family name.
"""

from __future__ import annotations

import re
from typing import Any

_MOBILE = re.compile(r"^(\d{3})\d{4}(\d{4})$")


def mask_id_number(value: str) -> str:
    if len(value) == 18:
        return f"{value[:6]}{'*' * 8}{value[14:]}"
    if len(value) == 15:  # legacy numbers: YYMMDD at positions 7-12
        return f"{value[:6]}{'*' * 6}{value[12:]}"
    return "*" * len(value)


def mask_phone(value: str) -> str:
    match = _MOBILE.match(value)
    if match:
        return f"{match.group(1)}****{match.group(2)}"
    if len(value) <= 4:
        return "*" * len(value)
    return f"{'*' * (len(value) - 4)}{value[-4:]}"


def mask_name(value: str) -> str:
    if len(value) <= 1:
        return value
    return value[0] + "*" * (len(value) - 1)


def mask_by_shape(value: Any) -> Any:
    """A personal value masked by the shape of its text, whatever the item it belongs to (the exchange's masking of
    personal data items not granted in clear): null and "" stay; 15 or 18 characters beginning with six digits, an
    ID number; seven or more digits, a phone; anything else (a number, a boolean: their text), a name."""
    if value is None or value == "":
        return value
    text = str(value)
    if len(text) in (15, 18) and text[:6].isdigit():
        return mask_id_number(text)
    if text.isdigit() and len(text) >= 7:
        return mask_phone(text)
    return mask_name(text)
