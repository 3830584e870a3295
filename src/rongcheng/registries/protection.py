"""Personal data at rest: SM4-GCM ciphertext, keyed SM3 blind index and masked form of one value.

The associated data binds each ciphertext to its field, so a ciphertext copied from the phone column into the ID
number column does not decrypt.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from django.conf import settings

from rongcheng.kernel.crypto import blind_index, data_keyring
from rongcheng.kernel.masking import mask_id_number, mask_phone


class Protected(NamedTuple):
    cipher: str
    blind: str  # the keyed blind index
    masked: str


@functools.cache
def _index_key() -> bytes:
    return bytes.fromhex(settings.BLIND_INDEX_KEY)


def index_of(field: str, value: str) -> str:
    return blind_index(_index_key(), f"{field}:{value}")


def protect(field: str, value: str) -> Protected:
    if not value:
        return Protected("", "", "")
    masked = mask_id_number(value) if field == "person.id_number" else mask_phone(value)
    return Protected(data_keyring().encrypt_text(value, associated_data=field.encode()), index_of(field, value), masked)


def reveal(field: str, cipher: str) -> str:
    if not cipher:
        return ""
    return data_keyring().decrypt_text(cipher, associated_data=field.encode())


def protect_id_number(value: str) -> Protected:
    return protect("person.id_number", value)


def protect_phone(value: str) -> Protected:
    return protect("person.phone", value)
