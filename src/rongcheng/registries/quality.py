"""Data-quality checks of the base registries (数据质量检查): the same person under two records, legal entities whose
representative is not a living person, addresses whose point lies outside their division.

Each check is one aggregate query or one streamed pass, so a run stays flat in memory at city scale. A run is audited,
and so is each person it lists: the masked identifiers shown to staff are a read of those records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor, audit_record
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.kernel.context import current_address
from rongcheng.kernel.masking import mask_name
from rongcheng.registries.models import Address, EntityStatus, LegalEntity, Person, PersonStatus

QUALITY_ACTION = "registries.quality.check"
QUALITY_PURPOSE = "data_quality"
LISTED_MAX = 1000  # items listed per kind; the counts are always complete
_MEMBER_BATCH = 100  # duplicate groups per member query: keeps the OR of conditions far below SQLite's depth limit
_AUDITED_IDS = 50  # record ids per kind kept in the run's audit record, for the "latest report" page


@dataclass(frozen=True)
class DuplicateGroup:
    """Living records sharing name, birth date, sex and division: likely one person registered twice."""

    name: str  # masked
    sex: str
    division_code: str
    record_ids: tuple[int, ...]
    id_numbers: tuple[str, ...]  # masked, in the order of record_ids


@dataclass(frozen=True)
class RepresentativeIssue:
    entity_id: int
    credit_code: str
    entity_name: str
    person_id: int
    person_status: str


@dataclass(frozen=True)
class AddressIssue:
    address_id: int
    division_code: str
    longitude: float
    latitude: float


@dataclass(frozen=True)
class Box:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, longitude: float, latitude: float) -> bool:
        return self.min_lon <= longitude <= self.max_lon and self.min_lat <= latitude <= self.max_lat


@dataclass(frozen=True)
class QualityReport:
    checked_at: dt.datetime
    duplicate_count: int  # groups
    duplicates: tuple[DuplicateGroup, ...]
    representative_count: int
    representatives: tuple[RepresentativeIssue, ...]
    address_outside_count: int
    addresses_outside: tuple[AddressIssue, ...]
    addresses_checked: int
    addresses_without_point: int  # skipped: no coordinates
    addresses_without_geometry: int  # skipped: their division has no grid cells to compare with

    @property
    def issue_count(self) -> int:
        return self.duplicate_count + self.representative_count + self.address_outside_count

    def summary(self) -> dict[str, int]:
        return {
            "duplicates": self.duplicate_count,
            "representatives": self.representative_count,
            "addresses_outside": self.address_outside_count,
            "addresses_checked": self.addresses_checked,
            "addresses_without_point": self.addresses_without_point,
            "addresses_without_geometry": self.addresses_without_geometry,
        }


@dataclass(frozen=True)
class QualityRun:
    """The latest run as the audit trail keeps it: when, by whom, the counts and the first record ids of each kind."""

    occurred_at: dt.datetime
    actor_label: str
    summary: dict[str, int]
    duplicate_groups: tuple[tuple[int, ...], ...]
    entity_ids: tuple[int, ...]
    address_ids: tuple[int, ...]

    @property
    def issue_count(self) -> int:
        return sum(self.summary.get(k, 0) for k in ("duplicates", "representatives", "addresses_outside"))


_DUPLICATE_KEY = ("division_code", "name", "birth_date", "sex")


def _duplicates(limit: int) -> tuple[int, list[DuplicateGroup]]:
    groups = (
        Person.objects.filter(status=PersonStatus.LIVING)
        .values(*_DUPLICATE_KEY)
        .annotate(records=Count("id"))
        .filter(records__gt=1)
        .order_by(*_DUPLICATE_KEY)
    )
    total = groups.count()
    keys = [tuple(g[k] for k in _DUPLICATE_KEY) for g in groups[:limit]]
    members: dict[tuple[Any, ...], list[tuple[int, str]]] = {key: [] for key in keys}
    for start in range(0, len(keys), _MEMBER_BATCH):
        condition = Q()
        for key in keys[start : start + _MEMBER_BATCH]:
            condition |= Q(**dict(zip(_DUPLICATE_KEY, key, strict=True)))
        rows = (
            Person.objects.filter(condition, status=PersonStatus.LIVING)
            .order_by("id")
            .values_list(*_DUPLICATE_KEY, "id", "id_number_masked")
        )
        for *key_values, record_id, masked in rows:
            members[tuple(key_values)].append((record_id, masked))
    found = [
        DuplicateGroup(
            name=mask_name(key[1]),
            sex=key[3],
            division_code=key[0],
            record_ids=tuple(record_id for record_id, _ in members[key]),
            id_numbers=tuple(masked for _, masked in members[key]),
        )
        for key in keys
    ]
    return total, found


def _representatives(limit: int) -> tuple[int, list[RepresentativeIssue]]:
    qs = (
        LegalEntity.objects.filter(status=EntityStatus.ACTIVE, legal_representative__isnull=False)
        .exclude(legal_representative__status=PersonStatus.LIVING)
        .order_by("id")
    )
    rows = qs.values_list("id", "credit_code", "name", "legal_representative_id", "legal_representative__status")
    return qs.count(), [RepresentativeIssue(*row) for row in rows[:limit]]


def county_boxes() -> dict[str, Box]:
    """Each county's bounding box: the envelope of the grid cells under its communities, in one GROUP BY.

    A county code replaced by a successor (长乐市 350182 → 长乐区 350112) gets its successor's box, since addresses
    keep the code they were registered under.
    """
    rows = (
        GridCell.objects.filter(
            community__level=DivisionLevel.COMMUNITY, community__parent__parent__level=DivisionLevel.COUNTY
        )
        .order_by()
        .values(county=F("community__parent__parent__code"))
        .annotate(min_lon=Min("min_lon"), min_lat=Min("min_lat"), max_lon=Max("max_lon"), max_lat=Max("max_lat"))
    )
    boxes = {row["county"]: Box(row["min_lon"], row["min_lat"], row["max_lon"], row["max_lat"]) for row in rows}
    successors = Division.objects.filter(level=DivisionLevel.COUNTY, successor__isnull=False).values_list(
        "code", "successor__code"
    )
    for code, successor in successors:
        if code not in boxes and successor in boxes:
            boxes[code] = boxes[successor]
    return boxes


@dataclass
class _AddressTally:
    checked: int = 0
    without_point: int = 0
    without_geometry: int = 0
    outside: int = 0


def _addresses(limit: int) -> tuple[_AddressTally, list[AddressIssue]]:
    boxes = county_boxes()
    tally = _AddressTally()
    found: list[AddressIssue] = []
    rows = Address.objects.order_by("id").values_list("id", "division_code", "longitude", "latitude")
    for address_id, division_code, longitude, latitude in rows.iterator(chunk_size=5000):
        if longitude is None or latitude is None:
            tally.without_point += 1
            continue
        box = boxes.get(division_code)
        if box is None:
            tally.without_geometry += 1
            continue
        tally.checked += 1
        if not box.contains(longitude, latitude):
            tally.outside += 1
            if len(found) < limit:
                found.append(AddressIssue(address_id, division_code, longitude, latitude))
    return tally, found


def _audit_listed_persons(actor: Actor, person_ids: Iterable[int]) -> None:
    """The report shows these persons' masked identifiers to its reader: a read of each record, as the selectors
    record it, so that it appears in the person's "who read my data"."""
    for person_id in sorted(set(person_ids)):
        audit_record(
            source_address=current_address(),
            action="registries.person.read", actor=actor, target_type="registries.person", target_id=person_id,
            purpose=QUALITY_PURPOSE, detail={"clear": [], "via": "quality"},
        )  # fmt: skip


def registry_quality_check(*, actor: Actor, limit: int = LISTED_MAX) -> QualityReport:
    """Run the three checks; the counts are complete, at most `limit` items of each kind are listed."""
    checked_at = timezone.now()
    duplicate_count, duplicates = _duplicates(limit)
    representative_count, representatives = _representatives(limit)
    tally, outside = _addresses(limit)
    report = QualityReport(
        checked_at=checked_at,
        duplicate_count=duplicate_count,
        duplicates=tuple(duplicates),
        representative_count=representative_count,
        representatives=tuple(representatives),
        address_outside_count=tally.outside,
        addresses_outside=tuple(outside),
        addresses_checked=tally.checked,
        addresses_without_point=tally.without_point,
        addresses_without_geometry=tally.without_geometry,
    )
    with transaction.atomic():
        _audit_listed_persons(
            actor,
            [*(pk for group in duplicates for pk in group.record_ids), *(r.person_id for r in representatives)],
        )
        audit_record(
            source_address=current_address(),
            action=QUALITY_ACTION, actor=actor, target_type="registries.registry", purpose=QUALITY_PURPOSE,
            detail={
                **report.summary(),
                "duplicate_groups": [list(group.record_ids) for group in duplicates[:_AUDITED_IDS]],
                "entities": [issue.entity_id for issue in representatives[:_AUDITED_IDS]],
                "addresses": [issue.address_id for issue in outside[:_AUDITED_IDS]],
            },
        )  # fmt: skip
    return report


def registry_quality_latest() -> QualityRun | None:
    """The latest run's summary, read back from the audit trail (the report itself is not stored)."""
    record = AuditRecord.objects.filter(action=QUALITY_ACTION, outcome="success").order_by("-id").first()
    if record is None:
        return None
    detail: dict[str, Any] = record.detail if isinstance(record.detail, dict) else {}
    summary_keys = ("duplicates", "representatives", "addresses_outside", "addresses_checked",
                    "addresses_without_point", "addresses_without_geometry")  # fmt: skip
    return QualityRun(
        occurred_at=record.occurred_at,
        actor_label=record.actor_label,
        summary={key: int(detail.get(key, 0)) for key in summary_keys},
        duplicate_groups=tuple(tuple(int(pk) for pk in group) for group in detail.get("duplicate_groups", [])),
        entity_ids=tuple(int(pk) for pk in detail.get("entities", [])),
        address_ids=tuple(int(pk) for pk in detail.get("addresses", [])),
    )
