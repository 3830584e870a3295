"""A hot lookup compiled once: the same SQL and the same model instances as its queryset, without compiling it again.

Django compiles a queryset to SQL on every evaluation. For a lookup run on every request (an access token's row with
its application and accounts, a person by blind index with their address) that compilation, with `select_related`
over a hundred columns, costs more CPU than the query itself. `PreparedLookup` compiles the queryset once per
database connection (connections are per thread), keeps its SQL and the compiler's description of the columns, and
on each call runs that SQL with the looked-up value and builds the instances as Django's `ModelIterable` does:
the same columns, database converters, related objects and `_state`.

Only querysets whose SQL does not depend on the value qualify: one `filter(field=value)` on a plain column, no
`__in`, no value that Django inlines. `PreparedLookup` checks it when it compiles: the value must appear exactly once
among the parameters. Annotations (an `Exists`, a `Subquery`) are set on the instance as the queryset sets them. A
lookup on an integer column (a primary key) gives an integer `placeholder` that no query would use as a parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=Model)

_PLACEHOLDER = "\x00rongcheng.kernel.prepared\x00"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    position: int  # of the looked-up value in params
    compiler: Any
    model: type[Model]
    start: int
    end: int
    init_list: list[str]
    populators: list[Any]
    converters: dict[int, Any]
    annotations: tuple[tuple[str, int], ...]  # (name, position in the row)


class PreparedLookup(Generic[M]):
    """`lookup(value)`: the first instance of `build(value)` (a queryset, sliced to its first row), or None."""

    def __init__(self, build: Callable[[Any], QuerySet[M]], *, placeholder: str | int = _PLACEHOLDER) -> None:
        self._build = build
        self._placeholder = placeholder
        self._alias: str | None = None  # the database the queryset reads from (the router's choice), found once

    def _compile(self, connection: Any, alias: str) -> _Compiled:
        placeholder = self._placeholder
        queryset = self._build(placeholder)
        compiler = queryset.query.get_compiler(using=alias, connection=connection)
        sql, params = compiler.as_sql()
        positions = [
            number for number, param in enumerate(params) if type(param) is type(placeholder) and param == placeholder
        ]
        if len(positions) != 1 or str(placeholder) in sql:
            raise ValueError("A prepared lookup takes its value exactly once, as a parameter of its SQL.")
        if queryset._known_related_objects:  # type: ignore[attr-defined]
            raise ValueError("A prepared lookup builds plain instances: no known related objects.")
        klass_info = compiler.klass_info
        select = compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        return _Compiled(
            sql=sql, params=tuple(params), position=positions[0], compiler=compiler, model=klass_info["model"],
            start=start, end=end, init_list=[column[0].target.attname for column in select[start:end]],
            populators=get_related_populators(klass_info, select, alias),  # type: ignore[call-arg]  # Django 5.2
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
            annotations=tuple((compiler.annotation_col_map or {}).items()),
        )  # fmt: skip

    def __call__(self, value: Any) -> M | None:
        alias = self._alias
        if alias is None:
            alias = self._alias = self._build(self._placeholder).db
        connection = connections[alias]
        # Kept on the connection (one per thread), so it lives and dies with it.
        prepared: dict[int, _Compiled] = connection.__dict__.setdefault("_rongcheng_prepared", {})
        compiled = prepared.get(id(self))
        if compiled is None:
            compiled = prepared[id(self)] = self._compile(connection, alias)
        params = list(compiled.params)
        params[compiled.position] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if compiled.converters:
            row = next(iter(compiled.compiler.apply_converters([row], compiled.converters)))
        instance = compiled.model.from_db(alias, compiled.init_list, row[compiled.start : compiled.end])
        for populator in compiled.populators:
            populator.populate(row, instance)
        for name, position in compiled.annotations:
            setattr(instance, name, row[position])
        return instance  # type: ignore[return-value]
