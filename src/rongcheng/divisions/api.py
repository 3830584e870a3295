from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Query, Router, Schema

from rongcheng.divisions import selectors
from rongcheng.divisions.models import Division, DivisionLevel
from rongcheng.kernel.pagination import paginate

router = Router(tags=["divisions"])


class DivisionOut(Schema):
    code: str
    name: str
    level: DivisionLevel
    parent_code: str | None
    valid_from: date | None
    valid_to: date | None
    successor_code: str | None

    @staticmethod
    def resolve_parent_code(obj: Division) -> str | None:
        return obj.parent.code if obj.parent else None

    @staticmethod
    def resolve_successor_code(obj: Division) -> str | None:
        return obj.successor.code if obj.successor else None


class DivisionPage(Schema):
    items: list[DivisionOut]
    next_cursor: str | None


class DivisionFilter(Schema):
    level: DivisionLevel | None = None
    parent: str | None = None
    cursor: str | None = None
    limit: int = 100


@router.get("", response=DivisionPage, summary="Divisions of the city (district, street, community)")
def division_list(request: HttpRequest, filters: Query[DivisionFilter]) -> dict[str, object]:
    page = paginate(
        selectors.division_list(level=filters.level, parent_code=filters.parent),
        cursor=filters.cursor,
        limit=filters.limit,
        key="code",
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/{code}", response=DivisionOut, summary="One division by code, with its successor if retired")
def division_get(request: HttpRequest, code: str) -> Division:
    return selectors.division_get(code=code)
