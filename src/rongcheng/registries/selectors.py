"""Read use-cases of the base registries: every read states a purpose, is masked by entitlement and is audited.

A refused read raises after writing a "denied" audit record outside any transaction that could roll it back.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.selectors import target_condition
from rongcheng.audit.services import (
    Actor,
    PageAlongside,
    PageGate,
    actor_from_user,
    audit_record,
    audit_record_many,
    audit_record_page,
    read_record_transaction,
    read_records_write,
)
from rongcheng.kernel.context import current_address, current_purpose
from rongcheng.kernel.errors import NotAuthenticated, ValidationFailed
from rongcheng.kernel.identifiers import credit_code_validate, id_number_validate
from rongcheng.kernel.masking import mask_name
from rongcheng.kernel.pagination import Page, paginate
from rongcheng.kernel.prepared import PreparedLookup
from rongcheng.registries.errors import LegalEntityNotFound, PersonNotFound, RegistryReadDenied
from rongcheng.registries.models import LegalEntity, Person, RecordVersion
from rongcheng.registries.permissions import (
    PERSON_PROTECTED_FIELDS,
    Reader,
    clear_fields,
    may_read,
    purposes_allowed,
)
from rongcheng.registries.protection import index_of, reveal
from rongcheng.registries.purposes import SELF_SERVICE, purpose_check
from rongcheng.registries.services import entity_snapshot, version_snapshot


@dataclass(frozen=True)
class VersionInfo:
    version: int
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    replaced_by: str
    reason: str
    changed_by: str


@dataclass(frozen=True)
class PersonView:
    """A person as one reader may see it: protected fields masked unless listed in `clear`."""

    record_id: int
    id_number: str
    name: str
    sex: str
    birth_date: str
    ethnicity: str
    division_code: str
    address: str
    phone: str
    status: str
    closed_on: str | None
    version: int
    clear: tuple[str, ...]


def _mask_value(field: str, value: str) -> str:
    if not value:
        return value
    if field == "name":
        return mask_name(value)
    if field == "birth_date":
        return value[:4] + "-**-**"
    if field == "address":
        return "*" * min(len(value), 8)
    return value


def _person_view(person: Person, clear: frozenset[str]) -> PersonView:
    """Masked reads use the stored masked forms: nothing is decrypted that the reader may not see."""
    address = person.address.text if person.address else ""
    birth_date = person.birth_date.isoformat()
    return PersonView(
        record_id=person.pk,
        id_number=reveal("person.id_number", person.id_number_cipher)
        if "id_number" in clear
        else person.id_number_masked,
        phone=reveal("person.phone", person.phone_cipher) if "phone" in clear else person.phone_masked,
        name=person.name if "name" in clear else _mask_value("name", person.name),
        birth_date=birth_date if "birth_date" in clear else _mask_value("birth_date", birth_date),
        address=address if "address" in clear else _mask_value("address", address),
        sex=person.sex,
        ethnicity=person.ethnicity,
        division_code=person.division_code,
        status=person.status,
        closed_on=person.closed_on.isoformat() if person.closed_on else None,
        version=person.version,
        clear=tuple(sorted(clear & set(PERSON_PROTECTED_FIELDS))),
    )


def _snapshot_view(record_id: int, version: int, snapshot: dict[str, Any], clear: frozenset[str]) -> PersonView:
    from rongcheng.kernel.masking import mask_id_number, mask_phone

    masked = {
        "id_number": mask_id_number(snapshot["id_number"]),
        "phone": mask_phone(snapshot["phone"]) if snapshot["phone"] else "",
    }
    values = {
        field: snapshot[field] if field in clear else masked.get(field, _mask_value(field, snapshot[field]))
        for field in PERSON_PROTECTED_FIELDS
    }
    return PersonView(
        record_id=record_id, sex=snapshot["sex"], ethnicity=snapshot["ethnicity"],
        division_code=snapshot["division_code"], status=snapshot["status"], closed_on=snapshot["closed_on"],
        version=version, clear=tuple(sorted(clear & set(PERSON_PROTECTED_FIELDS))), **values,
    )  # fmt: skip


def _admit(reader: Reader, registry: str, purpose: str | None, action: str) -> tuple[str, frozenset[str]]:
    """`purpose`: the one a caller states for its own reads (another app's service); None takes the purpose the
    request states (`kernel.context.purpose_stated`, set by the pages and the API from what the reader chose)."""
    checked = purpose_check(purpose if purpose is not None else current_purpose())
    if not reader.authenticated:
        raise NotAuthenticated("Sign in, or call with an API client's token.")
    if not may_read(reader, registry):
        target_type = "registries.person" if registry == "persons" else "registries.entity"
        audit_record(
            action=action, actor=reader.actor, outcome="denied", purpose=checked,
            source_address=reader.address, target_type=target_type,
        )  # fmt: skip
        raise RegistryReadDenied(f"This account may not read the {registry} registry.")
    allowed = purposes_allowed(reader, registry)
    if checked == SELF_SERVICE:
        # Only a signed-in person reading their own record (checked against it by _subject_check) reads for it.
        own = registry == "persons" and action != "registries.person.search" and not reader.is_api_client
        if not own or not reader.id_number_index:
            _refuse_purpose(reader, registry, checked, action, "self_service is the subject's own")
    elif allowed is not None and checked not in allowed:
        _refuse_purpose(reader, registry, checked, action, "purpose not granted to the reader's roles or client")
    return checked, clear_fields(reader, registry, checked)


def _refuse_purpose(reader: Reader, registry: str, purpose: str, action: str, why: str, target_id: Any = "") -> None:
    target_type = "registries.person" if registry == "persons" else "registries.entity"
    audit_record(
        action=action, actor=reader.actor, outcome="denied", purpose=purpose, source_address=reader.address,
        target_type=target_type, target_id=target_id, detail={"why": why},
    )  # fmt: skip
    raise RegistryReadDenied(f"This account may not read the {registry} registry for the purpose {purpose}.")


def _subject_check(reader: Reader, person: Person, purpose: str, action: str) -> None:
    """A self-service read is of the reader's own record (the account bound to it by the ID number's blind index)."""
    if purpose == SELF_SERVICE and reader.id_number_index != person.id_number_index:
        _refuse_purpose(reader, "persons", purpose, action, "self_service is the subject's own", person.pk)


def _audit_person_read(reader: Reader, person_id: int, purpose: str, clear: frozenset[str], how: str) -> None:
    _audit_persons_read(reader, [person_id], purpose, clear, how)


def _audit_persons_read(reader: Reader, person_ids: list[int], purpose: str, clear: frozenset[str], how: str) -> None:
    """One record per person read, committed in a transaction of their own before the answer (ADR 0011)."""
    read_records_write(
        action="registries.person.read", actor=reader.actor, target_type="registries.person", target_ids=person_ids,
        purpose=purpose, source_address=reader.address,
        detail={"clear": sorted(clear & set(PERSON_PROTECTED_FIELDS)), "via": how},
    )  # fmt: skip


# The lookup of every request by ID number, compiled once per connection: `.first()`'s query, without its compilation.
_person_by_index: PreparedLookup[Person] = PreparedLookup(
    lambda index: Person.objects.select_related("address").filter(id_number_index=index).order_by("pk")[:1]
)


def person_read_by_id_number(*, reader: Reader, id_number: str, purpose: str | None = None) -> PersonView:
    valid = id_number_validate(id_number)
    checked, clear = _admit(reader, "persons", purpose, "registries.person.read")
    person = _person_by_index(index_of("person.id_number", valid.value))
    if person is None:
        raise PersonNotFound("No person is registered with this ID number.")
    _subject_check(reader, person, checked, "registries.person.read")
    _audit_person_read(reader, person.pk, checked, clear, "id_number")
    return _person_view(person, clear)


def person_read(*, reader: Reader, person_id: int, purpose: str | None = None) -> PersonView:
    checked, clear = _admit(reader, "persons", purpose, "registries.person.read")
    person = Person.objects.select_related("address").filter(pk=person_id).first()
    if person is None:
        raise PersonNotFound(f"No person has the record number {person_id}.")
    _subject_check(reader, person, checked, "registries.person.read")
    _audit_person_read(reader, person.pk, checked, clear, "record")
    return _person_view(person, clear)


def person_search(
    *,
    reader: Reader,
    name: str = "",
    division_code: str = "",
    cursor: str | None,
    limit: int,
    purpose: str | None = None,
) -> Page[PersonView]:
    if not name and not division_code:
        raise ValidationFailed(
            "Search by name, by division or both.",
            errors=[{"loc": ["query", "name"], "rule": "search.criteria", "msg": "give a name or a division"}],
        )
    checked, clear = _admit(reader, "persons", purpose, "registries.person.search")
    qs: QuerySet[Person] = Person.objects.select_related("address")
    if name:
        qs = qs.filter(name=name)
    if division_code:
        qs = qs.filter(division_code=division_code)
    page = paginate(qs, cursor=cursor, limit=limit, key="id")
    _audit_persons_read(reader, [person.pk for person in page.items], checked, clear, "search")  # one for the page
    return Page(items=[_person_view(p, clear) for p in page.items], next_cursor=page.next_cursor)


def person_history(
    *, reader: Reader, person_id: int, purpose: str | None = None
) -> list[tuple[VersionInfo, PersonView]]:
    """Every version of a person's record, oldest first, the current one last."""
    checked, clear = _admit(reader, "persons", purpose, "registries.person.history")
    person = Person.objects.select_related("address").filter(pk=person_id).first()
    if person is None:
        raise PersonNotFound(f"No person has the record number {person_id}.")
    _subject_check(reader, person, checked, "registries.person.history")
    _audit_person_read(reader, person_id, checked, clear, "history")
    history = [
        (
            VersionInfo(v.version, v.valid_from, v.valid_to, v.change, v.reason, v.actor_label),
            _snapshot_view(person_id, v.version, version_snapshot(v), clear),
        )
        for v in RecordVersion.objects.filter(registry="persons", record_id=person_id).order_by("version")
    ]
    history.append((VersionInfo(person.version, person.valid_from, None, "", "", ""), _person_view(person, clear)))
    return history


def person_as_of(*, reader: Reader, person_id: int, at: dt.datetime, purpose: str | None = None) -> PersonView:
    checked, clear = _admit(reader, "persons", purpose, "registries.person.read")
    person = Person.objects.select_related("address").filter(pk=person_id).first()
    if person is None:
        raise PersonNotFound(f"No person has the record number {person_id}.")
    _subject_check(reader, person, checked, "registries.person.read")
    if person.valid_from <= at:
        view = _person_view(person, clear)
    else:
        version = RecordVersion.objects.filter(
            registry="persons", record_id=person_id, valid_from__lte=at, valid_to__gt=at
        ).first()
        if version is None:
            raise PersonNotFound(f"Record {person_id} did not exist at {at.isoformat()}.")
        view = _snapshot_view(person_id, version.version, version_snapshot(version), clear)
    _audit_person_read(reader, person_id, checked, clear, "as_of")
    return view


def legal_entity_read_by_credit_code(*, reader: Reader, credit_code: str, purpose: str | None = None) -> LegalEntity:
    valid = credit_code_validate(credit_code)
    checked, _ = _admit(reader, "entities", purpose, "registries.entity.read")
    entity = (
        LegalEntity.objects.select_related("address", "legal_representative").filter(credit_code=valid.value).first()
    )
    if entity is None:
        raise LegalEntityNotFound(f"No legal entity is registered with the code {valid.value}.")
    audit_record(
        action="registries.entity.read", actor=reader.actor, target_type="registries.entity", target_id=entity.pk,
        purpose=checked, source_address=reader.address,
    )  # fmt: skip
    return entity


def legal_entity_as_of(
    *, reader: Reader, entity_id: int, at: dt.datetime, purpose: str | None = None
) -> dict[str, Any]:
    checked, _ = _admit(reader, "entities", purpose, "registries.entity.read")
    entity = LegalEntity.objects.select_related("address").filter(pk=entity_id).first()
    if entity is None:
        raise LegalEntityNotFound(f"No legal entity has the record number {entity_id}.")
    if entity.valid_from <= at:
        snapshot = entity_snapshot(entity)
    else:
        version = RecordVersion.objects.filter(
            registry="entities", record_id=entity_id, valid_from__lte=at, valid_to__gt=at
        ).first()
        if version is None:
            raise LegalEntityNotFound(f"Legal entity {entity_id} did not exist at {at.isoformat()}.")
        snapshot = version_snapshot(version)
    audit_record(
        action="registries.entity.read", actor=reader.actor, target_type="registries.entity", target_id=entity_id,
        purpose=checked, source_address=reader.address, detail={"as_of": at.isoformat()},
    )  # fmt: skip
    return snapshot


@dataclass(frozen=True)
class RepresentativeView:
    """The legal representative as an entity's reader sees it: always masked, the person's registry has its own
    entitlements."""

    record_id: int
    name: str
    id_number: str
    status: str


@dataclass(frozen=True)
class EntityVersionView:
    info: VersionInfo
    name: str
    address: str
    registration_authority: str
    established_on: str
    status: str
    closed_on: str | None


@dataclass(frozen=True)
class EntityView:
    """A legal entity for the staff pages: its public registration data in clear, the representative masked."""

    record_id: int
    credit_code: str
    name: str
    entity_type: str
    division_code: str
    address: str
    registration_authority: str
    established_on: dt.date
    status: str
    closed_on: dt.date | None
    version: int
    representative: RepresentativeView | None
    history: tuple[EntityVersionView, ...]


def _entity_version_view(info: VersionInfo, snapshot: dict[str, Any]) -> EntityVersionView:
    return EntityVersionView(
        info=info, name=snapshot["name"], address=snapshot["address"],
        registration_authority=snapshot["registration_authority"], established_on=snapshot["established_on"],
        status=snapshot["status"], closed_on=snapshot["closed_on"],
    )  # fmt: skip


def legal_entity_read(*, reader: Reader, entity_id: int, purpose: str | None = None) -> EntityView:
    """The staff view of an entity with its history, oldest version first and the current one last.

    Showing the representative (masked) is a read of that person's record, audited as such: it appears in the
    person's "who read my data".
    """
    checked, _ = _admit(reader, "entities", purpose, "registries.entity.read")
    entity = LegalEntity.objects.select_related("address", "legal_representative").filter(pk=entity_id).first()
    if entity is None:
        raise LegalEntityNotFound(f"No legal entity has the record number {entity_id}.")
    versions = RecordVersion.objects.filter(registry="entities", record_id=entity_id).order_by("version")
    history = [
        _entity_version_view(
            VersionInfo(v.version, v.valid_from, v.valid_to, v.change, v.reason, v.actor_label), version_snapshot(v)
        )
        for v in versions
    ]
    history.append(
        _entity_version_view(VersionInfo(entity.version, entity.valid_from, None, "", "", ""), entity_snapshot(entity))
    )
    audit_record(
        action="registries.entity.read", actor=reader.actor, target_type="registries.entity", target_id=entity.pk,
        purpose=checked, source_address=reader.address, detail={"via": "record"},
    )  # fmt: skip
    person = entity.legal_representative
    representative = None
    if person is not None:
        _audit_person_read(reader, person.pk, checked, frozenset(), "legal_representative")
        representative = RepresentativeView(person.pk, mask_name(person.name), person.id_number_masked, person.status)
    return EntityView(
        record_id=entity.pk, credit_code=entity.credit_code, name=entity.name, entity_type=entity.entity_type,
        division_code=entity.division_code, address=entity.address.text if entity.address else "",
        registration_authority=entity.registration_authority, established_on=entity.established_on,
        status=entity.status, closed_on=entity.closed_on, version=entity.version, representative=representative,
        history=tuple(history),
    )  # fmt: skip


@dataclass(frozen=True)
class PersonReadEntry:
    """One read of a resident's record, as the resident is shown it."""

    audit_id: int
    occurred_at: dt.datetime
    actor_kind: str
    actor_label: str
    department: str  # the reading officer's department, or the department a system read for (the exchange)
    client_name: str  # the department system's name, for API clients
    by_self: bool
    purpose: str
    fields: tuple[str, ...]  # the fields the reader saw in clear
    via: str


PERSON_READ_ACTION = "registries.person.read"
READS_MAX_LIMIT = 200


def person_for_resident(*, user: User) -> Person:
    """The person an account is bound to (by the blind index of the ID number checked at real-name registration)."""
    index = getattr(user, "id_number_index", "") if user is not None and user.is_authenticated else ""
    # With the address in the same statement: the hall's prefill shows it (no second query for the one row).
    person = Person.objects.select_related("address").filter(id_number_index=index).first() if index else None
    if person is None:
        raise PersonNotFound("This account is not bound to a person of the population registry.")
    return person


def person_id_number_for_licence(person: Person) -> str:
    """The clear ID number of a living person, to be written on the face of a licence issued to that person.

    The only decryption of an ID number for another app: the number goes to its own holder, on a document whose
    issuing is itself an audit record (`licences.licence.issue`) naming the holder, so no separate read record is
    written. Readers who see a person's number (officers, department systems) go through `person_read*`, audited.
    """
    return reveal("person.id_number", person.id_number_cipher)


def person_reads_for_resident(*, user: User, before: int | None = None, limit: int = 50) -> list[PersonReadEntry]:
    """Who read the resident's own record, newest first; `before` is the `audit_id` the previous page ended at.

    Looking at this list is recorded under its own action, never as a read of the record, so it does not show up in
    the list itself.
    """
    if limit < 1 or limit > READS_MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {READS_MAX_LIMIT}.",
            errors=[{"loc": ["query", "limit"], "rule": "limit.range", "msg": f"1..{READS_MAX_LIMIT}"}],
        )
    person = person_for_resident(user=user)
    # The records naming the person, and those of pages read through the exchange that list the person among theirs
    # (one record a page on PostgreSQL: audit_record_page); one keyset over both, newest first.
    qs = (
        AuditRecord.objects.filter(target_type="registries.person", action=PERSON_READ_ACTION, outcome="success")
        .filter(target_condition(person.pk))
        .order_by("-id")
    )
    if before is not None:
        qs = qs.filter(id__lt=before)
    records = list(qs[:limit])
    account_ids = {int(r.actor_id) for r in records if r.actor_kind in ("user", "api_client") and r.actor_id.isdigit()}
    accounts = {a.pk: a for a in User.objects.filter(pk__in=account_ids).select_related("department")}
    entries = []
    for record in records:
        account = accounts.get(int(record.actor_id)) if record.actor_id.isdigit() else None
        by_self = record.actor_kind == "user" and record.actor_id == str(user.pk)
        department = str(account.department) if account is not None and account.department is not None else ""
        detail = record.detail if isinstance(record.detail, dict) else {}
        department = str(detail.get("department") or department)
        client_name = ""
        if record.actor_kind == "api_client":
            client_name = (account.display_name or account.username) if account is not None else record.actor_label
        entries.append(
            PersonReadEntry(
                audit_id=record.pk, occurred_at=record.occurred_at, actor_kind=record.actor_kind,
                actor_label=record.actor_label, department=department if record.actor_kind != "system" else "",
                client_name=client_name, by_self=by_self, purpose=record.purpose,
                fields=tuple(str(f) for f in detail.get("clear", [])), via=str(detail.get("via", "")),
            )
        )  # fmt: skip
    audit_record(
        action="registries.person.reads_list", actor=actor_from_user(user), target_type="registries.person",
        target_id=person.pk, purpose="self_service",
        detail={"page": "next" if before else "first", "shown": len(entries)},
    )  # fmt: skip
    return entries


EXCHANGE_FIELDS = ("id_number", "name", "sex", "birth_date", "ethnicity", "division_code", "address", "phone", "status")
EXCHANGE_MAX_LIMIT = 1000
# field: (columns when masked, columns when in clear)
_EXCHANGE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "id_number": (("id_number_masked",), ("id_number_cipher",)),
    "phone": (("phone_masked",), ("phone_cipher",)),
    "name": (("name",), ("name",)),
    "birth_date": (("birth_date",), ("birth_date",)),
    "address": (("address__text",), ("address__text",)),
    **{name: ((name,), (name,)) for name in ("sex", "ethnicity", "division_code", "status")},
}


def _exchange_column(name: str, column: dict[str, int], clear: bool) -> int | None:
    """The position of the column one field of a person is read from as stored (a masked field's stored masked
    form, a field in clear that is neither ciphered nor formatted); None when Python masks, decrypts or formats it."""
    if name in ("id_number", "phone"):
        return None if clear else column[f"{name}_masked"]
    if name in ("address", "birth_date") or (name == "name" and not clear):
        return None
    return column[_EXCHANGE_COLUMNS[name][clear][0]]


def _exchange_reader(name: str, column: dict[str, int], clear: bool) -> Callable[[Sequence[Any]], Any]:
    """How one field of a person is read from a row of the page's columns (`column`: each column's position), as
    `_person_view` shows it (the same masking); chosen once a page, not once a value."""
    stored = _exchange_column(name, column, clear)
    if stored is not None:
        return itemgetter(stored)
    if name in ("id_number", "phone"):
        cipher, kind = column[f"{name}_cipher"], f"person.{name}"
        return lambda row: reveal(kind, row[cipher])
    at = column[_EXCHANGE_COLUMNS[name][clear][0]]
    if name == "address":
        return (lambda row: row[at] or "") if clear else (lambda row: _mask_value("address", row[at] or ""))
    if name == "birth_date":
        if clear:
            return lambda row: row[at].isoformat()
        return lambda row: _mask_value("birth_date", row[at].isoformat())
    if name == "name" and not clear:
        return lambda row: _mask_value("name", row[at])
    return itemgetter(at)


@functools.lru_cache(maxsize=64)
def _exchange_page_sql(columns: tuple[str, ...]) -> tuple[str, tuple[Any, ...], tuple[str, ...]]:
    """The exchange's page of persons for these columns as the ORM's values query compiles it (ordered by the primary
    key), compiled once, not at every page: its SQL with the page's LIMIT and OFFSET as its last two placeholders, its
    own parameters, and the names of the columns it selects, in order."""
    query = Person.objects.order_by("pk").values_list(*columns).query
    sql, params = query.sql_with_params()
    return f"{sql} LIMIT %s OFFSET %s", tuple(params), tuple(query.values_select)


@functools.lru_cache(maxsize=64)
def _rows_as_dicts(fields: tuple[str, ...], columns: tuple[int, ...]) -> Callable[[Sequence[Sequence[Any]]], Any]:
    """Rows of values made dicts of `fields`, field n taken from column `columns[n]`: a list comprehension of dict
    displays (`{'name': row[2], ...}`), compiled once for these fields. A display builds each dict in place; by
    C-level maps (`dict(zip(fields, getter(row)))`) a page of 1,000 rows of four fields took 0.30-0.36 ms, by the
    display 0.12-0.19 ms (2026-12-07). What is compiled is the registry's own field names (EXCHANGE_FIELDS, checked
    here) and column positions (integers): nothing a caller wrote."""
    if not set(fields) <= set(EXCHANGE_FIELDS) or not all(type(at) is int and at >= 0 for at in columns):
        raise ValueError("fields of the population registry and column positions")
    display = ", ".join(f"{name!r}: row[{at}]" for name, at in zip(fields, columns, strict=True))
    # Known names and integers only (checked above), evaluated with no builtins.
    return eval(f"lambda rows: [{{{display}}} for row in rows]", {"__builtins__": {}})  # type: ignore[no-any-return]  # noqa: S307


def persons_read_for_sharing(
    *,
    actor: Actor,
    department: str,
    grant: str,
    purpose: str,
    fields: list[str],
    clear: frozenset[str],
    offset: int,
    limit: int,
    alongside: PageAlongside | None = None,
    gate: PageGate | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of person records for a department system reading through a sharing grant (the catalogue's exchange
    checked the grant: which fields, which in clear, its expiry). Protected fields are masked unless in `clear`;
    every person read is recorded with the stated purpose, the consuming department and the grant, so it shows in
    that person's "who read my data": on PostgreSQL one record for the page listing the persons read (sealed with
    it; found for each person by the span of its list, a GiST index, and the list itself: ADR 0004 amended
    2026-12-07), elsewhere one record per person.
    Returns the rows (only `fields`) and whether more follow; the reader's address comes from the request context.
    `alongside`: the caller's own rows recording this read (the exchange's use and audit record), written with the
    page's record: by the same statement on PostgreSQL (`audit_record_page`), else after the records.
    `gate` (PostgreSQL): the caller's condition for this read, checked by that same statement, which is then its own
    transaction when called outside one; when it does not hold nothing is read nor written (`PageGateClosed`)."""
    unknown = [name for name in fields if name not in EXCHANGE_FIELDS]
    if unknown or not 1 <= limit <= EXCHANGE_MAX_LIMIT or not 0 <= offset <= 2**31 - 1:
        raise ValidationFailed(
            "Fields of the population registry, a limit of 1..1000 and an offset of 0 or more.",
            errors=[{"loc": ["query", "fields"], "rule": "fields.known", "msg": ", ".join(unknown) or "range"}],
        )
    # Values, not model instances: only the columns the fields need (a masked field its stored masked form, a
    # field in clear its cipher, decrypted here and nowhere else), one query for the page.
    shown = clear & set(fields) & set(PERSON_PROTECTED_FIELDS)
    columns = ["pk"]
    for name in fields:
        columns.extend(_EXCHANGE_COLUMNS[name][name in shown])
    names = tuple(dict.fromkeys(columns))
    record: dict[str, Any] = {
        "action": PERSON_READ_ACTION, "actor": actor, "target_type": "registries.person", "purpose": purpose[:500],
        "source_address": current_address(),
        "detail": {"clear": sorted(shown), "via": "exchange", "department": department[:100], "grant": grant[:40],
                   "fields": list(fields)},
    }  # fmt: skip
    persons: Sequence[Sequence[Any]]
    if connection.vendor == "postgresql" and (connection.in_atomic_block or gate is not None):
        # The exchange calls this inside the transaction of its own read records (read_record_transaction): on
        # PostgreSQL the page and its read record are one statement (audit_record_page), the record listing exactly
        # the persons read, by their ids, without a round trip of its own.
        sql, params, selected = _exchange_page_sql(names)
        persons = audit_record_page(page_sql=sql, page_params=[*params, limit + 1, offset], width=len(selected),
                                    limit=limit, alongside=alongside.sql if alongside else (), gate=gate,
                                    **record)  # fmt: skip
        more = len(persons) > limit
        persons = persons[:limit]
    else:
        page = Person.objects.order_by("pk").values_list(*names)[offset : offset + limit + 1]
        selected = tuple(page.query.values_select)
        persons = list(page)
        more = len(persons) > limit
        persons = persons[:limit]
        # Inside a caller's transaction the page's records join it, without a savepoint of their own; called
        # outside any transaction, they get a transaction of their own.
        with nullcontext() if connection.in_atomic_block else read_record_transaction():
            audit_record_many(target_ids=[person[0] for person in persons], **record)
            if alongside is not None:
                alongside.write(len(persons))
    # Rows of values, the columns in the order asked (the primary key first); each field read by a reader chosen once.
    column = {name: n for n, name in enumerate(selected)}
    stored = [_exchange_column(name, column, name in shown) for name in fields]
    plain = [at for at in stored if at is not None]
    if len(plain) == len(fields):
        # Every field is a column as stored (a masked field's stored masked form, a field in clear that is not
        # ciphered): each row's dict built by one display of its values, compiled once for these fields.
        return _rows_as_dicts(tuple(fields), tuple(plain))(persons), more
    readers = [_exchange_reader(name, column, name in shown) for name in fields]
    rows = [dict(zip(fields, [read(person) for read in readers], strict=True)) for person in persons]
    return rows, more
