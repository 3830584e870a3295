"""Every service of the demo catalogue can be taken from start to conclusion by the demo accounts, on the data the demo
seeding services make (no hand-made fixtures): a service that no demo officer could decide, or whose licence could not
be issued from the demo registries, fails here before it reaches a visitor."""

from __future__ import annotations

from typing import Any

import pytest

from rongcheng.accounts.models import User
from rongcheng.demo.hall import SERVICES
from rongcheng.demo.services import DEMO_ACCOUNTS, demo_city_seed
from rongcheng.hall import services
from rongcheng.hall.errors import TransitionGuardFailed
from rongcheng.hall.models import Application, ApplicationMaterial, ServiceItem, State
from rongcheng.hall.permissions import is_officer, may_act
from rongcheng.identity.services import in_person_verify
from rongcheng.licences.models import Licence, LicenceStatus
from rongcheng.licences.selectors import licence_verify
from rongcheng.registries.models import Person
from rongcheng.registries.protection import reveal

pytestmark = pytest.mark.django_db

FILES = {
    "pdf": b"%PDF-1.7\n" + b"0" * 64,
    "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 64,
}


@pytest.fixture
def city(tmp_path: Any) -> dict[str, User]:
    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "accounts.txt")
    return {u.username: u for u in User.objects.filter(username__in=[row[0] for row in DEMO_ACCOUNTS])}


def _officer_of(department_code: str) -> str:
    return next(
        row[0] for row in DEMO_ACCOUNTS if row[2] == "staff" and row[3] == department_code and row[4] != "窗口工作人员"
    )


def test_every_department_with_services_has_a_demo_officer_who_decides_them(city):
    for service in ServiceItem.objects.select_related("department"):
        officer = User.objects.get(username=_officer_of(service.department.code))
        application = Application(service=service, department=service.department)
        assert is_officer(officer), officer.username
        assert may_act(officer, application, any_window=False), (service.code, officer.username)


def test_every_demo_person_and_entity_has_an_address_in_their_county(city):
    from rongcheng.demo.data import SUCCESSORS
    from rongcheng.registries.models import LegalEntity

    rows: list[Person | LegalEntity] = [*Person.objects.select_related("address"),
                                        *LegalEntity.objects.select_related("address")]  # fmt: skip
    for row in rows:
        assert row.address is not None
        assert row.address.division_code in (row.division_code, SUCCESSORS.get(row.division_code))
        assert row.address.text.startswith("福州市")
        assert row.address.longitude is not None


def test_the_demo_business_licences_name_the_registry_s_legal_representative(city):
    from rongcheng.demo.hall import LICENCE_TYPES
    from rongcheng.registries.models import LegalEntity

    licences = Licence.objects.filter(licence_type__code=LICENCE_TYPES["营业执照"])
    assert licences.exists()
    for licence in licences:
        entity = LegalEntity.objects.select_related("legal_representative", "address").get(
            credit_code=licence.holder_index
        )
        assert entity.legal_representative is not None
        assert entity.address is not None
        assert licence.face["legal_representative"] == entity.legal_representative.name
        assert licence.face["address"] == entity.address.text
        assert licence.face["established_on"] == entity.established_on.isoformat()


def test_every_demo_service_is_concluded_with_the_demo_accounts(city):
    """One seeded city (seeding takes most of the time), every service of the catalogue in turn."""
    codes = [service["code"] for service in SERVICES]
    assert set(codes) == set(ServiceItem.objects.values_list("code", flat=True))
    failures = []
    for code in codes:
        try:
            _conclude(city, code)
        except Exception as exc:  # every service's failure is reported, not only the first
            failures.append((code, type(exc).__name__, str(exc)))
    assert failures == []
    renewed = Licence.objects.filter(status=LicenceStatus.REPLACED)
    assert renewed.count() == 1  # the driving licence renewed by GAJ-JSZ-001


def _conclude(city: dict[str, User], code: str) -> None:
    service = ServiceItem.objects.select_related("department").get(code=code)
    entity_service = service.applicant_kind == "entity"
    applicant = city["company" if entity_service else "resident"]
    credit_code = ""
    if entity_service:
        from rongcheng.identity.selectors import representation_list_for_user

        credit_code = representation_list_for_user(user=applicant)[0].legal_entity.credit_code
    if applicant.assurance_level < service.min_assurance:  # the window officer sees the resident and the card
        person = Person.objects.get(id_number_index=applicant.id_number_index)
        in_person_verify(
            officer=city["officer"], username=applicant.username,
            id_number=reveal("person.id_number", person.id_number_cipher), window="1号窗口",
        )  # fmt: skip
        applicant.refresh_from_db()
    application = services.application_start(user=applicant, service_code=code, credit_code=credit_code)
    services.application_prefill(user=applicant, application_id=application.pk, authorize_licences=True)
    for spec in service.materials:
        if spec["source"] == "upload":
            fmt = next(f for f in spec["formats"] if f in FILES)
            services.application_upload(
                user=applicant, application_id=application.pk, material_code=spec["code"],
                file_name=f"{spec['code']}.{fmt}", content=FILES[fmt],
            )  # fmt: skip
    services.application_submit(user=applicant, application_id=application.pk)
    window = city["officer"] if service.any_window else city[_officer_of(service.department.code)]
    decider = city[_officer_of(service.department.code)]
    services.application_transition(user=window, application_id=application.pk, transition="accept")
    for step in ("review", "approve"):
        services.application_transition(user=decider, application_id=application.pk, transition=step)
    if service.fees != "不收费":  # the fee's bill, issued on approval, paid with the applicant's city card
        _fee_pay(decider, applicant, application)
    services.application_transition(user=decider, application_id=application.pk, transition="conclude")
    application.refresh_from_db()
    assert application.state == State.CONCLUDED
    if service.issues_licence_type:
        licence = Licence.objects.get(identifier=application.issued_licence)
        assert licence.status == LicenceStatus.VALID
        assert licence.licence_type.code == service.issues_licence_type
        assert all(value not in ("", None) for value in licence.face.values())
        # A renewal supersedes the licence it was made from: one valid licence of the type remains.
        used = ApplicationMaterial.objects.filter(application=application, source="licence").values_list(
            "licence_identifier", flat=True
        )
        predecessors = Licence.objects.filter(identifier__in=list(used), licence_type=licence.licence_type)
        for old in predecessors:
            assert old.status == LicenceStatus.REPLACED
            assert licence_verify(old.identifier).status == LicenceStatus.REPLACED
        if predecessors:
            valid = Licence.objects.filter(
                licence_type=licence.licence_type, holder_index=licence.holder_index, status=LicenceStatus.VALID
            )
            assert list(valid) == [licence]


def test_a_residence_permit_without_an_address_is_stopped_at_submission_naming_the_field(city):
    from rongcheng.audit.models import AuditRecord

    resident = city["resident"]
    Person.objects.filter(id_number_index=resident.id_number_index).update(address=None)
    application = services.application_start(user=resident, service_code="GAJ-JZZ-001")
    services.application_prefill(user=resident, application_id=application.pk, authorize_licences=True)
    audits = AuditRecord.objects.count()
    with pytest.raises(TransitionGuardFailed) as refused:
        services.application_submit(user=resident, application_id=application.pk)
    assert refused.value.detail == "材料“申领人身份信息”的“住址”为空或不符合要求，签发居住证需要它。"
    assert refused.value.errors == [
        {"loc": ["materials", "holder"], "rule": "result_face.value", "msg": refused.value.detail}
    ]
    application.refresh_from_db()
    assert (application.state, application.number) == (State.DRAFT, None)
    assert AuditRecord.objects.count() == audits
    assert ApplicationMaterial.objects.filter(application=application).count() == 2


def test_the_window_officer_lands_on_the_waiting_city_wide_application_and_sees_only_their_buttons(city):
    from django.test import Client
    from django.urls import reverse

    company = city["company"]
    from rongcheng.identity.selectors import representation_list_for_user

    credit_code = representation_list_for_user(user=company)[0].legal_entity.credit_code
    application = services.application_start(user=company, service_code="GSJ-SP-001", credit_code=credit_code)
    services.application_prefill(user=company, application_id=application.pk, authorize_licences=True)
    application = services.application_submit(user=company, application_id=application.pk)
    window, market = Client(), Client()
    window.force_login(city["officer"])
    market.force_login(city["market"])
    assert str(application.number) in window.get(reverse("hall:workbench")).content.decode()
    detail = reverse("hall:workbench-detail", args=[application.pk])

    def buttons(client: Client) -> set[str]:
        import re

        return set(re.findall(r'name="transition" value="([a-z_]+)"', client.get(detail).content.decode()))

    assert buttons(window) == {"accept", "not_accept"}
    services.application_transition(user=city["officer"], application_id=application.pk, transition="accept")
    assert buttons(window) == set()  # accepted at the window, decided by the market-regulation bureau
    assert buttons(market) == {"review"}
    assert str(application.number) in market.get(reverse("hall:workbench")).content.decode()


def _fee_pay(decider: User, applicant: User, application: Application) -> None:
    """Concluding before the fee is paid is refused with the bill's payment code; paid by card, it goes on."""
    from rongcheng.card.models import Bill, BillStatus, Card, CardForm
    from rongcheng.card.services import bill_pay_by_card

    application.refresh_from_db()  # numbered on acceptance
    bill = Bill.objects.get(reference=f"hall:{application.number}", department_id=application.department_id)
    assert bill.status == BillStatus.UNPAID
    with pytest.raises(TransitionGuardFailed) as refused:
        services.application_transition(user=decider, application_id=application.pk, transition="conclude")
    assert refused.value.errors == [{"loc": ["fee"], "rule": "fee.unpaid", "msg": bill.payment_code}]
    card = Card.objects.get(holder_index=applicant.id_number_index, form=CardForm.PHYSICAL)
    bill_pay_by_card(payment_code=bill.payment_code, number=card.number, user=applicant, key=f"fee-{bill.pk}")
