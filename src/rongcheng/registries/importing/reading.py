"""Reading an import file (CSV or .xlsx) as a stream: the first pass that refuses a whole file, then its rows."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

from cryptography.hazmat.primitives import hashes

from rongcheng.registries.importing.common import (
    _READ_CHUNK,
    COLUMNS,
    HEADERS,
    MAX_LINE_BYTES,
    ImportFileRefused,
    Kind,
    Source,
)


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
