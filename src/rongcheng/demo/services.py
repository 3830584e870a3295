"""Seeding the demo city: idempotent (a second run adds nothing) and resumable, chunk by chunk.

Each chunk of rows is written with its `SeedChunk` marker in one transaction, by COPY on PostgreSQL and by one
executemany on SQLite: seeding a million persons is bound by the database, not by the ORM.
"""

from __future__ import annotations

import functools
import multiprocessing
import secrets
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from rongcheng.accounts.models import Department, User
from rongcheng.audit.services import Actor, audit_record
from rongcheng.demo import data
from rongcheng.demo.card import EXTRA_DEPARTMENTS as CARD_DEPARTMENTS
from rongcheng.demo.card import demo_card_seed
from rongcheng.demo.cases import DEMO_ACCOUNTS as CASES_ACCOUNTS
from rongcheng.demo.cases import DISTRICT_UNITS as CASES_DISTRICT_UNITS
from rongcheng.demo.cases import UNITS as CASES_UNITS
from rongcheng.demo.cases import demo_cases_seed
from rongcheng.demo.catalogue import (
    demo_catalogue_accounts,
    demo_catalogue_accounts_shown,
    demo_catalogue_late_seed,
    demo_catalogue_seed,
)
from rongcheng.demo.credit import credit_seed
from rongcheng.demo.generator import address_for, address_rows, entity_rows, person_rows, place_rows
from rongcheng.demo.hall import EXTRA_DEPARTMENTS as HALL_DEPARTMENTS
from rongcheng.demo.hall import hall_seed
from rongcheng.demo.identity import demo_identity_seed
from rongcheng.demo.licences import EXTRA_DEPARTMENTS as LICENCE_DEPARTMENTS
from rongcheng.demo.licences import demo_licences_seed
from rongcheng.demo.models import SeedChunk
from rongcheng.demo.oidc import oidc_demo_seed
from rongcheng.demo.operations import demo_operations_seed
from rongcheng.demo.spatial import demo_spatial_seed
from rongcheng.demo.staff import demo_staff_seed
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.kernel.bulk import PreparedRows, bulk_insert_prepared, prepare_rows
from rongcheng.registries.models import Address, FieldEntitlement, LegalEntity, Person
from rongcheng.registries.services import ENTITY_TYPES, person_identifiers_protect

CHUNK = 10_000
DEFAULT_SEED = 2017
SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")

Progress = Callable[[int], None]


@dataclass
class SeedReport:
    persons_added: int = 0
    entities_added: int = 0
    places_added: int = 0
    departments_added: int = 0
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # (username, password, role)
    metrics_token: str = ""  # the bearer token of /metrics (demo.operations)


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
    pool = _seed_addresses(seed)
    report.persons_added = _seed_chunks(
        "persons", seed, persons, progress, functools.partial(prepare_persons, addresses=pool), "registries_person",
        PERSON_COLUMNS,
    )  # fmt: skip
    representatives = tuple(Person.objects.order_by("id").values_list("id", flat=True)[:CHUNK])
    report.entities_added = _seed_chunks(
        "entities", seed, entities, progress,
        functools.partial(prepare_entities, person_ids=representatives, addresses=pool),
        "registries_legalentity", ENTITY_COLUMNS,
    )  # fmt: skip
    _addresses_backfill(pool)
    report.accounts = _seed_accounts(accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt")
    oidc_demo_seed()
    demo_staff_seed(business_roles={name: spec[0] for name, spec in DEMO_ROLES.items()})
    demo_catalogue_accounts(accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt")
    report.accounts += demo_catalogue_accounts_shown(accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt")
    demo_identity_seed(accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt")
    demo_licences_seed()
    hall_seed()
    demo_spatial_seed()
    demo_card_seed()
    demo_catalogue_seed(accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt")
    demo_cases_seed(
        accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt", count=max(26, min(300, persons // 40))
    )
    report.metrics_token = demo_operations_seed(accounts_file or Path(settings.DATA_DIR) / "demo-accounts.txt")
    credit_seed()
    demo_catalogue_late_seed()
    return report


def _seed_departments() -> int:
    """The departments of the 2017 plan and those the hall's services and the licence types need (their officers'
    accounts are made next)."""
    added = 0
    with transaction.atomic():
        for code, name, short in (
            *data.DEPARTMENTS,
            *HALL_DEPARTMENTS,
            *LICENCE_DEPARTMENTS,
            *CARD_DEPARTMENTS,
            *CASES_UNITS,
            *CASES_DISTRICT_UNITS.values(),
        ):
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


def _seed_addresses(seed: int) -> dict[str, tuple[int, ...]]:
    """Standard addresses in every grid cell (once per seed); the ids of each county's addresses."""
    if not SeedChunk.objects.filter(kind="addresses", seed=seed).exists():
        with transaction.atomic():
            rows = [Address(text=r.text, division_code=r.division_code, longitude=r.longitude, latitude=r.latitude)
                    for r in address_rows(seed)]  # fmt: skip
            Address.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
            SeedChunk.objects.create(kind="addresses", seed=seed, index=0, size=len(rows))
            audit_record(action="demo.addresses.seed", actor=SYSTEM, detail={"addresses": len(rows)})
    texts = {(r.text, r.division_code) for r in address_rows(seed)}
    pool: dict[str, list[int]] = {}
    for pk, text, county in Address.objects.order_by("id").values_list("id", "text", "division_code"):
        if (text, county) in texts:
            pool.setdefault(county, []).append(pk)
    return {county: tuple(ids) for county, ids in pool.items()}


def _addresses_backfill(pool: dict[str, tuple[int, ...]]) -> int:
    """Persons and entities a seed of an older version left without an address get one in their county."""
    changed = 0
    for queryset in (Person.objects.all(), LegalEntity.objects.all()):
        while True:
            batch: list[Any] = list(queryset.filter(address__isnull=True).order_by("id")[:CHUNK])
            for row in batch:
                row.address_id = address_for(row.pk, row.division_code, pool)
            batch = [row for row in batch if row.address_id is not None]
            if not batch:
                break
            with transaction.atomic():
                queryset.model.objects.bulk_update(batch, ["address_id"], batch_size=1000)
            changed += len(batch)
    return changed


Prepare = Callable[[str, int, int, int], PreparedRows]


def _seed_chunks(
    kind: str, seed: int, total: int, progress: Progress, prepare: Prepare, table: str, columns: Sequence[str]
) -> int:
    """Generate rows 0..total-1 in chunks, skipping what a previous run wrote and completing a partial chunk.

    With more than one chunk to write, a worker process generates (and encrypts) the next chunk while the database
    takes this one: on two cores that nearly halves the time of a large seed.
    """
    done = dict(SeedChunk.objects.filter(kind=kind, seed=seed).values_list("index", "size"))
    todo = []
    for index, start in enumerate(range(0, total, CHUNK)):
        size = min(CHUNK, total - start)
        have = done.get(index, 0)
        if have >= size:
            progress(size)
        else:
            todo.append((index, start + have, size - have, size, index in done, have))
    if not todo:
        return 0
    vendor = connection.vendor
    added = 0
    pool = None
    if len(todo) > 1:
        connections.close_all()  # a forked worker must not share the parent's database sockets
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    try:
        pending = [
            pool.submit(prepare, vendor, seed, first, count) if pool else None for _, first, count, *_ in todo[:2]
        ]
        for position, (index, first, count, size, extend, have) in enumerate(todo):
            future = pending[position]
            prepared = future.result() if future else prepare(vendor, seed, first, count)
            if pool and position + 2 < len(todo):
                _, next_first, next_count, *_ = todo[position + 2]
                pending.append(pool.submit(prepare, vendor, seed, next_first, next_count))
            added += _write_chunk(kind, seed, index, size, extend, have, table, columns, prepared)
            progress(size)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return added


def _write_chunk(
    kind: str, seed: int, index: int, size: int, extend: bool, have: int, table: str, columns: Sequence[str],
    prepared: PreparedRows,
) -> int:  # fmt: skip
    try:
        with transaction.atomic():
            # The marker first: a concurrent seeder of the same chunk fails on the marker, not on the rows.
            if extend:
                claimed = SeedChunk.objects.filter(kind=kind, seed=seed, index=index, size=have).update(size=size)
                if not claimed:
                    raise IntegrityError("chunk extended concurrently")
            else:
                SeedChunk.objects.create(kind=kind, seed=seed, index=index, size=size)
            added = bulk_insert_prepared(table, columns, prepared)
            audit_record(action=f"demo.{kind}.seed", actor=SYSTEM, detail={"chunk": index, "rows": prepared.count})
    except IntegrityError:
        # Another seeder wrote this chunk (its rows are the same rows); anything else is a real error.
        if not SeedChunk.objects.filter(kind=kind, seed=seed, index=index, size__gte=size).exists():
            raise
        return 0
    return added


PERSON_COLUMNS = (
    "id_number_cipher", "id_number_index", "id_number_masked", "name", "sex", "birth_date", "ethnicity",
    "division_code", "phone_cipher", "phone_index", "phone_masked", "status", "version", "valid_from", "address_id",
)  # fmt: skip
ENTITY_COLUMNS = (
    "credit_code", "name", "registration_department", "category", "entity_type", "division_code", "established_on",
    "status", "legal_representative_id", "registration_authority", "version", "valid_from", "address_id",
)  # fmt: skip


def person_registry_rows(
    seed: int, start: int, count: int, addresses: dict[str, tuple[int, ...]] | None = None
) -> Iterator[tuple[Any, ...]]:
    """Generated persons as registry rows: ID number and phone encrypted, indexed and masked; each lives at one of
    its county's `addresses` (no address without them)."""
    now = timezone.now()
    pool = addresses or {}
    for index, p in enumerate(person_rows(seed, start, count), start=start):
        id_number, phone = person_identifiers_protect(id_number=p.id_number, phone=p.phone)
        yield (
            *id_number, p.name, p.sex, p.birth_date, p.ethnicity, p.division_code, *phone, "living", 1, now,
            address_for(index, p.division_code, pool),
        )  # fmt: skip


def prepare_persons(
    vendor: str, seed: int, start: int, count: int, *, addresses: dict[str, tuple[int, ...]] | None = None
) -> PreparedRows:
    return prepare_rows(vendor, person_registry_rows(seed, start, count, addresses))


def prepare_entities(
    vendor: str, seed: int, start: int, count: int, *, person_ids: tuple[int, ...] = (),
    addresses: dict[str, tuple[int, ...]] | None = None,
) -> PreparedRows:  # fmt: skip
    now = timezone.now()
    pool = addresses or {}
    rows = (
        (
            e.credit_code, e.name, e.registration_department, e.category,
            ENTITY_TYPES.get((e.registration_department, e.category), ""), e.division_code, e.established_on,
            "active", person_ids[e.representative_index] if person_ids else None, "福州市市场监督管理局", 1, now,
            address_for(index, e.division_code, pool),
        )
        for index, e in enumerate(entity_rows(seed, start, count, len(person_ids)), start=start)
    )  # fmt: skip
    return prepare_rows(vendor, rows)


DEMO_ACCOUNTS: tuple[tuple[str, str, str, str, str, bool, str], ...] = (
    # username, display name, kind, department code, role, superuser, what it shows
    ("sysadmin", "系统管理员", "staff", "FZ-SZB", "", False, "system administrator: staff accounts, departments"),
    ("secadmin", "安全管理员", "staff", "FZ-SZB", "", False, "security administrator: roles and role assignments"),
    (
        "officer",
        "窗口工作人员",
        "staff",
        "FZ-FWZX",
        "窗口工作人员",
        False,
        "service-hall officer: masked reads",
    ),
    ("police", "户籍民警", "staff", "FZ-GAJ", "户籍民警", False, "registry officer: clear reads for public security"),
    ("auditor", "审计管理员", "staff", "FZ-SZB", "审计管理员", False, "audit administrator: the audit trail"),
    ("credit", "信用办工作人员", "staff", "FZ-FGW", "", False, "credit office: red and black lists, credit repair"),
    # One officer who decides the applications of each department with services in the hall's catalogue (the
    # public-security services: `police`); demo.tests.test_stories takes every service to its conclusion with them.
    *(
        (
            username,
            display,
            "staff",
            code,
            "审批人员",
            False,
            f"{what} officer: accepts, reviews and decides {code}'s applications, issues its licences",
        )
        for username, display, code, what in (
            ("market", "市场监管审批人员", "FZ-GSJ", "market-regulation"),
            ("civil", "民政审批人员", "FZ-MZJ", "civil-affairs"),
            ("labour", "人社审批人员", "FZ-RSJ", "human-resources and social-security"),
            ("fund", "公积金审批人员", "FZ-GJJ", "housing-fund"),
            ("health", "卫健审批人员", "FZ-WJW", "health"),
            ("urban", "城管审批人员", "FZ-CGW", "urban-management"),
            ("tourism", "旅游审批人员", "FZ-LYJ", "tourism"),
        )
    ),
    ("finance", "市民卡清算员", "staff", "FZ-SMK", "", False, "city card finance: clearing and reconciliation"),
    # The accounts that act for a card merchant (demo.card makes them the merchants' owners): they see their
    # merchant's transactions and settlements on /card/merchant/.
    (
        "busop",
        "福州公交集团票务结算员",
        "company_representative",
        "",
        "",
        False,
        "city card bus operator (福州公交集团): its fares, taps and daily settlements",
    ),
    (
        "shop",
        "便利店店主",
        "company_representative",
        "",
        "",
        False,
        "city card shop merchant (榕城便利店): its sales and daily settlements",
    ),
    ("resident", "市民", "resident", "", "", False, "resident bound to the first demo person: who read my data"),
    (
        "company",
        "企业法定代表人",
        "company_representative",
        "",
        "",
        False,
        "company representative: applies for its company's food-business permit, business licence prefilled",
    ),
    *CASES_ACCOUNTS,
)

# role: (permissions, registry fields in clear, purpose of those fields)
DEMO_ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "窗口工作人员": (("view_person", "view_legalentity"), ("name",), "service_hall"),
    "户籍民警": (
        ("view_person", "view_legalentity", "add_person", "change_person"),
        ("id_number", "name", "birth_date", "phone", "address"),
        "public_security",
    ),
    "审计管理员": ((), (), ""),
    "审批人员": (("view_person", "view_legalentity"), ("name",), "service_hall"),
}


def _seed_roles() -> dict[str, Group]:
    roles: dict[str, Group] = {}
    for name, (permissions, fields, purpose) in DEMO_ROLES.items():
        group, created = Group.objects.get_or_create(name=name)
        roles[name] = group
        if not created:
            continue
        group.permissions.set(Permission.objects.filter(codename__in=permissions, content_type__app_label="registries"))
        for field_name in fields:
            FieldEntitlement.objects.create(
                registry="persons", field=field_name, purpose=purpose, role=group, granted_by="演示城市生成程序"
            )
    return roles


def _seed_accounts(accounts_file: Path) -> list[tuple[str, str, str]]:
    """Demo accounts with random passwords, kept (mode 0600) in the data directory and shown by `demo`."""
    known: dict[str, str] = {}
    if accounts_file.exists():
        for line in accounts_file.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue  # the note on TOTP secrets (demo.identity)
            username, _, columns = line.partition("\t")
            known[username] = columns.partition("\t")[0]
    roles = _seed_roles()
    first_person = Person.objects.order_by("id").first()
    result: list[tuple[str, str, str]] = []
    changed = False
    for username, display, kind, department_code, role, superuser, description in DEMO_ACCOUNTS:
        if User.objects.filter(username=username).exists():
            result.append((username, known.get(username, "(set before; unchanged)"), description))
            continue
        if kind in ("resident", "company_representative") and first_person is None:
            continue
        password = secrets.token_urlsafe(12)
        user = User(
            username=username,
            display_name=display,
            kind=kind,
            department=Department.objects.get(code=department_code) if department_code else None,
            is_staff=kind == "staff",
            is_superuser=superuser,
            id_number_index=first_person.id_number_index if kind == "resident" and first_person else "",
        )
        user.set_password(password)
        with transaction.atomic():
            user.save()
            if role:
                user.groups.add(roles[role])
            audit_record(
                action="accounts.user.create", actor=SYSTEM, target_type="accounts.user", target_id=str(user.pk)
            )
        known[username] = password
        changed = True
        result.append((username, password, description))
    if changed:
        accounts_file.touch(mode=0o600, exist_ok=True)
        accounts_file.write_text("".join(f"{u}\t{p}\n" for u, p in known.items()), encoding="utf-8")
    return result
