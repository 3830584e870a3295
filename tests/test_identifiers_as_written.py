"""One decision for every app (kernel/identifiers.py): an ID number or credit code is accepted exactly as written.

The registries, licences, the service hall and identity refuse a space-padded or lower-case identifier with the same
rule, write nothing, and a wrong credit code is reported with the credit code's rules, not the ID number's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor
from rongcheng.hall import services as hall
from rongcheng.hall.tests import factories as hall_factories
from rongcheng.identity.services import resident_register
from rongcheng.identity.tests.factories import PASSWORD
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import id_number_make
from rongcheng.licences.services import holder_index_for_code
from rongcheng.registries import services as registries
from rongcheng.registries.models import LegalEntity, Person
from rongcheng.registries.tests.factories import make_credit_code

pytestmark = pytest.mark.django_db
SYSTEM = Actor(kind="system", id="tests", label="test setup")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # accounts are set-up, not the point


def _id_number_ending_in_x() -> str:
    return next(
        number
        for sequence in range(1, 1000)
        if (number := id_number_make(division_code="350102", birth_date=dt.date(1985, 3, 12), sequence=sequence))[-1]
        == "X"
    )


ID_NUMBER = _id_number_ending_in_x()
CREDIT_CODE = make_credit_code()
CREDIT_CODE_WITH_LETTERS = next(code for code in (make_credit_code() for _ in range(50)) if code[8:].isalnum())


def _registries_person(text: str) -> None:
    registries.person_register(data={"id_number": text, "name": "林则徐"}, actor=SYSTEM)


def _registries_entity(text: str) -> None:
    registries.legal_entity_register(
        data={"credit_code": text, "name": "福州榕城科技有限公司", "established_on": dt.date(2010, 5, 1)}, actor=SYSTEM
    )


def _licences_holder(text: str) -> None:
    holder_index_for_code(text)


_HALL: dict[str, Any] = {}  # the applicant, made before the attempt


def _hall_applicant(text: str) -> None:
    hall.application_start(user=_HALL["applicant"], service_code="GSJ-009", credit_code=text)


def _identity_register(text: str) -> None:
    resident_register(username="someone", password=PASSWORD, name="林则徐", id_number=text, phone="13812345678")


ID_ENTRY_POINTS: list[Callable[[str], None]] = [_registries_person, _licences_holder, _identity_register]
CODE_ENTRY_POINTS: list[Callable[[str], None]] = [_registries_entity, _licences_holder, _hall_applicant]


def _refused_with(entry: Callable[[str], None], text: str) -> list[str]:
    if entry is _hall_applicant:  # the applicant and the service exist before the attempt
        hall_factories.service("GSJ-009", applicant_kind="any")
        _HALL["applicant"] = hall_factories.applicant()
    persons, entities = Person.objects.count(), LegalEntity.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        entry(text)
    assert (Person.objects.count(), LegalEntity.objects.count()) == (persons, entities)
    return [error["rule"] for error in refused.value.errors]


@pytest.mark.parametrize("entry", ID_ENTRY_POINTS, ids=lambda e: e.__name__)
@pytest.mark.parametrize(
    ("text", "rule"),
    [(f" {ID_NUMBER}", "id_number.whitespace"), (f"{ID_NUMBER} ", "id_number.whitespace"),
     (ID_NUMBER.lower(), "id_number.lowercase_x")],
)  # fmt: skip
def test_an_id_number_is_taken_as_written_everywhere(entry, text, rule):
    audit_before = AuditRecord.objects.filter(outcome="success").count()
    assert rule in _refused_with(entry, text)
    assert AuditRecord.objects.filter(outcome="success").count() == audit_before


@pytest.mark.parametrize("entry", CODE_ENTRY_POINTS, ids=lambda e: e.__name__)
@pytest.mark.parametrize(
    ("text", "rule"),
    [(f" {CREDIT_CODE}", "credit_code.whitespace"), (f"{CREDIT_CODE_WITH_LETTERS} ", "credit_code.whitespace"),
     (CREDIT_CODE_WITH_LETTERS.lower(), "credit_code.lowercase")],
)  # fmt: skip
def test_a_credit_code_is_taken_as_written_everywhere(entry, text, rule):
    assert rule in _refused_with(entry, text)


def test_a_wrong_credit_code_is_reported_with_the_credit_code_rules():
    wrong = CREDIT_CODE_WITH_LETTERS[:17] + ("1" if CREDIT_CODE_WITH_LETTERS[17] != "1" else "2")
    with pytest.raises(ValidationFailed) as refused:
        holder_index_for_code(wrong)
    assert refused.value.detail.startswith("Read as a unified social credit code:")
    assert [e["rule"] for e in refused.value.errors] == ["credit_code.check"]
    assert all(e["loc"] == ["holder_code"] for e in refused.value.errors)
