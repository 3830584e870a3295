"""The demo city's cases: categories, routing, staff with their roles, an Open311 key line, and cases in every
district over the last 90 days; seeding twice adds nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.cases import services
from rongcheng.cases.models import Case, Category
from rongcheng.demo.services import demo_city_seed
from rongcheng.divisions.models import Division, DivisionLevel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DATA_DIR = tmp_path


def test_demo_cases(tmp_path):
    accounts = tmp_path / "a.txt"
    demo_city_seed(persons=5, entities=0, accounts_file=accounts)
    assert set(Category.objects.values_list("major_name", flat=True)) >= {
        "公用设施类",
        "道路交通类",
        "市容环境类",
        "园林绿化类",
        "房屋土地类",
        "其他设施类",
        "宣传广告类",
        "施工管理类",
        "突发事件类",
        "街面秩序类",
    }
    districts = set(
        Division.objects.filter(level=DivisionLevel.COUNTY, valid_to__isnull=True).values_list("code", flat=True)
    )
    assert set(Case.objects.values_list("district_code", flat=True)) == districts
    assert Case.objects.filter(district_code="350102").exists()
    assert Case.objects.filter(state__in=("closed", "evaluated")).exists()
    assert Case.objects.exclude(state__in=("closed", "evaluated", "rejected")).exists()
    oldest = Case.objects.order_by("created_at").first()
    assert oldest is not None
    assert oldest.created_at > timezone.now() - dt.timedelta(days=91)
    assert Case.objects.filter(unit__isnull=False).exclude(address="").exists()
    [line] = [x for x in accounts.read_text(encoding="utf-8").splitlines() if "open311" in x]
    key = line.split("\t")[1]
    assert services.open311_key_check(key).name.startswith("福州水务集团")
    assert User.objects.get(username="cgdispatch").has_perm("cases.dispatch_case")
    assert "totp:" in next(x for x in accounts.read_text(encoding="utf-8").splitlines() if x.startswith("gridworker"))
    cases, audit = Case.objects.count(), AuditRecord.objects.count()
    demo_city_seed(persons=5, entities=0, accounts_file=accounts)
    assert Case.objects.count() == cases
    assert AuditRecord.objects.count() == audit
    assert next(x for x in accounts.read_text(encoding="utf-8").splitlines() if "open311" in x).split("\t")[1] == key
