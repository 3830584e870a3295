"""Seeding the demo city: idempotent (a second run adds nothing) and resumable, chunk by chunk.

Each chunk of rows is written with its `SeedChunk` marker in one transaction, by COPY on PostgreSQL and by one
executemany on SQLite: seeding a million persons is bound by the database, not by the ORM.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor, audit_record
from rongcheng.demo import data
from rongcheng.demo.generator import entity_rows, person_rows, place_rows
from rongcheng.demo.models import SeedChunk
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.registries.protection import protect_id_number, protect_phone
from rongcheng.registries.services import ENTITY_TYPES

CHUNK = 10_000
DEFAULT_SEED = 2017
SYSTEM = Actor(kind="system", id="demo-seed", label="demo city generator")

Progress = Callable[[int], None]


@dataclass
class SeedReport:
    persons_added: int = 0
    entities_added: int = 0
    places_added: int = 0
    departments_added: int = 0
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # (username, password, role)


def _no_progress(_: int) -> None:
    return None


def demo_city_seed(
    *,
    persons: int = 2_000,
    entities: int = 300,
    seed: int = DEFAULT_SEED,
    progress: Progress = _no_progress,
    accounts_file: Path | None = None,
) -> SeedReport:
    report = SeedReport()
    report.departments_added = _seed_departments()
    report.places_added = _seed_places(seed)
    report.persons_added = _seed_chunks("persons", seed, persons, progress, _insert_persons)
    report.entities_added = _seed_chunks(
        "entities", seed, entities, progress, lambda s, start, n: _insert_entities(s, start, n)
    )
    report.accounts = _seed_accounts(accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt")
    return report


def _seed_departments() -> int:
    added = 0
    with transaction.atomic():
        for code, name, short in data.DEPARTMENTS:
            _, created = Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": short})
            added += created
    return added


def _seed_places(seed: int) -> int:
    if SeedChunk.objects.filter(kind="places", seed=seed).exists():
        return 0
    with transaction.atomic():
        city, _ = Division.objects.get_or_create(
            code="350100", defaults={"name": "福州市", "level": DivisionLevel.PREFECTURE}
        )
        by_code: dict[str, Division] = {"350100": city}
        for code, name, valid_from, valid_to, _successor in data.COUNTIES:
            by_code[code], _ = Division.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "level": DivisionLevel.COUNTY,
                    "parent": city,
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                },
            )
        for code, _name, _from, _to, successor in data.COUNTIES:
            if successor:
                Division.objects.filter(code=code).update(successor=by_code[successor])
        cells: list[GridCell] = []
        count = 0
        for row in place_rows(seed):
            if row.box is not None:
                x0, y0, x1, y1 = row.box
                ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
                cells.append(
                    GridCell(
                        code=row.code,
                        name=row.name,
                        community=by_code[row.parent_code or ""],
                        polygon={"type": "Polygon", "coordinates": [ring]},
                        min_lon=x0,
                        min_lat=y0,
                        max_lon=x1,
                        max_lat=y1,
                    )
                )
            else:
                by_code[row.code] = Division.objects.create(
                    code=row.code, name=row.name, level=row.level, parent=by_code[row.parent_code or ""]
                )
                count += 1
        GridCell.objects.bulk_create(cells, batch_size=1000)
        SeedChunk.objects.create(kind="places", seed=seed, index=0, size=count + len(cells))
        audit_record(action="demo.places.seed", actor=SYSTEM, detail={"divisions": count, "grid_cells": len(cells)})
    return count + len(cells)


def _seed_chunks(kind: str, seed: int, total: int, progress: Progress, insert: Callable[[int, int, int], int]) -> int:
    """Generate rows 0..total-1 in chunks, skipping what a previous run wrote and completing a partial chunk."""
    done = dict(SeedChunk.objects.filter(kind=kind, seed=seed).values_list("index", "size"))
    added = 0
    for index, start in enumerate(range(0, total, CHUNK)):
        size = min(CHUNK, total - start)
        have = done.get(index, 0)
        if have >= size:
            progress(size)
            continue
        try:
            with transaction.atomic():
                # The marker first: a concurrent seeder of the same chunk fails on the marker, not on the rows.
                if index in done:
                    claimed = SeedChunk.objects.filter(kind=kind, seed=seed, index=index, size=have).update(size=size)
                    if not claimed:
                        raise IntegrityError("chunk extended concurrently")
                else:
                    SeedChunk.objects.create(kind=kind, seed=seed, index=index, size=size)
                added += insert(seed, start + have, size - have)
                audit_record(action=f"demo.{kind}.seed", actor=SYSTEM, detail={"chunk": index, "rows": size - have})
        except IntegrityError:
            # Another seeder wrote this chunk (its rows are the same rows); anything else is a real error.
            if not SeedChunk.objects.filter(kind=kind, seed=seed, index=index, size__gte=size).exists():
                raise
        progress(size)
    return added


PERSON_COLUMNS = (
    "id_number_cipher", "id_number_index", "id_number_masked", "name", "sex", "birth_date", "ethnicity",
    "division_code", "phone_cipher", "phone_index", "phone_masked", "status", "version", "valid_from",
)  # fmt: skip
ENTITY_COLUMNS = (
    "credit_code", "name", "registration_department", "category", "entity_type", "division_code", "established_on",
    "status", "legal_representative_id", "registration_authority", "version", "valid_from",
)  # fmt: skip


def person_registry_rows(seed: int, start: int, count: int) -> Iterator[tuple[Any, ...]]:
    """Generated persons as registry rows: ID number and phone encrypted, indexed and masked."""
    now = timezone.now()
    for p in person_rows(seed, start, count):
        id_number = protect_id_number(p.id_number)
        phone = protect_phone(p.phone)
        yield (
            *id_number, p.name, p.sex, p.birth_date, p.ethnicity, p.division_code, *phone, "living", 1, now,
        )  # fmt: skip


def _insert_persons(seed: int, start: int, count: int) -> int:
    return bulk_insert("registries_person", PERSON_COLUMNS, person_registry_rows(seed, start, count))


def _insert_entities(seed: int, start: int, count: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM registries_person ORDER BY id LIMIT %s", [CHUNK])
        person_ids = [row[0] for row in cursor.fetchall()]
    now = timezone.now()
    rows = (
        (
            e.credit_code, e.name, e.registration_department, e.category,
            ENTITY_TYPES.get((e.registration_department, e.category), ""), e.division_code, e.established_on,
            "active", person_ids[e.representative_index] if person_ids else None, "福州市市场监督管理局", 1, now,
        )
        for e in entity_rows(seed, start, count, len(person_ids))
    )  # fmt: skip
    return bulk_insert("registries_legalentity", ENTITY_COLUMNS, rows)


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert rows as fast as the database takes them: COPY on PostgreSQL, one executemany elsewhere."""
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            count = 0
            for row in rows:
                buffer.write("\t".join(_copy_text(value) for value in row))
                buffer.write("\n")
                count += 1
            with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            return count
        materialized = [tuple(_sqlite_value(v) for v in row) for row in rows]
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({column_list}) VALUES ({placeholders})", materialized)  # noqa: S608 - table and columns are constants of this module
        return len(materialized)


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if isinstance(value, date) else value


DEMO_ACCOUNTS: tuple[tuple[str, str, str, str, bool], ...] = (
    # username, display name, department code, role, superuser
    ("admin", "系统管理员", "FZ-SZB", "system administrator (all permissions)", True),
    ("officer", "窗口工作人员", "FZ-FWZX", "service-hall officer", False),
    ("auditor", "审计管理员", "FZ-SZB", "audit administrator", False),
)


def _seed_accounts(accounts_file: Path) -> list[tuple[str, str, str]]:
    """Staff accounts with random passwords, kept (mode 0600) in the data directory and shown by `demo`."""
    known: dict[str, str] = {}
    if accounts_file.exists():
        for line in accounts_file.read_text(encoding="utf-8").splitlines():
            username, _, password = line.partition("\t")
            known[username] = password
    result: list[tuple[str, str, str]] = []
    changed = False
    for username, display, department_code, role, superuser in DEMO_ACCOUNTS:
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User(
                username=username,
                display_name=display,
                kind=AccountKind.STAFF,
                department=Department.objects.get(code=department_code),
                is_staff=True,
                is_superuser=superuser,
            )
            user.set_password(password)
            with transaction.atomic():
                user.save()
                audit_record(
                    action="accounts.user.create", actor=SYSTEM, target_type="accounts.user", target_id=str(user.pk)
                )
            known[username] = password
            changed = True
        result.append((username, known.get(username, "(set before; unchanged)"), role))
    if changed:
        accounts_file.touch(mode=0o600, exist_ok=True)
        accounts_file.write_text("".join(f"{u}\t{p}\n" for u, p in known.items()), encoding="utf-8")
    return result
