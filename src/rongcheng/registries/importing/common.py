"""What every part of a registry import shares: the columns of each kind of file, the limits, the report."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal, NamedTuple

from django.db import OperationalError

from rongcheng.registries.errors import RegistryInputInvalid

Kind = Literal["persons", "entities"]
BATCH_ROWS: Final = 5_000
# Errors itemised in a report; beyond this many, rejected rows are still counted (`errors_omitted`), so that a file of
# a million wrong rows cannot fill the memory.
ERROR_LIMIT: Final = 100_000
# A CSV line longer than this is not a registry row: it is refused before it is held in memory.
MAX_LINE_BYTES: Final = 1 << 20
# From this many rows (counted by the first pass) PostgreSQL imports use the worker process.
PIPELINE_MIN_ROWS: Final = 20_000
# A strict import is one transaction; PostgreSQL may end a deadlock between two of them by failing one, which then
# starts again from its first row.
STRICT_ATTEMPTS: Final = 3
_READ_CHUNK: Final = 1 << 20


class Column(NamedTuple):
    field: str
    chinese: str
    required: bool = False


# The columns of each kind of file, under their English or Chinese header: the one place that defines them. The first
# column is the record's key.
COLUMNS: Final[Mapping[Kind, tuple[Column, ...]]] = {
    "persons": (
        Column("id_number", "公民身份号码", required=True),
        Column("name", "姓名", required=True),
        Column("ethnicity", "民族"),
        Column("division_code", "户籍地区划代码"),
        Column("phone", "电话"),
        Column("address", "地址"),
    ),
    "entities": (
        Column("credit_code", "统一社会信用代码", required=True),
        Column("name", "名称", required=True),
        Column("established_on", "成立日期", required=True),
        Column("address", "住所"),
        Column("registration_authority", "登记机关"),
    ),
}
HEADERS: Final[Mapping[Kind, Mapping[str, str]]] = {
    kind: {name: column.field for column in columns for name in (column.field, column.chinese)}
    for kind, columns in COLUMNS.items()
}
# A number in an identifier's cell has lost digits in Excel (15 significant digits): it is never trusted.
_IDENTIFIER_FIELDS: Final = frozenset({"id_number", "credit_code"})


class RowError(NamedTuple):
    """One broken rule of one row. `row` is the row (CSV: line) number as the file shows it, the header being 1;
    `column` is the header as the file writes it."""

    row: int
    column: str
    rule: str
    message: str


@dataclass
class ImportReport:
    kind: Kind
    filename: str
    sm3: str  # hex digest of the file's bytes, as in the audit record
    strict: bool
    rows_read: int = 0  # rows with at least one value; blank rows are skipped
    inserted: int = 0
    unchanged: int = 0  # already registered with the same data
    rejected: int = 0
    committed: bool = True  # False when strict mode rolled everything back
    errors: list[RowError] = field(default_factory=list)
    errors_omitted: int = 0  # broken rules beyond ERROR_LIMIT: counted, not itemised

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def error_rows(self) -> Iterator[tuple[str, str, str, str]]:
        """The error report as CSV rows, header first."""
        yield ("row", "column", "rule", "message")
        for error in self.errors:
            yield (str(error.row), error.column, error.rule, error.message)


class ImportFileRefused(RegistryInputInvalid):
    """The whole file is refused: not CSV or Excel, not UTF-8, a wrong header, malformed CSV. `rule` names the
    broken rule (`file.type`, `file.encoding`, `header.unknown`...), `line` the line where the file shows it."""

    def __init__(self, detail: str, *, rule: str, line: int | None = None, column: str = "") -> None:
        loc: list[str | int] = ["file"]
        if line is not None:
            loc.append(line)
        if column:
            loc.append(column)
        super().__init__(detail, errors=[{"loc": loc, "rule": rule, "msg": detail}])
        self.rule = rule
        self.line = line
        self.column = column

    def __reduce__(self) -> tuple[Any, ...]:  # crosses from the worker process
        return (_refused, (self.detail, self.rule, self.line, self.column))


def _refused(detail: str, rule: str, line: int | None, column: str) -> ImportFileRefused:
    return ImportFileRefused(detail, rule=rule, line=line, column=column)


# Called after each batch with the rows read so far and the rows the first pass counted (None if it could not).
Progress = Callable[[int, int | None], None]

Source = str | os.PathLike[str] | IO[bytes]


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}
