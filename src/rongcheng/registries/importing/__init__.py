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

from django.db import OperationalError, connection

from rongcheng.audit.services import Actor
from rongcheng.registries.importing.common import COLUMNS as COLUMNS
from rongcheng.registries.importing.common import STRICT_ATTEMPTS, Progress, Source, _is_deadlock
from rongcheng.registries.importing.common import ImportFileRefused as ImportFileRefused
from rongcheng.registries.importing.common import ImportReport as ImportReport
from rongcheng.registries.importing.common import Kind as Kind
from rongcheng.registries.importing.common import RowError as RowError
from rongcheng.registries.importing.reading import _opened
from rongcheng.registries.importing.reading import _survey as _survey
from rongcheng.registries.importing.storing import _CONFLICT as _CONFLICT
from rongcheng.registries.importing.storing import _Store as _Store
from rongcheng.registries.importing.storing import _temporary_tables
from rongcheng.registries.importing.validating import _CANDIDATE as _CANDIDATE
from rongcheng.registries.importing.validating import _batches
from rongcheng.registries.importing.worker import _parallel_by_default, _worker_batches


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
