"""Storing an import's valid rows in batches: bulk insert in key order, conflicts told apart, the audit record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.context import current_address
from rongcheng.registries.importing.common import (
    COLUMNS,
    ERROR_LIMIT,
    STRICT_ATTEMPTS,
    ImportReport,
    Kind,
    Progress,
    RowError,
    _is_deadlock,
)
from rongcheng.registries.importing.reading import _Survey
from rongcheng.registries.importing.validating import _Batch, _Candidate, _duplicate, _staged

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
