"""Legal entities: correction and closing keep the previous version; the staff read masks the representative."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.errors import NotAuthenticated, ValidationFailed
from rongcheng.kernel.tests.contexts import request_from
from rongcheng.registries.errors import LegalEntityNotFound, RecordClosed, RegistryInputInvalid, RegistryReadDenied
from rongcheng.registries.models import LegalEntity, RecordVersion
from rongcheng.registries.permissions import reader_for
from rongcheng.registries.selectors import legal_entity_read
from rongcheng.registries.services import legal_entity_close, legal_entity_correct, person_close, version_snapshot
from rongcheng.registries.tests.factories import SYSTEM, make_entity, make_person, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def representative():
    return make_person(id_number="350102198503120018", name="林则徐")


@pytest.fixture
def entity(representative):
    return make_entity(
        name="福州榕城科技有限公司", legal_representative_id=representative.pk, address="鼓楼区五四路1号"
    )


def _unchanged(entity: LegalEntity) -> None:
    entity.refresh_from_db()
    assert (entity.version, entity.name, entity.status, entity.closed_on) == (1, "福州榕城科技有限公司", "active", None)
    assert RecordVersion.objects.filter(registry="entities").count() == 0
    assert not AuditRecord.objects.filter(action__in=["registries.entity.correct", "registries.entity.close"]).exists()


def test_correction_keeps_the_previous_version(entity, representative):
    successor = make_person(id_number="350103199001010020", name="沈葆桢")
    before = timezone.now()
    corrected = legal_entity_correct(
        entity_id=entity.pk,
        changes={"name": "福州新名有限公司", "legal_representative_id": successor.pk, "address": "台江区八一七路2号",
                 "registration_authority": "福州市市场监督管理局", "established_on": "2011-06-01"},
        actor=SYSTEM, reason="变更登记", expected_version=1,
    )  # fmt: skip
    assert (corrected.version, corrected.name, corrected.legal_representative_id) == (
        2,
        "福州新名有限公司",
        successor.pk,
    )
    assert corrected.address is not None
    assert (corrected.address.text, corrected.address.division_code) == ("台江区八一七路2号", "350102")
    assert (corrected.registration_authority, corrected.established_on) == ("福州市市场监督管理局", dt.date(2011, 6, 1))
    (previous,) = RecordVersion.objects.filter(registry="entities", record_id=entity.pk)
    assert (previous.version, previous.change, previous.reason, previous.actor_label) == (
        1, "correct", "变更登记", "test setup",
    )  # fmt: skip
    assert previous.valid_to >= before
    snapshot = version_snapshot(previous)
    assert (snapshot["name"], snapshot["legal_representative_id"], snapshot["address"]) == (
        "福州榕城科技有限公司", representative.pk, "鼓楼区五四路1号",
    )  # fmt: skip
    record = AuditRecord.objects.get(action="registries.entity.correct")
    assert (record.target_type, record.target_id) == ("registries.entity", str(entity.pk))
    assert record.detail == {
        "fields": ["address", "established_on", "legal_representative_id", "name", "registration_authority"],
        "reason": "变更登记",
    }


def test_the_representative_can_be_removed(entity):
    corrected = legal_entity_correct(
        entity_id=entity.pk, changes={"legal_representative_id": None}, actor=SYSTEM, reason="法定代表人辞任"
    )
    assert (corrected.version, corrected.legal_representative_id) == (2, None)


def test_every_broken_rule_is_reported_together_and_nothing_changes(entity, representative):
    dead = make_person(id_number="350103199001010020", name="沈葆桢")
    person_close(person_id=dead.pk, status="deceased", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="死亡登记")
    with pytest.raises(RegistryInputInvalid) as caught:
        legal_entity_correct(
            entity_id=entity.pk,
            changes={"name": "", "legal_representative_id": dead.pk, "established_on": "2999-01-01",
                     "address": "x" * 201, "registration_authority": "y" * 101},
            actor=SYSTEM, reason="x",
        )  # fmt: skip
    assert sorted(error["rule"] for error in caught.value.errors) == [
        "address.length", "authority.length", "date.valid", "name.required", "representative.living",
    ]  # fmt: skip
    with pytest.raises(RegistryInputInvalid) as unknown:
        legal_entity_correct(
            entity_id=entity.pk, changes={"legal_representative_id": 999_999}, actor=SYSTEM, reason="x"
        )
    assert [error["rule"] for error in unknown.value.errors] == ["representative.living"]
    _unchanged(entity)


def test_the_credit_code_is_not_correctable_and_a_reason_is_required(entity):
    with pytest.raises(RegistryInputInvalid) as caught:
        legal_entity_correct(
            entity_id=entity.pk, changes={"credit_code": "x", "status": "revoked"}, actor=SYSTEM, reason="x"
        )
    assert [(error["loc"], error["rule"]) for error in caught.value.errors] == [
        (["credit_code"], "field.correctable"), (["status"], "field.correctable"),
    ]  # fmt: skip
    with pytest.raises(RegistryInputInvalid) as no_reason:
        legal_entity_correct(entity_id=entity.pk, changes={"name": "新名"}, actor=SYSTEM, reason="  ")
    assert [error["rule"] for error in no_reason.value.errors] == ["reason.required"]
    _unchanged(entity)


def test_a_stale_version_is_refused(entity):
    from rongcheng.registries.errors import StaleVersion

    with pytest.raises(StaleVersion):
        legal_entity_correct(
            entity_id=entity.pk, changes={"name": "新名"}, actor=SYSTEM, reason="x", expected_version=3
        )
    _unchanged(entity)


def test_unknown_entity_is_not_found():
    with pytest.raises(LegalEntityNotFound):
        legal_entity_correct(entity_id=1, changes={"name": "新名"}, actor=SYSTEM, reason="x")
    with pytest.raises(LegalEntityNotFound):
        legal_entity_close(entity_id=1, status="revoked", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="x")


def test_closing_keeps_the_record_and_freezes_it(entity):
    closed = legal_entity_close(
        entity_id=entity.pk, status="revoked", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="吊销营业执照"
    )
    assert (closed.status, closed.closed_on, closed.version) == ("revoked", dt.date(2020, 1, 1), 2)
    (previous,) = RecordVersion.objects.filter(registry="entities", record_id=entity.pk)
    assert (previous.change, previous.reason, version_snapshot(previous)["status"]) == (
        "close",
        "吊销营业执照",
        "active",
    )
    record = AuditRecord.objects.get(action="registries.entity.close")
    assert record.detail == {"status": "revoked", "reason": "吊销营业执照"}
    with pytest.raises(RecordClosed):
        legal_entity_correct(entity_id=entity.pk, changes={"name": "新名"}, actor=SYSTEM, reason="x")
    with pytest.raises(RecordClosed):
        legal_entity_close(entity_id=entity.pk, status="deregistered", on=dt.date(2021, 1, 1), actor=SYSTEM, reason="x")
    entity.refresh_from_db()
    assert (entity.status, entity.version) == ("revoked", 2)
    assert RecordVersion.objects.filter(registry="entities").count() == 1


@pytest.mark.parametrize(
    ("status", "on", "rule"),
    [
        ("active", dt.date(2020, 1, 1), "status.closing"),
        ("deceased", dt.date(2020, 1, 1), "status.closing"),
        ("revoked", dt.date(2010, 4, 30), "date.range"),  # before the establishment on 2010-05-01
        ("revoked", dt.date(2999, 1, 1), "date.range"),
    ],
)
def test_closing_needs_a_closing_status_and_a_date_within_the_existence(entity, status, on, rule):
    with pytest.raises(RegistryInputInvalid) as caught:
        legal_entity_close(entity_id=entity.pk, status=status, on=on, actor=SYSTEM, reason="x")
    assert [error["rule"] for error in caught.value.errors] == [rule]
    _unchanged(entity)


def test_staff_read_shows_history_and_masks_the_representative(entity, representative):
    legal_entity_correct(entity_id=entity.pk, changes={"name": "福州新名有限公司"}, actor=SYSTEM, reason="名称变更")
    officer = staff("officer")
    with request_from("192.0.2.8"):
        view = legal_entity_read(reader=reader_for(officer), entity_id=entity.pk, purpose="credit")
    assert (view.credit_code, view.name, view.address, view.version, view.status) == (
        entity.credit_code, "福州新名有限公司", "鼓楼区五四路1号", 2, "active",
    )  # fmt: skip
    assert view.representative is not None
    assert (view.representative.record_id, view.representative.name, view.representative.id_number) == (
        representative.pk, "林**", "350102********0018",
    )  # fmt: skip
    assert [(v.info.version, v.name, v.info.replaced_by, v.info.reason) for v in view.history] == [
        (1, "福州榕城科技有限公司", "correct", "名称变更"), (2, "福州新名有限公司", "", ""),
    ]  # fmt: skip
    reads = AuditRecord.objects.filter(action__endswith=".read").order_by("id")
    assert [(r.action, r.target_id, r.purpose, r.source_address, r.detail) for r in reads] == [
        ("registries.entity.read", str(entity.pk), "credit", "192.0.2.8", {"via": "record"}),
        ("registries.person.read", str(representative.pk), "credit", "192.0.2.8",
         {"clear": [], "via": "legal_representative"}),
    ]  # fmt: skip


def test_an_entity_without_representative_reads_no_person(representative):
    entity = make_entity(name="福州无代表有限公司")
    view = legal_entity_read(reader=reader_for(staff("officer")), entity_id=entity.pk, purpose="credit")
    assert view.representative is None
    assert not AuditRecord.objects.filter(action="registries.person.read").exists()


def test_staff_read_is_refused_without_permission_or_purpose(entity):
    clerk = staff("clerk", can_read=False)
    with pytest.raises(RegistryReadDenied):
        legal_entity_read(reader=reader_for(clerk), entity_id=entity.pk, purpose="credit")
    denied = AuditRecord.objects.get(action="registries.entity.read")
    assert (denied.outcome, denied.actor_id, denied.purpose) == ("denied", str(clerk.pk), "credit")
    with pytest.raises(ValidationFailed):
        legal_entity_read(reader=reader_for(staff("officer")), entity_id=entity.pk, purpose=None)
    with pytest.raises(NotAuthenticated):
        legal_entity_read(reader=reader_for(None), entity_id=entity.pk, purpose="credit")
    with pytest.raises(LegalEntityNotFound):
        legal_entity_read(reader=reader_for(staff("officer2")), entity_id=entity.pk + 1, purpose="credit")
    assert AuditRecord.objects.filter(action="registries.entity.read").count() == 1
