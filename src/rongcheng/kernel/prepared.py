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

`PreparedQuery` is the same for a query of several values and several rows (a holder's licences under an
authorization): each value has its own placeholder (of the column's type: a string, an integer, a datetime no query
would use), which may appear more than once among the parameters (a subquery repeated by an annotation) but never in
the SQL itself; a call returns every instance, in the queryset's order.

Compiling once saves the ORM's work, not the database's: each call still sends the whole SQL text, which PostgreSQL
parses and plans again. For a lookup whose plan costs more than its execution (a row locked with four joined tables
and three subqueries: 0.8-1.5 ms of the backend's CPU to plan, 0.15 ms to run), `keep_plan=True` has PostgreSQL keep
it too: the SQL is `PREPARE`d once per database session (with `$n` for its parameters) and each call is an
`EXECUTE` of it with the values, the same rows in the same columns. The `PREPARE` is sent once per session on the
driver's own cursor, outside Django's execute wrappers (it is the session's setup, like its time zone, not a
statement of the work). Prepared statements live as long as the session and are not undone by a rollback; they need
a session of their own, not a pooler that hands each transaction another (ADR 0020). Elsewhere (SQLite) the option
does nothing.

`kept_plan(sql, count)` does the same for a statement written as SQL rather than as a queryset (the exchange's grant
and its page of uploaded rows): the call gets the `EXECUTE` to send, the `PREPARE` done first, synchronously, if this
session has not done it. It is meant to be called before a pipeline or a batch of statements is opened (a `PREPARE`
queued in psycopg's pipeline could fail after it was counted as done). A session keeps at most `KEPT_PER_SESSION`
statements: past that the one used least recently is deallocated (statements whose text depends on a caller's choice,
such as the fields of a page, must not grow a session without bound).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import weakref
from collections import OrderedDict
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
    positions: tuple[tuple[int, ...], ...]  # of each looked-up value in params
    adapters: tuple[Callable[[Any], Any] | None, ...]  # of each value, as the backend adapts it (see _adapter)
    compiler: Any
    model: type[Model]
    start: int
    end: int
    init_list: list[str]
    populators: list[Any]
    converters: dict[int, Any]
    annotations: tuple[tuple[str, int], ...]  # (name, position in the row)
    # keep_plan on PostgreSQL: the statement's name and its text for PREPARE, the EXECUTE that runs it.
    kept: tuple[str, str, str] | None = None

    def bind(self, values: tuple[Any, ...]) -> list[Any]:
        params = list(self.params)
        for value, positions, adapt in zip(values, self.positions, self.adapters, strict=True):
            if adapt is not None:
                value = adapt(value)  # the value as the queryset would have passed it
            for position in positions:
                params[position] = value
        return params


class PreparedLookup(Generic[M]):
    """`lookup(value)`: the first instance of `build(value)` (a queryset, sliced to its first row), or None."""

    def __init__(
        self, build: Callable[[Any], QuerySet[M]], *, placeholder: str | int = _PLACEHOLDER, keep_plan: bool = False
    ) -> None:
        self._build = build
        self._placeholder = placeholder
        self._keep_plan = keep_plan
        self._alias: str | None = None  # the database the queryset reads from (the router's choice), found once

    def _compile(self, connection: Any, alias: str) -> _Compiled:
        compiled = _compile(self._build(self._placeholder), (self._placeholder,), connection, alias, self._keep_plan)
        if len(compiled.positions[0]) != 1:
            raise ValueError("A prepared lookup takes its value exactly once, as a parameter of its SQL.")
        return compiled

    def __call__(self, value: Any) -> M | None:
        alias = self._alias
        if alias is None:
            alias = self._alias = self._build(self._placeholder).db
        connection = connections[alias]
        compiled = _compiled_for(self, connection, alias)
        with connection.cursor() as cursor:
            cursor.execute(_statement(compiled, connection, cursor), compiled.bind((value,)))
            row = cursor.fetchone()
        if row is None:
            return None
        return _instances(compiled, alias, [row])[0]  # type: ignore[return-value]


class PreparedQuery(Generic[M]):
    """`query(*values)`: every instance of `build(*placeholders)`, in its order, compiled once per connection."""

    def __init__(self, build: Callable[..., QuerySet[M]], *, placeholders: tuple[Any, ...]) -> None:
        if len({(type(p), p) for p in placeholders}) != len(placeholders):
            raise ValueError("Each value of a prepared query needs a placeholder of its own.")
        self._build = build
        self._placeholders = placeholders
        self._alias: str | None = None

    def _compile(self, connection: Any, alias: str) -> _Compiled:
        return _compile(self._build(*self._placeholders), self._placeholders, connection, alias)

    def __call__(self, *values: Any) -> list[M]:
        alias = self._alias
        if alias is None:
            alias = self._alias = self._build(*self._placeholders).db
        connection = connections[alias]
        compiled = _compiled_for(self, connection, alias)
        with connection.cursor() as cursor:
            cursor.execute(_statement(compiled, connection, cursor), compiled.bind(values))
            rows = cursor.fetchall()
        return _instances(compiled, alias, rows)  # type: ignore[return-value]


def _compiled_for(prepared: PreparedLookup[Any] | PreparedQuery[Any], connection: Any, alias: str) -> _Compiled:
    # Kept on the connection (one per thread), so it lives and dies with it; keyed by the prepared query itself,
    # weakly, so it also dies with the query. Keyed by id() it outlived a short-lived query, whose id a later one
    # could take and then run the first one's SQL.
    cache: weakref.WeakKeyDictionary[Any, _Compiled] = connection.__dict__.setdefault(
        "_rongcheng_prepared", weakref.WeakKeyDictionary()
    )
    compiled = cache.get(prepared)
    if compiled is None:
        compiled = cache[prepared] = prepared._compile(connection, alias)
    return compiled


# The statements PREPAREd in each database session (the driver's connection object: a new one after a reconnection),
# least recently used first.
_prepared_in: weakref.WeakKeyDictionary[Any, OrderedDict[str, None]] = weakref.WeakKeyDictionary()
KEPT_PER_SESSION = 128


def _ensure_prepared(session: Any, name: str, prepare: str) -> None:
    """PREPARE `name` in the session unless it holds it already (then it becomes the most recently used); past
    KEPT_PER_SESSION the least recently used statement is deallocated. Sent on the driver's own cursor: no
    parameters, the text as it is, outside Django's execute wrappers."""
    names = _prepared_in.get(session)
    if names is None:
        names = _prepared_in[session] = OrderedDict()
    if name in names:
        names.move_to_end(name)
        return
    with session.cursor() as cursor:
        if len(names) >= KEPT_PER_SESSION:
            oldest = next(iter(names))
            cursor.execute(f"DEALLOCATE {oldest}")
            del names[oldest]
        cursor.execute(prepare)
    names[name] = None


def _statement(compiled: _Compiled, connection: Any, cursor: Any) -> str:
    """The SQL a call sends: the compiled SQL, or (keep_plan) the EXECUTE of its statement, PREPAREd first if this
    session has not prepared it yet."""
    if compiled.kept is None:
        return compiled.sql
    name, prepare, execute = compiled.kept
    _ensure_prepared(connection.connection, name, prepare)
    return execute


def kept_plan(sql: str, count: int, *, using: str = "default") -> str:
    """The statement to send for `sql` (Django's SQL, `count` parameters written `%s`) so that PostgreSQL plans it
    once per database session: `EXECUTE name(%s, ...)`, its `PREPARE` sent first if this session has not sent it.
    Elsewhere (SQLite) `sql` itself. Call it before opening a pipeline (see the module's documentation)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return sql
    name, prepare, execute = _kept_text(sql, count)
    connection.ensure_connection()
    _ensure_prepared(connection.connection, name, prepare)
    return execute


@functools.lru_cache(maxsize=1024)
def _kept_text(sql: str, count: int) -> tuple[str, str, str]:
    return _kept(sql, count)


def _kept(sql: str, count: int) -> tuple[str, str, str]:
    """The name, PREPARE and EXECUTE of `sql` (Django's, with `%s` for its `count` parameters and `%%` for `%`)."""
    numbers = iter(range(1, count + 1))
    text = re.sub(r"%%|%s", lambda match: "%" if match.group() == "%%" else f"${next(numbers)}", sql)
    if next(numbers, None) is not None:
        raise ValueError("A kept plan's SQL must take each of its parameters as %s.")
    name = "rc_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
    arguments = f"({', '.join(['%s'] * count)})" if count else ""
    return name, f"PREPARE {name} AS {text}", f"EXECUTE {name}{arguments}"


def _adapter(placeholder: Any, connection: Any) -> Callable[[Any], Any] | None:
    """How the database's backend adapts a value of this kind before it becomes a parameter (SQLite writes a datetime
    as text), or None when it passes as it is."""
    if isinstance(placeholder, dt.datetime):
        adapt: Callable[[Any], Any] = connection.ops.adapt_datetimefield_value
        return None if adapt(placeholder) == placeholder else adapt
    return None


def _compile(
    queryset: QuerySet[Any], placeholders: tuple[Any, ...], connection: Any, alias: str, keep_plan: bool = False
) -> _Compiled:
    compiler = queryset.query.get_compiler(using=alias, connection=connection)
    sql, params = compiler.as_sql()
    adapters = tuple(_adapter(placeholder, connection) for placeholder in placeholders)
    sought = [adapt(p) if adapt else p for p, adapt in zip(placeholders, adapters, strict=True)]
    positions = tuple(
        tuple(number for number, param in enumerate(params) if type(param) is type(wanted) and param == wanted)
        for wanted in sought
    )
    if any(not found or str(placeholder) in sql for found, placeholder in zip(positions, placeholders, strict=True)):
        raise ValueError("A prepared query takes each value as a parameter of its SQL, never in the SQL itself.")
    if queryset._known_related_objects:  # type: ignore[attr-defined]
        raise ValueError("A prepared query builds plain instances: no known related objects.")
    klass_info = compiler.klass_info
    select = compiler.select
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    return _Compiled(
        sql=sql, params=tuple(params), positions=positions, adapters=adapters, compiler=compiler,
        model=klass_info["model"], start=start, end=end,
        init_list=[column[0].target.attname for column in select[start:end]],
        populators=get_related_populators(klass_info, select, alias),  # type: ignore[call-arg]  # Django 5.2
        converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
        annotations=tuple((compiler.annotation_col_map or {}).items()),
        kept=_kept(sql, len(params)) if keep_plan and connection.vendor == "postgresql" else None,
    )  # fmt: skip


def _instances(compiled: _Compiled, alias: str, rows: list[Any]) -> list[Model]:
    """The instances of `rows` as Django's ModelIterable builds them: converters, related objects, annotations."""
    if compiled.converters:
        rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
    instances = []
    for row in rows:
        instance = compiled.model.from_db(alias, compiled.init_list, row[compiled.start : compiled.end])
        for populator in compiled.populators:
            populator.populate(row, instance)
        for name, position in compiled.annotations:
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances
