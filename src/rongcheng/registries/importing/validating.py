"""Validating an import's rows with the registry's own rules, in batches, duplicates within the file found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final, NamedTuple

from django.utils import timezone

from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import credit_code_validate
from rongcheng.registries.errors import RegistryInputInvalid
from rongcheng.registries.importing.common import _IDENTIFIER_FIELDS, BATCH_ROWS, COLUMNS, Kind, RowError
from rongcheng.registries.importing.reading import _blank, _records, _Survey
from rongcheng.registries.protection import Protected, index_of, protect_id_number, protect_phone
from rongcheng.registries.services import ENTITY_TYPES, PersonInput, person_input_validate


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
