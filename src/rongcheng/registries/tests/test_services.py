import datetime as dt

import pytest
from django.utils import timezone

from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.tests.contexts import request_from
from rongcheng.registries.errors import PersonAlreadyRegistered, RecordClosed, RegistryInputInvalid, StaleVersion
from rongcheng.registries.models import Person, RecordVersion
from rongcheng.registries.protection import index_of, reveal
from rongcheng.registries.services import person_close, person_correct, person_register, version_snapshot
from rongcheng.registries.tests.factories import SYSTEM, make_person

pytestmark = pytest.mark.django_db


def test_registration_stores_identifiers_encrypted_indexed_and_masked():
    person = make_person(id_number="350102198503120018", phone="13812345678")
    row = Person.objects.get(pk=person.pk)
    assert "350102198503120018" not in row.id_number_cipher
    assert "13812345678" not in row.phone_cipher
    assert reveal("person.id_number", row.id_number_cipher) == "350102198503120018"
    assert row.id_number_index == index_of("person.id_number", "350102198503120018")
    assert (row.id_number_masked, row.phone_masked) == ("350102********0018", "138****5678")
    assert (row.sex, row.birth_date, row.division_code) == ("male", dt.date(1985, 3, 12), "350102")
    assert AuditRecord.objects.filter(action="registries.person.register", target_id=str(person.pk)).count() == 1


def test_writes_record_the_address_of_the_request_they_run_in():
    with request_from("192.0.2.21"):
        person = make_person()
        person_correct(person_id=person.pk, changes={"name": "林文忠"}, actor=SYSTEM, reason="更名")
    person_close(person_id=person.pk, status="deceased", on=dt.date(2026, 1, 5), actor=SYSTEM, reason="死亡")
    records = AuditRecord.objects.filter(target_id=str(person.pk)).order_by("id")
    assert [(r.action, r.source_address) for r in records] == [
        ("registries.person.register", "192.0.2.21"),
        ("registries.person.correct", "192.0.2.21"),
        ("registries.person.close", None),
    ]


def test_ciphertext_of_one_field_does_not_decrypt_as_another():
    person = make_person(phone="13812345678")
    with pytest.raises(Exception, match="authentication"):
        reveal("person.id_number", person.phone_cipher)


@pytest.mark.parametrize(
    ("id_number", "rule"),
    [
        ("350102198503120010", "id_number.checksum"),
        ("350102198502300017", "id_number.birth_date"),
        ("999999198503120018", "id_number.division"),
        ("35010219850312019x", "id_number.lowercase_x"),
        ("3501021985031200", "id_number.length"),
    ],
)
def test_invalid_id_number_is_never_stored(id_number, rule):
    with pytest.raises(RegistryInputInvalid) as caught:
        person_register(data={"id_number": id_number, "name": "陈"}, actor=SYSTEM)
    assert rule in [error["rule"] for error in caught.value.errors]
    assert Person.objects.count() == 0
    assert AuditRecord.objects.count() == 0


def test_every_broken_rule_is_reported_together():
    with pytest.raises(RegistryInputInvalid) as caught:
        person_register(
            data={"id_number": "350102198503120018", "name": "", "ethnicity": "99", "phone": "call me",
                  "sex": "female", "division_code": "999999"},
            actor=SYSTEM,
        )  # fmt: skip
    assert sorted(error["rule"] for error in caught.value.errors) == [
        "division.known", "ethnicity.code", "name.required", "phone.format", "sex.matches_id_number",
    ]  # fmt: skip


def test_registering_the_same_person_twice_is_a_conflict():
    make_person(id_number="350103199001010020")
    with pytest.raises(PersonAlreadyRegistered):
        make_person(id_number="350103199001010020", name="另一个")
    assert Person.objects.count() == 1


def test_correction_keeps_the_previous_version():
    person = make_person(name="林则徐", phone="13812345678")
    before = timezone.now()
    corrected = person_correct(
        person_id=person.pk, changes={"name": "林徐", "phone": "13900001111"}, actor=SYSTEM, reason="户籍更正"
    )
    assert (corrected.version, corrected.name, corrected.phone_masked) == (2, "林徐", "139****1111")
    (previous,) = RecordVersion.objects.filter(registry="persons", record_id=person.pk)
    assert previous.version == 1
    assert previous.valid_to >= before
    assert (previous.change, previous.reason) == ("correct", "户籍更正")
    snapshot = version_snapshot(previous)
    assert (snapshot["name"], snapshot["phone"]) == ("林则徐", "13812345678")
    assert "13812345678" not in previous.snapshot_cipher
    record = AuditRecord.objects.get(action="registries.person.correct")
    assert record.detail == {"fields": ["name", "phone"], "reason": "户籍更正"}


def test_invalid_correction_changes_nothing():
    person = make_person(name="林则徐")
    with pytest.raises(RegistryInputInvalid):
        person_correct(person_id=person.pk, changes={"phone": "not a phone"}, actor=SYSTEM, reason="x")
    with pytest.raises(RegistryInputInvalid):
        person_correct(person_id=person.pk, changes={"id_number": "350103199001010020"}, actor=SYSTEM, reason="x")
    with pytest.raises(StaleVersion):
        person_correct(person_id=person.pk, changes={"name": "林"}, actor=SYSTEM, reason="x", expected_version=7)
    person.refresh_from_db()
    assert (person.version, person.name) == (1, "林则徐")
    assert RecordVersion.objects.count() == 0
    assert not AuditRecord.objects.filter(action="registries.person.correct").exists()


def test_closing_a_record_keeps_it_and_freezes_it():
    person = make_person()
    person_close(person_id=person.pk, status="deceased", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="死亡登记")
    person.refresh_from_db()
    assert (person.status, person.closed_on, person.version) == ("deceased", dt.date(2020, 1, 1), 2)
    with pytest.raises(RecordClosed):
        person_correct(person_id=person.pk, changes={"name": "X"}, actor=SYSTEM, reason="x")
    with pytest.raises(RecordClosed):
        person_close(person_id=person.pk, status="deregistered", on=dt.date(2021, 1, 1), actor=SYSTEM, reason="x")
    assert Person.objects.filter(pk=person.pk).exists()


def test_closing_date_must_lie_within_the_life():
    person = make_person()
    with pytest.raises(RegistryInputInvalid):
        person_close(person_id=person.pk, status="deceased", on=dt.date(1900, 1, 1), actor=SYSTEM, reason="x")
    person.refresh_from_db()
    assert person.status == "living"


def test_unknown_record_is_a_domain_error_not_a_crash():
    from rongcheng.registries.errors import PersonNotFound

    with pytest.raises(PersonNotFound):
        person_correct(person_id=424242, changes={"name": "X"}, actor=SYSTEM, reason="x")
    with pytest.raises(PersonNotFound):
        person_close(person_id=424242, status="deceased", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="x")


def test_closing_needs_a_reason():
    person = make_person()
    with pytest.raises(RegistryInputInvalid):
        person_close(person_id=person.pk, status="deceased", on=dt.date(2020, 1, 1), actor=SYSTEM, reason=" ")
    person.refresh_from_db()
    assert person.status == "living"


def test_closing_an_entity_needs_a_reason_and_changes_nothing_without_one():
    from rongcheng.registries.services import legal_entity_close
    from rongcheng.registries.tests.factories import make_entity

    entity = make_entity()
    with pytest.raises(RegistryInputInvalid):
        legal_entity_close(entity_id=entity.pk, status="revoked", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="")
    entity.refresh_from_db()
    assert (entity.status, entity.closed_on, entity.version) == ("active", None, 1)
    assert not RecordVersion.objects.filter(registry="entities").exists()
