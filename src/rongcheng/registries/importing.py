"""Bulk import of persons and legal entities from CSV (UTF-8) and Excel (.xlsx) files.

The file is read twice, as a stream, so memory stays flat whatever its size. The first pass refuses the whole file
before anything is stored (not CSV or Excel, not UTF-8, a wrong header, malformed CSV), counts the rows for the
progress bar and takes the file's SM3 digest for the audit record. The second pass validates each row with the
registry's own rules (`person_input_validate`; for entities the rules of `legal_entity_register`) and stores the
valid rows in batches.

A batch's new rows are written with one bulk insert in key order (COPY on PostgreSQL, executemany on SQLite) inside a
savepoint. Should another import or a registration have stored one of their keys meanwhile, the unique index refuses
it and the batch goes through `INSERT ... ON CONFLICT DO NOTHING` (from a temporary table on PostgreSQL) instead. That
is what makes two overlapping imports at the same time converge to the state of one after the other: a row stored
first by the other import is looked at again, and counted as unchanged or reported as a conflict. An import never
overwrites a record: corrections go through `person_correct`, which keeps the previous version.

Importing is idempotent: a row whose key is registered with the same data is counted as unchanged, with other data it
is rejected as `registry.conflict`. A key on an earlier row of the same file is rejected as `file.duplicate`, however
far apart the rows: the registry itself tells which keys this import stored (their `valid_from` is the import's), and
a temporary table keeps the few keys it did not store. Memory holds neither.

Validation and SM4 encryption cost about as much time as the database does. On PostgreSQL, large files are therefore
read, validated and encrypted by a forked worker process while this process stores the previous batch.

The XLSX reader streams rows, but it holds the workbook's shared-strings table (each distinct text once) in memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import multiprocessing
import multiprocessing.queues
import os
import queue
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Literal, NamedTuple

from cryptography.hazmat.primitives import hashes
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.context import current_address
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import credit_code_validate
from rongcheng.registries.errors import RegistryInputInvalid
from rongcheng.registries.protection import Protected, index_of, protect_id_number, protect_phone
from rongcheng.registries.services import ENTITY_TYPES, PersonInput, person_input_validate

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


def registry_import(
    *,
    kind: Kind,
    source: Source,
    filename: str,
    strict: bool,
    actor: Actor,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImportReport:
    """Import a CSV or .xlsx file of persons or legal entities, and say what became of each row.

    Not strict: every valid row is stored, batch by batch, each batch in its own transaction. Strict: one transaction,
    rolled back if any row is rejected. One audit record (`registries.import`) is written in the transaction of the
    last rows. `workers=2` forces the worker process, `workers=1` forbids it; by default large PostgreSQL imports use
    it.

    Raises `ImportFileRefused` when the file is refused as a whole, before anything is stored. The exceptions are
    files found broken part-way, which the first pass cannot see: an .xlsx file damaged inside (only its header is
    read ahead), a file changed between the passes. A strict import then stores nothing; a non-strict one keeps the
    batches stored before, which a second import of the corrected file finds unchanged.
    """
    if kind not in COLUMNS:
        raise ValueError(f"kind is persons or entities, not {kind!r}")
    with _opened(source, filename) as stream:
        survey = _survey(stream, kind, filename)
        parallel = workers > 1 if workers is not None else _parallel_by_default(survey)
        with _temporary_tables():
            for attempt in range(1, STRICT_ATTEMPTS + 1):
                report = ImportReport(kind=kind, filename=filename, sm3=survey.sm3, strict=strict)
                batches = (
                    _worker_batches(stream, survey)
                    if parallel
                    else _batches(stream, survey, vendor=connection.vendor, protect=False)
                )
                try:
                    _Store(survey, report, actor).run(batches, progress)
                except OperationalError as exc:
                    if strict and _is_deadlock(exc) and attempt < STRICT_ATTEMPTS:
                        continue
                    raise
                finally:
                    batches.close()  # stops the worker process, if the store stopped early
                return report
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}


# ---------------------------------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------------------------------


@contextmanager
def _opened(source: Source, filename: str) -> Iterator[IO[bytes]]:
    """A seekable binary stream of the file, which is read twice; a pipe is spooled to a temporary file first."""
    if isinstance(source, (str, os.PathLike)):
        try:
            stream = open(source, "rb")  # noqa: SIM115 - closed by the with block below
        except FileNotFoundError:
            raise ImportFileRefused(f"{filename} does not exist.", rule="file.missing") from None
        except OSError as exc:
            raise ImportFileRefused(
                f"{filename} cannot be read: {exc.strerror or exc}.", rule="file.unreadable"
            ) from None
        with stream:
            yield stream
        return
    if source.seekable():
        source.seek(0)
        yield source
        return
    with tempfile.TemporaryFile() as spool:
        while chunk := source.read(_READ_CHUNK):
            spool.write(chunk)
        spool.seek(0)
        yield spool


@dataclass(frozen=True)
class _Survey:
    """What the first pass learnt: the format, each column's field and header, the row count, the digest."""

    kind: Kind
    filename: str
    format: Literal["csv", "xlsx"]
    fields: tuple[str | None, ...]  # None: a column without a header, which must stay empty
    headers: tuple[str, ...]
    rows: int | None
    sm3: str

    def header_of(self, field_name: str) -> str:
        for name, header in zip(self.fields, self.headers, strict=True):
            if name == field_name:
                return header
        return field_name


_BINARY_SIGNATURES: Final = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 (.xls) or other OLE document"),
    (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xff\xfe", "UTF-16 text"), (b"\xfe\xff", "UTF-16 text"),
)  # fmt: skip
_CONTROL_BYTES: Final = bytes(sorted(set(range(32)) - {9, 10, 13}))


def _survey(stream: IO[bytes], kind: Kind, filename: str) -> _Survey:
    """Decides the format by content and extension together: a renamed image is not a CSV file."""
    head = stream.read(4096)
    stream.seek(0)
    suffix = Path(filename).suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise ImportFileRefused(
            f"{filename} is not a CSV or Excel (.xlsx) file: only .csv and .xlsx files are imported.", rule="file.type"
        )
    if head.startswith(b"PK\x03\x04"):
        if suffix != ".xlsx":
            raise ImportFileRefused(
                f"{filename} is a ZIP archive or an Excel workbook, not CSV text.", rule="file.type"
            )
        return _survey_xlsx(stream, kind, filename)
    for signature, what in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise ImportFileRefused(f"{filename} is {what}, not a CSV or Excel (.xlsx) file.", rule="file.type")
    if suffix == ".xlsx":
        raise ImportFileRefused(f"{filename} is not an Excel workbook (.xlsx).", rule="file.type")
    if b"\x00" in head or sum(head.count(byte) for byte in _CONTROL_BYTES) > len(head) // 20:
        raise ImportFileRefused(f"{filename} is binary data, not CSV text or an Excel (.xlsx) file.", rule="file.type")
    return _survey_csv(stream, kind, filename)


def _lines(stream: IO[bytes], digest: hashes.Hash | None) -> Iterator[bytes]:
    """Lines of at most MAX_LINE_BYTES + 1 bytes (a longer one is cut there, and refused by the caller)."""
    readline = stream.readline
    while line := readline(MAX_LINE_BYTES + 1):
        if digest is not None:
            digest.update(line)
        yield line


def _text_lines(stream: IO[bytes], filename: str, digest: hashes.Hash | None = None) -> Iterator[str]:
    """Decoded lines; anything but UTF-8 (with or without a byte-order mark) is refused, naming the line."""
    for number, line in enumerate(_lines(stream, digest), start=1):
        if len(line) > MAX_LINE_BYTES:
            raise ImportFileRefused(
                f"Line {number} of {filename} is longer than {MAX_LINE_BYTES // 1024} KiB: it is not a registry row.",
                rule="file.line_length", line=number,
            )  # fmt: skip
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportFileRefused(
                f"Line {number} of {filename} is not UTF-8 text: save the file as “CSV UTF-8”.",
                rule="file.encoding", line=number,
            ) from None  # fmt: skip
        yield text[1:] if number == 1 and text.startswith("\ufeff") else text


def _csv_records(
    stream: IO[bytes], filename: str, digest: hashes.Hash | None = None
) -> Iterator[tuple[int, list[str]]]:
    """(line on which the record starts, cells): a quoted cell may span lines."""
    reader = csv.reader(_text_lines(stream, filename, digest), strict=True)
    line = 1
    try:
        for record in reader:
            yield line, record
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFileRefused(
            f"Line {reader.line_num} of {filename} is not well-formed CSV: {exc}.",
            rule="file.csv",
            line=reader.line_num,
        ) from None


def _surveyed_csv_records(stream: IO[bytes], filename: str) -> Iterator[tuple[int, list[str]]]:
    """The second pass over a CSV file that the survey accepted: decoded by the io module in one go, not line by
    line with checks (three times faster). A file changed between the two passes stops the import."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    line = 1
    try:
        for record in reader:
            yield line, record
            line = reader.line_num + 1
    except (UnicodeDecodeError, csv.Error):
        raise ImportFileRefused(f"{filename} changed while it was being imported.", rule="file.changed") from None
    finally:
        text.detach()  # the stream is the caller's


def _survey_csv(stream: IO[bytes], kind: Kind, filename: str) -> _Survey:
    digest = hashes.Hash(hashes.SM3())
    records = _csv_records(stream, filename, digest)
    first = next(records, None)
    if first is None:
        raise ImportFileRefused(f"{filename} is empty: its first line must name the columns.", rule="file.empty")
    headers, fields = _header(kind, first[1], filename)
    rows = sum(1 for _, cells in records if not _blank(cells))
    stream.seek(0)
    return _Survey(kind, filename, "csv", fields, headers, rows, digest.finalize().hex())


def _open_workbook(stream: IO[bytes], filename: str) -> Any:
    import openpyxl  # type: ignore[import-untyped]  # no stubs; this module uses it through `Any` only

    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception:  # openpyxl fails with zipfile, KeyError, XML and value errors alike
        raise ImportFileRefused(f"{filename} is not a readable Excel workbook (.xlsx).", rule="file.type") from None
    if not workbook.worksheets:
        workbook.close()
        raise ImportFileRefused(f"{filename} has no worksheet.", rule="file.empty")
    return workbook


def _xlsx_records(stream: IO[bytes], filename: str) -> Iterator[tuple[int, Sequence[Any]]]:
    """(row number, values) of the first worksheet; openpyxl fills gaps with empty rows, so the count is exact."""
    workbook = _open_workbook(stream, filename)
    try:
        yield from enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1)
    except Exception as exc:  # a damaged sheet fails with zipfile's or the XML parser's errors
        raise ImportFileRefused(f"{filename} is damaged: {exc}.", rule="file.damaged") from None
    finally:
        workbook.close()


def _survey_xlsx(stream: IO[bytes], kind: Kind, filename: str) -> _Survey:
    digest = hashes.Hash(hashes.SM3())
    while chunk := stream.read(_READ_CHUNK):
        digest.update(chunk)
    stream.seek(0)
    workbook = _open_workbook(stream, filename)
    try:
        sheet = workbook.worksheets[0]
        first = next(sheet.iter_rows(max_row=1, values_only=True), None)
        stated_rows = sheet.max_row
    finally:
        workbook.close()
    stream.seek(0)
    if first is None or _blank(first):
        raise ImportFileRefused(f"{filename} is empty: its first row must name the columns.", rule="file.empty")
    headers, fields = _header(kind, ["" if cell is None else str(cell) for cell in first], filename)
    # The sheet's stated dimension, for the progress bar only: iterating the sheet twice would double the time.
    rows = stated_rows - 1 if isinstance(stated_rows, int) and stated_rows > 0 else None
    return _Survey(kind, filename, "xlsx", fields, headers, rows, digest.finalize().hex())


def _header(kind: Kind, cells: Sequence[str], filename: str) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    known = HEADERS[kind]
    headers = [cell.strip() for cell in cells]
    while headers and not headers[-1]:
        headers.pop()
    fields: list[str | None] = []
    for position, header in enumerate(headers, start=1):
        if not header:
            fields.append(None)
        elif header not in known:
            expected = ", ".join(f"{c.field} ({c.chinese})" for c in COLUMNS[kind])
            raise ImportFileRefused(
                f"Column {position} of {filename} is headed “{header}”, which is not a column of a {kind} file; "
                f"the columns are {expected}.",
                rule="header.unknown", line=1, column=header,
            )  # fmt: skip
        elif known[header] in fields:
            raise ImportFileRefused(
                f"{filename} has the column {known[header]} twice (column {position}, “{header}”).",
                rule="header.duplicate", line=1, column=header,
            )  # fmt: skip
        else:
            fields.append(known[header])
    for column in COLUMNS[kind]:
        if column.required and column.field not in fields:
            raise ImportFileRefused(
                f"{filename} has no column {column.field} ({column.chinese}), which every row needs.",
                rule="header.missing", line=1, column=column.field,
            )  # fmt: skip
    return tuple(headers), tuple(fields)


def _blank(cells: Sequence[Any]) -> bool:
    try:
        return not "".join(cells).strip()
    except TypeError:  # a spreadsheet row: None for empty cells, numbers, dates
        return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _records(stream: IO[bytes], survey: _Survey) -> Iterator[tuple[int, Sequence[Any]]]:
    stream.seek(0)
    records: Iterator[tuple[int, Sequence[Any]]] = (
        _surveyed_csv_records(stream, survey.filename)
        if survey.format == "csv"
        else _xlsx_records(stream, survey.filename)
    )
    next(records, None)  # the header, which the survey checked
    return records


# ---------------------------------------------------------------------------------------------------------------------
# Validating rows
# ---------------------------------------------------------------------------------------------------------------------


class _Candidate(NamedTuple):
    """A valid row. `same` is compared with the record already registered under `key`, if there is one.

    `staged` is the row as the bulk insert takes it, protected, without its address and constant columns: a COPY text
    line's start on PostgreSQL, a parameter tuple on SQLite. In-process it is made for new rows only (from `clean`),
    so that rows already registered are not encrypted for nothing; the worker process makes it for every row.
    """

    row: int
    key: str
    same: tuple[str, ...]
    address: str
    division_code: str
    clean: Any
    staged: str | tuple[Any, ...] | None


@dataclass
class _Batch:
    candidates: list[_Candidate]
    errors: list[RowError]
    read: int  # rows read, blank rows not counted

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as columns for the way from the worker process: a named tuple per row costs four times more."""
        columns = tuple(map(list, zip(*self.candidates, strict=True))) if self.candidates else ()
        return (_batch_from_columns, (columns, self.errors, self.read))


def _batch_from_columns(columns: tuple[list[Any], ...], errors: list[RowError], read: int) -> _Batch:
    return _Batch(list(map(_Candidate, *columns)) if columns else [], errors, read)


def _cell_text(value: Any, field_name: str) -> str | None:
    """A cell as text; None for a number in an identifier's cell."""
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if field_name in _IDENTIFIER_FIELDS:
            return None
        return str(int(value)) if value.is_integer() else str(value)
    return str(value).strip()


def _row_values(survey: _Survey, row: int, cells: Sequence[Any]) -> dict[str, str] | list[RowError]:
    fields = survey.fields
    if survey.format == "csv" and len(cells) <= len(fields) and None not in fields:  # the common case, made short
        return {name: cell.strip() for name, cell in zip(fields, cells, strict=False) if name is not None}
    values: dict[str, str] = {}
    errors: list[RowError] = []
    for position, cell in enumerate(cells):
        target = fields[position] if position < len(fields) else None
        if target is None:
            if cell is not None and (not isinstance(cell, str) or cell.strip()):
                errors.append(
                    RowError(row, f"#{position + 1}", "row.columns", "a value in a column that has no header")
                )
            continue
        text = _cell_text(cell, target)
        if text is None:
            errors.append(RowError(row, survey.headers[position], "cell.number",
                                   "a number, which Excel rounds to 15 digits: format the column as text"))  # fmt: skip
        else:
            values[target] = text
    return errors or values


def _errors_of(exc: ValidationFailed, row: int, survey: _Survey) -> list[RowError]:
    result = []
    for error in exc.errors:
        loc = error.get("loc") or [""]
        result.append(
            RowError(row, survey.header_of(str(loc[-1])), str(error.get("rule", "")), str(error.get("msg", "")))
        )
    return result


_COPY_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _person_candidate(row: int, values: Mapping[str, str], vendor: str, protect: bool) -> _Candidate:
    clean = person_input_validate(values)
    if not protect:
        key = index_of("person.id_number", clean.id_number)
        phone_index = index_of("person.phone", clean.phone) if clean.phone else ""
        same = (clean.name, clean.ethnicity, clean.division_code, phone_index, clean.address_text)
        return _Candidate(row, key, same, clean.address_text, clean.division_code, clean, None)
    id_number, phone = protect_id_number(clean.id_number), protect_phone(clean.phone)
    same = (clean.name, clean.ethnicity, clean.division_code, phone.blind, clean.address_text)
    staged = _person_staged(vendor, clean, id_number, phone)
    return _Candidate(row, id_number.blind, same, clean.address_text, clean.division_code, None, staged)


def _person_staged(vendor: str, clean: PersonInput, id_number: Protected, phone: Protected) -> str | tuple[Any, ...]:
    """In the order of `_INSERT_COLUMNS`. Ciphertexts (URL-safe base64), indexes (hex), masked forms and codes need
    no COPY escaping; the name may."""
    if vendor == "postgresql":
        return (f"{id_number.cipher}\t{id_number.blind}\t{id_number.masked}\t{clean.name.translate(_COPY_ESCAPES)}\t"
                f"{clean.sex}\t{clean.birth_date.isoformat()}\t{clean.ethnicity}\t{clean.division_code}\t"
                f"{phone.cipher}\t{phone.blind}\t{phone.masked}")  # fmt: skip
    return (*id_number, clean.name, clean.sex, clean.birth_date.isoformat(), clean.ethnicity, clean.division_code,
            *phone)  # fmt: skip


@dataclass(frozen=True)
class EntityInput:
    credit_code: str
    name: str
    registration_department: str
    category: str
    entity_type: str
    division_code: str
    established_on: dt.date
    registration_authority: str
    address_text: str


def entity_input_validate(data: Mapping[str, Any]) -> EntityInput:
    """The rules of `legal_entity_register`, for a row of an import file (which names no legal representative)."""
    errors: list[dict[str, Any]] = []
    code = None
    try:
        code = credit_code_validate(str(data.get("credit_code") or "").strip())
        if code.suspect:
            errors.append({"loc": ["credit_code"], "rule": code.suspect_rule or "credit_code.check",
                           "msg": "suspect code: verify it with the registration authority first"})  # fmt: skip
    except ValidationFailed as exc:
        errors.extend({**error, "loc": ["credit_code"]} for error in exc.errors)
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 120:
        errors.append({"loc": ["name"], "rule": "name.required", "msg": "1 to 120 characters"})
    established: Any = data.get("established_on")
    if isinstance(established, str):
        try:
            established = dt.date.fromisoformat(established.strip())
        except ValueError:
            established = None
    if not isinstance(established, dt.date) or established > timezone.localdate():
        errors.append({"loc": ["established_on"], "rule": "date.valid", "msg": "a real date, not in the future"})
    address = str(data.get("address") or "").strip()
    if len(address) > 200:
        errors.append({"loc": ["address"], "rule": "address.length", "msg": "at most 200 characters"})
    if errors or code is None or not isinstance(established, dt.date):
        raise RegistryInputInvalid("The legal entity's data breaks the registry's rules.", errors=errors)
    return EntityInput(
        credit_code=code.value, name=name, registration_department=code.registration_department,
        category=code.category, entity_type=ENTITY_TYPES.get((code.registration_department, code.category), ""),
        division_code=code.division_code, established_on=established,
        registration_authority=str(data.get("registration_authority") or "").strip()[:100], address_text=address,
    )  # fmt: skip


def _entity_candidate(row: int, values: Mapping[str, str], vendor: str, protect: bool) -> _Candidate:
    """Entities hold no personal data to protect: the row is staged at once."""
    clean = entity_input_validate(values)
    established = clean.established_on.isoformat()
    same = (clean.name, established, clean.registration_authority, clean.address_text)
    fields = (clean.credit_code, clean.name, clean.registration_department, clean.category, clean.entity_type,
              clean.division_code, established, clean.registration_authority)  # fmt: skip
    staged: str | tuple[Any, ...] = (
        "\t".join(value.translate(_COPY_ESCAPES) for value in fields) if vendor == "postgresql" else fields
    )
    return _Candidate(row, clean.credit_code, same, clean.address_text, clean.division_code, None, staged)


_CANDIDATE: Final[Mapping[Kind, Callable[[int, Mapping[str, str], str, bool], _Candidate]]] = {
    "persons": _person_candidate,
    "entities": _entity_candidate,
}


def _staged(vendor: str, candidate: _Candidate) -> str | tuple[Any, ...]:
    if candidate.staged is not None:
        return candidate.staged
    clean: PersonInput = candidate.clean
    return _person_staged(vendor, clean, protect_id_number(clean.id_number), protect_phone(clean.phone))


def _duplicate(row: int, column: str) -> RowError:
    return RowError(row, column, "file.duplicate", "the same identifier is on an earlier row of the file")


def _batches(stream: IO[bytes], survey: _Survey, *, vendor: str, protect: bool) -> Generator[_Batch]:
    """Validated rows in batches of BATCH_ROWS; within a batch, a key already on an earlier row is a duplicate (the
    store looks for keys of earlier batches)."""
    make = _CANDIDATE[survey.kind]
    key_header = survey.header_of(COLUMNS[survey.kind][0].field)
    batch = _Batch([], [], 0)
    keys: set[str] = set()
    for row, cells in _records(stream, survey):
        if _blank(cells):
            continue
        batch.read += 1
        values = _row_values(survey, row, cells)
        if isinstance(values, list):
            batch.errors.extend(values)
        else:
            try:
                candidate = make(row, values, vendor, protect)
            except ValidationFailed as exc:
                batch.errors.extend(_errors_of(exc, row, survey))
            else:
                if candidate.key in keys:
                    batch.errors.append(_duplicate(row, key_header))
                else:
                    keys.add(candidate.key)
                    batch.candidates.append(candidate)
        if batch.read >= BATCH_ROWS:
            yield batch
            batch = _Batch([], [], 0)
            keys = set()
    if batch.read:
        yield batch


# ---------------------------------------------------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------------------------------------------------


def _parallel_by_default(survey: _Survey) -> bool:
    return (
        connection.vendor == "postgresql"
        and (survey.rows or 0) >= PIPELINE_MIN_ROWS
        and (os.cpu_count() or 1) > 1
        and "fork" in multiprocessing.get_all_start_methods()
    )


_END: Final = "end"
_IN_FLIGHT: Final = 2  # batches made ahead of the store: bounds the memory


def _worker(stream: IO[bytes], survey: _Survey, vendor: str, out: multiprocessing.queues.Queue[Any]) -> None:
    """The forked child: reads, validates, protects. It never touches the database: the connection it inherited is
    the parent's, in use."""
    try:
        for batch in _batches(stream, survey, vendor=vendor, protect=True):
            out.put(batch)
        out.put(_END)
    except BaseException as exc:  # handed to the parent, which raises it
        try:
            out.put(exc)
        except Exception:  # one that does not pickle is described instead
            out.put(RuntimeError(f"the import worker failed: {exc!r}"))


def _worker_batches(stream: IO[bytes], survey: _Survey) -> Generator[_Batch]:
    """Batches made by a forked worker process while this one stores the previous ones.

    Validation and SM4 encryption cost about as much time as the database does. A thread would not overlap them:
    both hold the interpreter lock for most of their time. Fork, not spawn: the child shares the open file, the
    settings and the key ring, and needs no setup. It is forked with the database connection open (a strict import is
    inside its transaction); that is safe because the child never uses it and leaves through os._exit, which sends
    nothing on the socket.
    """
    context = multiprocessing.get_context("fork")
    out: multiprocessing.queues.Queue[Any] = context.Queue(maxsize=_IN_FLIGHT)
    stream.seek(0)
    worker = context.Process(target=_worker, args=(stream, survey, connection.vendor, out), daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = out.get(timeout=1)
            except queue.Empty:
                if not worker.is_alive():
                    raise RuntimeError(f"the import worker stopped (exit code {worker.exitcode})") from None
                continue
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, str):
                return
            yield item
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        out.close()
        out.join_thread()


# ---------------------------------------------------------------------------------------------------------------------
# Storing rows
# ---------------------------------------------------------------------------------------------------------------------

_TABLE: Final[Mapping[Kind, str]] = {"persons": "registries_person", "entities": "registries_legalentity"}
_KEY_COLUMN: Final[Mapping[Kind, str]] = {"persons": "id_number_index", "entities": "credit_code"}
_INSERT_COLUMNS: Final[Mapping[Kind, tuple[str, ...]]] = {
    "persons": (
        "id_number_cipher", "id_number_index", "id_number_masked", "name", "sex", "birth_date", "ethnicity",
        "division_code", "phone_cipher", "phone_index", "phone_masked", "status", "version", "valid_from",
        "address_id",
    ),
    "entities": (
        "credit_code", "name", "registration_department", "category", "entity_type", "division_code",
        "established_on", "registration_authority", "status", "version", "valid_from", "address_id",
    ),
}  # fmt: skip
_FIRST_STATUS: Final[Mapping[Kind, str]] = {"persons": "living", "entities": "active"}
# The stored values compared with a row, after a flag: stored by this import (its `valid_from`), so from an earlier
# row of the file.
_EXISTING: Final[Mapping[Kind, str]] = {
    "persons": (
        "SELECT p.id_number_index, p.valid_from = %s, p.name, p.ethnicity, p.division_code, p.phone_index, "
        "COALESCE(a.text, '') FROM registries_person p LEFT JOIN registries_address a ON a.id = p.address_id "
        "WHERE p.id_number_index IN ({keys})"
    ),
    "entities": (
        "SELECT e.credit_code, e.valid_from = %s, e.name, e.established_on, e.registration_authority, "
        "COALESCE(a.text, '') FROM registries_legalentity e LEFT JOIN registries_address a ON a.id = e.address_id "
        "WHERE e.credit_code IN ({keys})"
    ),
}


class _Statements(NamedTuple):
    copy: str
    create_stage: str
    copy_stage: str
    insert_from_stage: str
    insert_values: str
    insert_values_or_nothing: str


def _statements(kind: Kind) -> _Statements:
    """The insert statements of one registry; every identifier in them is a constant of this module."""
    table, key, names = _TABLE[kind], _KEY_COLUMN[kind], _INSERT_COLUMNS[kind]
    columns = ", ".join(names)
    placeholders = ", ".join(["%s"] * len(names))
    return _Statements(
        copy=f"COPY {table} ({columns}) FROM STDIN",
        create_stage="CREATE TEMPORARY TABLE IF NOT EXISTS rc_import_stage AS "  # noqa: S608
        f"SELECT {columns} FROM {table} WITH NO DATA",
        copy_stage=f"COPY rc_import_stage ({columns}) FROM STDIN",
        insert_from_stage=f"INSERT INTO {table} ({columns}) SELECT {columns} FROM rc_import_stage "  # noqa: S608
        f"ORDER BY {key} ON CONFLICT ({key}) DO NOTHING RETURNING {key}",
        insert_values=f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608
        insert_values_or_nothing=f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO NOTHING",
    )


_SQL: Final[Mapping[Kind, _Statements]] = {kind: _statements(kind) for kind in COLUMNS}
_CONFLICT: Final = "already registered with other data: correct the record, do not import it again"
_SQLITE_PARAMETERS: Final = 900  # below SQLite's historical limit of 999 parameters per statement


@contextmanager
def _temporary_tables() -> Iterator[None]:
    """The keys of rows not stored by this import (unchanged, conflicting, not inserted in a failed strict import),
    to tell a later row with the same key that it is a duplicate; it lives in this connection only."""
    with connection.cursor() as cursor:
        _drop_temporary_tables(cursor)  # left by an import whose transaction failed on this connection
        cursor.execute("CREATE TEMPORARY TABLE rc_import_seen (seen_key text PRIMARY KEY)")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                _drop_temporary_tables(cursor)
        except DatabaseError:
            pass  # the caller's transaction failed: the tables end with it, or with the next import's first step


def _drop_temporary_tables(cursor: Any) -> None:
    cursor.execute("DROP TABLE IF EXISTS rc_import_seen")
    cursor.execute("DROP TABLE IF EXISTS rc_import_stage")


@dataclass
class _Outcome:
    """What one batch did; added to the report once its transaction stands."""

    read: int = 0
    inserted: int = 0
    unchanged: int = 0
    rejected_rows: set[int] = field(default_factory=set)
    errors: list[RowError] = field(default_factory=list)
    not_stored: list[str] = field(default_factory=list)  # keys for the seen table

    def reject(self, error: RowError) -> None:
        self.rejected_rows.add(error.row)
        self.errors.append(error)


class _Store:
    """Per batch: keys seen on earlier rows of the file, records already registered, then one bulk insert.

    New rows go in with one COPY (PostgreSQL) or executemany (SQLite) straight into the registry table, inside a
    savepoint. If another import or a registration stored one of their keys meanwhile, the insert fails on the unique
    index and the batch goes through INSERT ... ON CONFLICT DO NOTHING instead (from a temporary table on PostgreSQL),
    which keeps the others' rows and tells ours apart. After a batch of new keys only, the next batch is inserted
    without looking its keys up first: a fresh import pays for no look-up at all.
    """

    def __init__(self, survey: _Survey, report: ImportReport, actor: Actor) -> None:
        self.kind = survey.kind
        self.total = survey.rows
        self.report = report
        self.actor = actor
        self.now = timezone.now()
        self.key_header = survey.header_of(COLUMNS[survey.kind][0].field)
        self.vendor = connection.vendor
        self.seen_rows = 0  # keys in the seen table (maybe fewer, after a rolled-back batch)
        self.optimistic = False  # insert without looking up the keys first

    def run(self, batches: Iterable[_Batch], progress: Progress | None) -> None:
        report = self.report
        if not report.strict:
            self._each_in_its_transaction(batches, progress)
            return
        with transaction.atomic():
            for batch, last in _with_last(batches):
                # After a rejected row nothing more is inserted, but the rest is checked for the report.
                self._add(self._store(batch, insert=report.rejected == 0))
                if last:
                    self._audit(_Outcome())
                if progress is not None:
                    progress(report.rows_read, self.total)
            if report.rows_read == 0:
                self._audit(_Outcome())
            if report.rejected:
                transaction.set_rollback(True)
        if report.rejected:
            report.committed = False
            report.inserted = 0

    def _each_in_its_transaction(self, batches: Iterable[_Batch], progress: Progress | None) -> None:
        empty = True
        for batch, last in _with_last(batches):
            empty = False
            for attempt in range(1, STRICT_ATTEMPTS + 1):
                try:
                    with transaction.atomic():
                        outcome = self._store(batch, insert=True)
                        if last:
                            self._audit(outcome)
                    break
                except OperationalError as exc:  # a deadlock with a strict import: this batch starts again
                    if not _is_deadlock(exc) or attempt == STRICT_ATTEMPTS:
                        raise
            self._add(outcome)
            if progress is not None:
                progress(self.report.rows_read, self.total)
        if empty:
            with transaction.atomic():
                self._audit(_Outcome())

    def _add(self, outcome: _Outcome) -> None:
        report = self.report
        report.rows_read += outcome.read
        report.inserted += outcome.inserted
        report.unchanged += outcome.unchanged
        report.rejected += len(outcome.rejected_rows)
        room = max(0, ERROR_LIMIT - len(report.errors))
        report.errors.extend(outcome.errors[:room])
        report.errors_omitted += max(0, len(outcome.errors) - room)
        self.seen_rows += len(outcome.not_stored)

    def _audit(self, last: _Outcome) -> None:
        """The record of the whole import, in the transaction of its last batch (whose outcome is not added yet)."""
        report = self.report
        audit_record(
            source_address=current_address(),
            action="registries.import", actor=self.actor, target_type=f"registries.{report.kind}",
            detail={
                "file": report.filename, "sm3": report.sm3, "strict": report.strict,
                "rows_read": report.rows_read + last.read, "inserted": report.inserted + last.inserted,
                "unchanged": report.unchanged + last.unchanged,
                "rejected": report.rejected + len(last.rejected_rows),
            },
        )  # fmt: skip

    def _store(self, batch: _Batch, *, insert: bool) -> _Outcome:
        outcome = _Outcome(read=batch.read)
        for error in batch.errors:
            outcome.reject(error)
        candidates = batch.candidates
        with connection.cursor() as cursor:
            if self.seen_rows and candidates:
                seen = self._seen(cursor, [c.key for c in candidates])
                for candidate in candidates:
                    if candidate.key in seen:
                        outcome.reject(_duplicate(candidate.row, self.key_header))
                candidates = [c for c in candidates if c.key not in seen]
            if insert and self.optimistic and candidates and self._insert_all(cursor, candidates):
                outcome.inserted += len(candidates)
                return outcome
            existing = self._existing(cursor, [c.key for c in candidates])
            # A batch of new keys only is likely followed by another: that one skips the look-up.
            self.optimistic = not existing
            new = []
            for candidate in candidates:
                stored = existing.get(candidate.key)
                if stored is None:
                    new.append(candidate)
                elif stored[0]:
                    outcome.reject(_duplicate(candidate.row, self.key_header))
                else:
                    self._compare(outcome, candidate, stored[1:])
            if new and insert:
                inserted = self._insert(cursor, new)
                outcome.inserted += len(inserted)
                raced = [c for c in new if c.key not in inserted]
                if raced:  # stored by another import or a registration since the look-up
                    found = self._existing(cursor, [c.key for c in raced])
                    for candidate in raced:
                        self._compare(outcome, candidate, found[candidate.key][1:])
            elif new:  # a strict import that failed: checked, not stored
                outcome.not_stored.extend(c.key for c in new)
            if outcome.not_stored:
                self._remember(cursor, outcome.not_stored)
        return outcome

    def _compare(self, outcome: _Outcome, candidate: _Candidate, stored: tuple[Any, ...]) -> None:
        outcome.not_stored.append(candidate.key)
        if _comparable(stored) == candidate.same:
            outcome.unchanged += 1
        else:
            outcome.reject(RowError(candidate.row, self.key_header, "registry.conflict", _CONFLICT))

    # -- SQL ---------------------------------------------------------------------------------------------------------

    def _keys_sql(self, cursor: Any, sql: str, keys: list[str], *params: Any) -> list[tuple[Any, ...]]:
        """Runs `sql` with `{keys}` standing for the list of keys: one array on PostgreSQL (keys are hex digits or
        credit-code characters, never a comma), chunks of parameters on SQLite."""
        if not keys:
            return []
        if self.vendor == "postgresql":
            cursor.execute(sql.format(keys="SELECT unnest(string_to_array(%s, ','))"), [*params, ",".join(keys)])
            return list(cursor.fetchall())
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), _SQLITE_PARAMETERS):
            chunk = keys[start : start + _SQLITE_PARAMETERS]
            cursor.execute(sql.format(keys=", ".join(["%s"] * len(chunk))), [*params, *chunk])
            rows.extend(cursor.fetchall())
        return rows

    def _seen(self, cursor: Any, keys: list[str]) -> set[str]:
        return {
            row[0]
            for row in self._keys_sql(cursor, "SELECT seen_key FROM rc_import_seen WHERE seen_key IN ({keys})", keys)
        }

    def _remember(self, cursor: Any, keys: list[str]) -> None:
        cursor.executemany(
            "INSERT INTO rc_import_seen (seen_key) VALUES (%s) ON CONFLICT DO NOTHING", [(k,) for k in keys]
        )

    def _existing(self, cursor: Any, keys: list[str]) -> dict[str, tuple[Any, ...]]:
        now = connection.ops.adapt_datetimefield_value(self.now)
        return {row[0]: tuple(row[1:]) for row in self._keys_sql(cursor, _EXISTING[self.kind], keys, now)}

    def _address_ids(self, cursor: Any, new: list[_Candidate]) -> dict[tuple[str, str], int]:
        """The standard address of each new row, created if need be (in one order, as the rows are)."""
        wanted = sorted({(c.address, c.division_code) for c in new if c.address})
        if not wanted:
            return {}
        texts, divisions = [w[0] for w in wanted], [w[1] for w in wanted]
        if self.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO registries_address (text, division_code) "
                "SELECT t, d FROM unnest(%s::text[], %s::text[]) AS w(t, d) ORDER BY t, d "
                "ON CONFLICT (text, division_code) DO NOTHING",
                [texts, divisions],
            )
            cursor.execute(
                "SELECT a.text, a.division_code, a.id FROM registries_address a "
                "JOIN unnest(%s::text[], %s::text[]) AS w(t, d) ON a.text = w.t AND a.division_code = w.d",
                [texts, divisions],
            )
            return {(row[0], row[1]): row[2] for row in cursor.fetchall()}
        cursor.executemany(
            "INSERT INTO registries_address (text, division_code) VALUES (%s, %s) "
            "ON CONFLICT (text, division_code) DO NOTHING",
            wanted,
        )
        ids: dict[tuple[str, str], int] = {}
        for start in range(0, len(wanted), _SQLITE_PARAMETERS // 2):
            chunk = wanted[start : start + _SQLITE_PARAMETERS // 2]
            pairs = "VALUES " + ", ".join(["(%s, %s)"] * len(chunk))  # placeholders only
            cursor.execute(
                f"SELECT text, division_code, id FROM registries_address WHERE (text, division_code) IN ({pairs})",  # noqa: S608
                [value for pair in chunk for value in pair],
            )
            ids.update(((row[0], row[1]), row[2]) for row in cursor.fetchall())
        return ids

    def _insert_all(self, cursor: Any, rows: list[_Candidate]) -> bool:
        """Inserts every row with their addresses, or, if one of the keys is registered already, nothing."""
        rows = sorted(rows, key=lambda c: c.key)  # one lock order for every import: no deadlock between two
        try:
            with transaction.atomic(), connection.wrap_database_errors:
                addresses = self._address_ids(cursor, rows)
                if self.vendor == "postgresql":
                    with cursor.cursor.copy(_SQL[self.kind].copy) as copy:
                        copy.write(self._copy_text(rows, addresses))
                else:
                    cursor.executemany(_SQL[self.kind].insert_values, self._parameters(rows, addresses))
        except IntegrityError:
            return False
        return True

    def _insert(self, cursor: Any, new: list[_Candidate]) -> set[str]:
        """Inserts rows found absent; returns the keys it inserted. One of them may have been stored since: then the
        rows go in one by one through ON CONFLICT DO NOTHING, which skips (and waits for) those stored by others."""
        if self._insert_all(cursor, new):
            return {c.key for c in new}
        new = sorted(new, key=lambda c: c.key)
        addresses = self._address_ids(cursor, new)
        sql = _SQL[self.kind]
        if self.vendor == "postgresql":
            cursor.execute(sql.create_stage)
            with connection.wrap_database_errors, cursor.cursor.copy(sql.copy_stage) as copy:
                copy.write(self._copy_text(new, addresses))
            cursor.execute(sql.insert_from_stage)
            inserted = {row[0] for row in cursor.fetchall()}
            cursor.execute("DELETE FROM rc_import_stage")
            return inserted
        cursor.executemany(sql.insert_values_or_nothing, self._parameters(new, addresses))
        if cursor.rowcount == len(new):
            return {c.key for c in new}
        return {key for key, stored in self._existing(cursor, [c.key for c in new]).items() if stored[0]}

    def _copy_text(self, rows: list[_Candidate], addresses: Mapping[tuple[str, str], int]) -> str:
        constant = f"\t{_FIRST_STATUS[self.kind]}\t1\t{self.now.isoformat()}\t"
        no_address = "\\N"
        return "".join(
            f"{_staged(self.vendor, c)}{constant}{addresses.get((c.address, c.division_code), no_address)}\n"
            for c in rows
        )

    def _parameters(self, rows: list[_Candidate], addresses: Mapping[tuple[str, str], int]) -> list[tuple[Any, ...]]:
        now = connection.ops.adapt_datetimefield_value(self.now)
        status = _FIRST_STATUS[self.kind]
        return [(*_staged(self.vendor, c), status, 1, now, addresses.get((c.address, c.division_code))) for c in rows]


def _with_last(items: Iterable[_Batch]) -> Iterator[tuple[_Batch, bool]]:
    """Each batch with whether it is the last, looking one batch ahead."""
    iterator = iter(items)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following is None
        current = following


def _comparable(values: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(v.isoformat() if isinstance(v, dt.date) else ("" if v is None else str(v)) for v in values)
