"""Bulk inserts as fast as the database takes them: COPY on PostgreSQL, one executemany elsewhere.

Rows can be prepared (rendered to COPY text, or to SQLite parameters) apart from the insert, so a worker process can
prepare the next batch while the database takes this one.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection


@dataclass(frozen=True)
class PreparedRows:
    vendor: str
    count: int
    copy_text: str = ""
    parameters: tuple[tuple[Any, ...], ...] = ()


def prepare_rows(vendor: str, rows: Iterable[Sequence[Any]]) -> PreparedRows:
    if vendor == "postgresql":
        buffer = io.StringIO()
        count = 0
        for row in rows:
            buffer.write("\t".join([_copy_text(value) for value in row]))
            buffer.write("\n")
            count += 1
        return PreparedRows(vendor, count, copy_text=buffer.getvalue())
    parameters = tuple(tuple([_sqlite_value(value) for value in row]) for row in rows)
    return PreparedRows(vendor, len(parameters), parameters=parameters)


def bulk_insert_prepared(table: str, columns: Sequence[str], prepared: PreparedRows) -> int:
    """Insert prepared rows; `table` and `columns` are identifiers from the caller's code, never from input."""
    if prepared.vendor != connection.vendor:
        raise ValueError(f"rows prepared for {prepared.vendor}, connection is {connection.vendor}")
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                copy.write(prepared.copy_text)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({column_list}) VALUES ({placeholders})",  # noqa: S608 - identifiers from code
                prepared.parameters,
            )
    return prepared.count


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    return bulk_insert_prepared(table, columns, prepare_rows(connection.vendor, rows))


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if isinstance(value, date) else value
