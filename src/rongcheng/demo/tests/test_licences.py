"""The demo city's licences: a dozen real types, signed licences for the demo resident, idempotent seeding."""

from __future__ import annotations

import pytest

from rongcheng.accounts.models import User
from rongcheng.demo.licences import LICENCE_TYPES, demo_licences_seed
from rongcheng.demo.services import demo_city_seed
from rongcheng.kernel.identifiers import id_number_validate
from rongcheng.licences.models import Licence, LicenceType
from rongcheng.licences.selectors import licence_authentic, licences_of_resident
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
