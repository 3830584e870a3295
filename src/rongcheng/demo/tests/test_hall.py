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
