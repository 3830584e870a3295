"""Data-quality checks: each kind of issue found exactly, a clean registry reports none, the run is audited."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.registries.models import Address
from rongcheng.registries.quality import (
    AddressIssue,
    Box,
    DuplicateGroup,
    RepresentativeIssue,
    county_boxes,
    registry_quality_check,
    registry_quality_latest,
)
from rongcheng.registries.services import legal_entity_close, person_close
from rongcheng.registries.tests.factories import SYSTEM, make_entity, make_id_number, make_person

pytestmark = pytest.mark.django_db

CHECKER = Actor("user", "42", "quality-officer")
BIRTH = dt.date(1985, 3, 12)


def _county(code: str, name: str, cells: list[tuple[float, float, float, float]], **fields) -> Division:
    """A county with one street and one community holding the given grid cells (min_lon, min_lat, max_lon, max_lat)."""
    county = Division.objects.create(code=code, name=name, level=DivisionLevel.COUNTY, **fields)
    street = Division.objects.create(code=f"{code}001", name="街道", level=DivisionLevel.STREET, parent=county)
    community = Division.objects.create(code=f"{code}001001", name="社区", level=DivisionLevel.COMMUNITY, parent=street)
    for n, (x0, y0, x1, y1) in enumerate(cells, start=1):
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        GridCell.objects.create(
            code=f"{community.code}{n:02d}", name=f"第{n}网格", community=community,
            polygon={"type": "Polygon", "coordinates": [ring]}, min_lon=x0, min_lat=y0, max_lon=x1, max_lat=y1,
        )  # fmt: skip
    return county


@pytest.fixture
def places() -> None:
    _county("350102", "鼓楼区", [(119.25, 26.05, 119.30, 26.10), (119.30, 26.05, 119.35, 26.12)])
    _county("350103", "台江区", [(119.30, 26.00, 119.35, 26.05)])
    changle = _county("350112", "长乐区", [(119.45, 25.80, 119.70, 26.05)])
    Division.objects.create(
        code="350182", name="长乐市", level=DivisionLevel.COUNTY, valid_to=dt.date(2017, 7, 1), successor=changle
    )


def _address(text: str, division: str, point: tuple[float, float] | None) -> Address:
    longitude, latitude = point if point else (None, None)
    return Address.objects.create(text=text, division_code=division, longitude=longitude, latitude=latitude)


def test_county_boxes_are_the_envelopes_of_their_grid_cells(places):
    assert county_boxes() == {
        "350102": Box(119.25, 26.05, 119.35, 26.12),
        "350103": Box(119.30, 26.00, 119.35, 26.05),
        "350112": Box(119.45, 25.80, 119.70, 26.05),
        "350182": Box(119.45, 25.80, 119.70, 26.05),  # the code it replaced, through the successor
    }


def test_likely_duplicates_are_found_exactly():
    first = make_person(name="陈明", id_number=make_id_number(birth=BIRTH, sequence=11))
    second = make_person(name="陈明", id_number=make_id_number(birth=BIRTH, sequence=13))
    make_person(name="陈明", id_number=make_id_number(birth=BIRTH, sequence=15), division_code="350103")  # elsewhere
    make_person(name="陈明", id_number=make_id_number(birth=BIRTH, sequence=12))  # female
    make_person(name="陈明", id_number=make_id_number(birth=dt.date(1985, 3, 13), sequence=17))  # another day
    make_person(name="陈敏", id_number=make_id_number(birth=BIRTH, sequence=19))  # another name
    resolved = make_person(name="陈明", id_number=make_id_number(birth=BIRTH, sequence=21))
    person_close(person_id=resolved.pk, status="deregistered", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="重复")
    trio = [
        make_person(name="王芳", id_number=make_id_number(division="350104", birth=dt.date(1990, 1, 1), sequence=n))
        for n in (2, 4, 6)
    ]

    report = registry_quality_check(actor=CHECKER)

    assert report.duplicate_count == 2
    assert report.duplicates == (
        DuplicateGroup("陈*", "male", "350102", (first.pk, second.pk),
                       (first.id_number_masked, second.id_number_masked)),
        DuplicateGroup("王*", "female", "350104", tuple(p.pk for p in trio), tuple(p.id_number_masked for p in trio)),
    )  # fmt: skip
    assert first.id_number_masked != second.id_number_masked
    assert (report.representative_count, report.address_outside_count, report.issue_count) == (0, 0, 2)
    listed = AuditRecord.objects.filter(action="registries.person.read").order_by("target_id")
    assert sorted(int(r.target_id) for r in listed) == sorted([first.pk, second.pk, *(p.pk for p in trio)])
    assert [(r.actor_label, r.purpose, r.detail) for r in listed] == [
        ("quality-officer", "data_quality", {"clear": [], "via": "quality"})
    ] * 5


def test_representatives_who_are_not_living_persons_are_found_exactly():
    dead = make_person(name="林则徐", id_number=make_id_number(sequence=31))
    gone = make_person(name="沈葆桢", id_number=make_id_number(sequence=33))
    alive = make_person(name="严复", id_number=make_id_number(sequence=35))
    flagged = make_entity(name="福州甲有限公司", legal_representative_id=dead.pk)
    also_flagged = make_entity(name="福州乙有限公司", legal_representative_id=gone.pk)
    make_entity(name="福州丙有限公司", legal_representative_id=alive.pk)
    closed = make_entity(name="福州丁有限公司", legal_representative_id=dead.pk)
    make_entity(name="福州戊有限公司")  # no representative recorded
    legal_entity_close(entity_id=closed.pk, status="deregistered", on=dt.date(2019, 1, 1), actor=SYSTEM, reason="x")
    person_close(person_id=dead.pk, status="deceased", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="死亡登记")
    person_close(person_id=gone.pk, status="deregistered", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="迁出")

    report = registry_quality_check(actor=CHECKER)

    assert report.representative_count == 2
    assert report.representatives == (
        RepresentativeIssue(flagged.pk, flagged.credit_code, "福州甲有限公司", dead.pk, "deceased"),
        RepresentativeIssue(also_flagged.pk, also_flagged.credit_code, "福州乙有限公司", gone.pk, "deregistered"),
    )
    assert (report.duplicate_count, report.address_outside_count, report.issue_count) == (0, 0, 2)


def test_addresses_outside_their_division_are_found_exactly(places):
    _address("鼓楼区内", "350102", (119.28, 26.07))
    _address("鼓楼区边界上", "350102", (119.35, 26.12))
    east = _address("标为鼓楼区，实在马尾", "350102", (119.55, 26.00))
    misplaced = _address("标为台江区，实在鼓楼", "350103", (119.28, 26.07))
    _address("长乐市旧代码", "350182", (119.50, 25.90))
    old_code_outside = _address("长乐市旧代码，在区外", "350182", (119.28, 26.07))
    _address("无坐标", "350102", None)
    _address("无坐标二", "350103", None)
    _address("晋安区无网格", "350111", (119.30, 26.10))

    report = registry_quality_check(actor=CHECKER)

    assert report.address_outside_count == 3
    assert report.addresses_outside == (
        AddressIssue(east.pk, "350102", 119.55, 26.00),
        AddressIssue(misplaced.pk, "350103", 119.28, 26.07),
        AddressIssue(old_code_outside.pk, "350182", 119.28, 26.07),
    )
    assert (report.addresses_checked, report.addresses_without_point, report.addresses_without_geometry) == (6, 2, 1)
    assert (report.duplicate_count, report.representative_count, report.issue_count) == (0, 0, 3)


def test_a_clean_registry_reports_zero(places):
    alive = make_person(name="严复", id_number=make_id_number(sequence=41))
    make_person(name="陈明", id_number=make_id_number(sequence=43))
    make_entity(name="福州丙有限公司", legal_representative_id=alive.pk)
    _address("鼓楼区内", "350102", (119.28, 26.07))

    report = registry_quality_check(actor=CHECKER)

    assert report.summary() == {
        "duplicates": 0, "representatives": 0, "addresses_outside": 0, "addresses_checked": 1,
        "addresses_without_point": 1, "addresses_without_geometry": 0,
    }  # fmt: skip
    assert (report.issue_count, report.duplicates, report.representatives, report.addresses_outside) == (0, (), (), ())
    assert not AuditRecord.objects.filter(action="registries.person.read").exists()


def test_an_empty_registry_reports_zero():
    report = registry_quality_check(actor=CHECKER)
    assert report.issue_count == 0
    assert report.summary() == dict.fromkeys(
        ("duplicates", "representatives", "addresses_outside", "addresses_checked", "addresses_without_point",
         "addresses_without_geometry"), 0,
    )  # fmt: skip


def test_the_run_is_audited_and_read_back_as_the_latest(places):
    first = make_person(name="陈明", id_number=make_id_number(sequence=51))
    second = make_person(name="陈明", id_number=make_id_number(sequence=53))
    misplaced = _address("标为台江区，实在鼓楼", "350103", (119.28, 26.07))
    assert registry_quality_latest() is None

    registry_quality_check(actor=CHECKER)

    run = AuditRecord.objects.get(action="registries.quality.check")
    assert (run.actor_kind, run.actor_id, run.actor_label, run.purpose, run.target_type) == (
        "user", "42", "quality-officer", "data_quality", "registries.registry",
    )  # fmt: skip
    assert run.detail == {
        "duplicates": 1, "representatives": 0, "addresses_outside": 1, "addresses_checked": 1,
        "addresses_without_point": 1, "addresses_without_geometry": 0,
        "duplicate_groups": [[first.pk, second.pk]], "entities": [], "addresses": [misplaced.pk],
    }  # fmt: skip
    latest = registry_quality_latest()
    assert latest is not None
    assert (latest.actor_label, latest.issue_count, latest.duplicate_groups, latest.address_ids) == (
        "quality-officer", 2, ((first.pk, second.pk),), (misplaced.pk,),
    )  # fmt: skip


def test_the_listing_is_limited_but_the_counts_are_complete():
    for n in range(3):
        for sequence in (61 + 20 * n, 63 + 20 * n):
            make_person(name=f"陈{n}", id_number=make_id_number(sequence=sequence))
    report = registry_quality_check(actor=CHECKER, limit=1)
    assert (report.duplicate_count, len(report.duplicates)) == (3, 1)
    assert AuditRecord.objects.filter(action="registries.person.read").count() == 2


def test_the_number_of_queries_does_not_grow_with_the_registry(places):
    def reads_and_audits(groups: int, *, first: int) -> tuple[int, int]:
        for n in range(first, first + groups):
            for sequence in (101 + 20 * n, 103 + 20 * n):
                make_person(name=f"王{n}", id_number=make_id_number(sequence=sequence))
            _address(f"地址{n}", "350102", (119.28, 26.07))
        with CaptureQueriesContext(connection) as captured:
            registry_quality_check(actor=CHECKER)
        inserts = [q for q in captured.captured_queries if q["sql"].startswith("INSERT")]
        return len(captured.captured_queries) - len(inserts), len(inserts)

    small_reads, small_inserts = reads_and_audits(1, first=0)
    assert small_inserts == 2 + 1  # the two persons listed, the run
    large_reads, large_inserts = reads_and_audits(6, first=1)
    assert large_reads == small_reads
    assert large_inserts == 14 + 1


def test_command_prints_the_report_and_exits_1_on_issues(places):
    first = make_person(name="陈明", id_number=make_id_number(sequence=71))
    second = make_person(name="陈明", id_number=make_id_number(sequence=73))
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("registry_quality", stdout=out)
    assert caught.value.returncode == 1
    assert str(caught.value) == "1 data-quality issue(s) found."
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(": 1 issue(s)")
    assert lines[1:] == [
        "likely duplicate persons: 1 group(s)",
        f"  陈* male 350102: records {first.pk} ({first.id_number_masked}), {second.pk} ({second.id_number_masked})",
        "legal representatives who are not living persons: 0",
        "addresses outside their division: 0 of 0 checked (skipped: 1 without a point, 0 in a division without grid "
        "cells)",
    ]
    run = AuditRecord.objects.get(action="registries.quality.check")
    assert run.actor_kind == "system"
    assert run.actor_label.startswith("manage.py registry_quality (")


def test_command_exits_0_on_a_clean_registry():
    make_person(name="严复", id_number=make_id_number(sequence=81))
    out = StringIO()
    call_command("registry_quality", stdout=out)
    assert out.getvalue().splitlines()[0].endswith(": 0 issue(s)")
    assert AuditRecord.objects.filter(action="registries.quality.check").count() == 1
