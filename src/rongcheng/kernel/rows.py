"""Model instances from rows read by hand: for a hot path whose ORM query cost more to compile, at every call, than
to run (a statement written once from the models' fields instead)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections


@functools.cache
def _converters(model: Any, names: tuple[str, ...], wrapper: Any) -> tuple[list[str], list[tuple[Any, list[Any]]]]:
    """The attribute names of the fields `names` and, for each, its column and the converters the ORM applies to
    values read through `wrapper` (this thread's connection; found once per thread: looking them up cost more than
    converting)."""
    fields = [model._meta.get_field(name) for name in names]
    steps: list[tuple[Any, list[Callable[..., Any]]]] = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        steps.append((column, field.get_db_converters(wrapper) + wrapper.ops.get_db_converters(column)))
    return [f.attname for f in fields], steps


def model_from_row(model: Any, names: Iterable[str], values: Iterable[Any]) -> Any:
    """An instance of `model` from the values of the fields `names`, each converted as the ORM converts it (JSON
    decoded, encrypted fields decrypted, time zones applied)."""
    attnames, steps = _converters(model, tuple(names), connections[DEFAULT_DB_ALIAS])
    converted = []
    for (column, converters), value in zip(steps, values, strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, attnames, converted)
