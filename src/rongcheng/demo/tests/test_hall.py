"""The demo city's service hall: at least twenty real services across departments, the holiday calendar, idempotent."""

from __future__ import annotations

import pytest

from rongcheng.demo.data import DEPARTMENTS
from rongcheng.demo.hall import hall_seed
from rongcheng.hall.models import CalendarDay, ServiceItem

pytestmark = pytest.mark.django_db


def test_hall_seed_is_idempotent_and_covers_departments():
    from rongcheng.accounts.models import Department

    for code, name, short in DEPARTMENTS:
        Department.objects.create(code=code, name=name, short_name=short)
    first = hall_seed()
    assert first["services"] >= 20
    assert ServiceItem.objects.values("department").distinct().count() >= 8
    assert CalendarDay.objects.filter(date__year=2026, kind="holiday").count() == 33
    assert CalendarDay.objects.filter(date__year=2026, kind="workday").count() == 6
    assert CalendarDay.objects.filter(date__year=2027).exists()
    assert hall_seed() == {"services": 0, "calendar_days": 0}
    names = set(ServiceItem.objects.values_list("name", flat=True))
    assert {
        "企业设立登记",
        "食品经营许可",
        "出生登记（新生儿入户）",
        "居住证办理",
        "高龄津贴申领",
        "购房提取住房公积金",
    } <= names
    # one service with a fee, so the hall's unified payment (bill on approval, conclusion once paid) can be walked
    assert ServiceItem.objects.get(code="GAJ-SFZ-001").fees == "20元"


def test_the_demo_company_representative_applies_with_its_business_licence_prefilled(tmp_path):
    from rongcheng.accounts.models import User
    from rongcheng.audit.models import AuditRecord
    from rongcheng.demo.hall import LICENCE_TYPES, hall_company_seed
    from rongcheng.demo.services import demo_city_seed
    from rongcheng.hall import services
    from rongcheng.hall.models import ApplicationMaterial
    from rongcheng.licences.models import Licence
    from rongcheng.registries.models import LegalEntity

    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "accounts.txt")
    company = User.objects.get(username="company")
    assert company.kind == "company_representative"
    assert "company\t" in (tmp_path / "accounts.txt").read_text(encoding="utf-8")
    audits = AuditRecord.objects.count()
    entity = hall_company_seed()  # seeded already: nothing more happens
    assert AuditRecord.objects.count() == audits
    assert isinstance(entity, LegalEntity)
    assert entity.legal_representative is not None
    assert entity.legal_representative.id_number_index == company.id_number_index
    application = services.application_start(user=company, service_code="GSJ-SP-001", credit_code=entity.credit_code)
    services.application_prefill(user=company, application_id=application.pk, authorize_licences=True)
    business = Licence.objects.get(licence_type__code=LICENCE_TYPES["营业执照"], holder_index=entity.credit_code)
    material = ApplicationMaterial.objects.get(application=application, code="business_licence")
    assert material.licence_identifier == business.identifier
    entity.refresh_from_db()
    assert entity.address is not None
    assert material.values["address"]["value"] == entity.address.text
    submitted = services.application_submit(user=company, application_id=application.pk)
    assert submitted.number is not None
    assert submitted.number.startswith("FZ-GSJ-")
