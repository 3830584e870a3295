"""The demo city's licences: a dozen real types, signed licences for the demo resident, idempotent seeding."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from rongcheng.accounts.models import User
from rongcheng.demo.licences import LICENCE_TYPES, demo_licences_seed
from rongcheng.demo.services import demo_city_seed
from rongcheng.kernel.identifiers import id_number_validate
from rongcheng.licences.models import Licence, LicenceType
from rongcheng.licences.selectors import MASK, licence_authentic, licence_verify, licences_of_resident
from rongcheng.registries.models import Person
from rongcheng.registries.protection import reveal

pytestmark = pytest.mark.django_db


def test_demo_licences(tmp_path):
    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "accounts.txt")
    assert LicenceType.objects.count() == len(LICENCE_TYPES) == 12
    count = Licence.objects.count()
    assert count > 60
    assert all(licence_authentic(licence) for licence in Licence.objects.all())
    resident = User.objects.get(username="resident")
    titles = {licence.title for licence in licences_of_resident(resident)}
    assert {"居民身份证", "结婚证", "机动车驾驶证", "不动产权证书", "出生医学证明"} <= titles
    assert demo_licences_seed() == 0
    assert Licence.objects.count() == count


def test_a_demo_licence_tells_the_birth_date_the_holders_id_number_tells(tmp_path):
    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "accounts.txt")
    resident = User.objects.get(username="resident")
    person = Person.objects.get(id_number_index=resident.id_number_index)
    told = id_number_validate(reveal("person.id_number", person.id_number_cipher)).birth_date.isoformat()
    faces = {licence.title: licence.face for licence in licences_of_resident(resident)}
    assert faces["出生医学证明"]["born_at"] == told
    assert faces["居民身份证"]["birth_date"] == told
    assert faces["居民身份证"]["sex"] == {"male": "男", "female": "女"}[person.sex]


ADDRESS_LIKE = ("址", "地", "坐落", "住所", "位置", "场所", "电话", "手机", "身份证", "证件号", "姓名")


def test_public_verification_of_every_demo_person_licence_shows_no_address_phone_or_id_number(tmp_path):
    """Walk-through: a hall-issued residence permit showed 户籍地 in full to anyone. Every seeded type of a person
    holder: the public page masks each address-, phone-, ID- or name-like field and shows no such number at all."""
    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "accounts.txt")
    person_types = LicenceType.objects.filter(holder_kind="person").order_by("code")
    assert person_types.count() == 8
    for licence_type in person_types:
        licence = Licence.objects.filter(licence_type=licence_type).order_by("id").first()
        assert licence is not None, licence_type.name
        answer = licence_verify(licence.identifier)
        page = Client().get(f"/licences/verify/{licence.identifier}/").content.decode()
        person = licence.holder_person
        assert person is not None, licence_type.name
        for label, value in answer.face:
            assert value == MASK or not any(word in label for word in ADDRESS_LIKE), (licence_type.name, label)
        assert reveal("person.id_number", person.id_number_cipher) not in page
        # The signing key's id is public and random hex: a run of its digits can look like a mobile number, so the
        # search for personal numbers reads the page without it (it failed once in CI on key id …15768325608…).
        assert f'<dd class="mono">{licence.key_id}</dd>' in page
        personal_part = page.replace(licence.key_id, "")
        assert not re.search(r"(?<!\d)(\d{6}(19|20)\d{2}[01]\d[0-3]\d{4}[\dX]|1[3-9]\d{9})(?!\d)", personal_part), (
            licence_type.name
        )
        if person.address is not None:
            assert person.address.text not in page, licence_type.name
        shown = {label for label, value in answer.face if value != MASK}
        assert shown <= {
            "准驾车型",
            "初次领证日期",
            "登记日期",
            "登记机关",
            "职业（工种）",
            "等级",
            "鉴定日期",
            "接生机构",
        }
