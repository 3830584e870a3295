"""Cursor pagination: opaque, signed cursors over a strictly ordered key, stable under concurrent inserts."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core import signing
from django.db.models import QuerySet

from rongcheng.kernel.errors import ValidationFailed

T = TypeVar("T")
_SALT = "rongcheng.kernel.pagination"
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    raw = signing.dumps(list(values), salt=_SALT, compress=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
        values = signing.loads(raw, salt=_SALT)
    except (ValueError, signing.BadSignature, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(
            "The cursor is not one this server issued.",
            errors=[{"loc": ["query", "cursor"], "rule": "cursor.signature", "msg": "invalid cursor"}],
        ) from exc
    if not isinstance(values, list):
        raise ValidationFailed(
            "The cursor is malformed.",
            errors=[{"loc": ["query", "cursor"], "rule": "cursor.shape", "msg": "invalid cursor"}],
        )
    return values


def paginate(queryset: QuerySet[Any], *, cursor: str | None, limit: int, key: str = "pk") -> Page[Any]:
    """Keyset pagination on one unique, ordered column (`key`, ascending)."""
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}.",
            errors=[{"loc": ["query", "limit"], "rule": "limit.range", "msg": f"1..{MAX_LIMIT}"}],
        )
    qs = queryset.order_by(key)
    if cursor:
        (after,) = decode_cursor(cursor)[:1] or [None]
        qs = qs.filter(**{f"{key}__gt": after})
    rows = list(qs[: limit + 1])
    next_cursor = encode_cursor([getattr(rows[limit - 1], key)]) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)
