from __future__ import annotations

from django.db.models import QuerySet

from rongcheng.divisions.errors import DivisionNotFound
from rongcheng.divisions.models import Division


def division_get(*, code: str) -> Division:
    division = Division.objects.select_related("parent", "successor").filter(code=code).first()
    if division is None:
        raise DivisionNotFound(f"No division has the code {code}.")
    return division


def division_list(*, level: str | None = None, parent_code: str | None = None) -> QuerySet[Division]:
    qs = Division.objects.select_related("parent", "successor")
    if level:
        qs = qs.filter(level=level)
    if parent_code:
        qs = qs.filter(parent__code=parent_code)
    return qs
