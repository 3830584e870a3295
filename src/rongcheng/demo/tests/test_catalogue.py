"""The demo city's catalogue and open data: every department catalogued, twenty open datasets over several
organizations from the platform's own data, a pending sharing request, a CKAN token; seeding twice adds nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from rongcheng.accounts.models import Department, User
from rongcheng.catalogue.models import DataResource, Dataset, DatasetRevision, SharingRequest
from rongcheng.demo.services import demo_city_seed
from rongcheng.hall.selectors import city_today

pytestmark = pytest.mark.django_db


def test_the_demo_catalogue(tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    accounts = tmp_path / "demo-accounts.txt"
    demo_city_seed(persons=300, entities=40, accounts_file=accounts)
    listed = Dataset.objects.filter(state="active", private=False)
    assert listed.count() >= 20
    assert listed.values("organization").distinct().count() >= 4
    assert set(Department.objects.values_list("code", flat=True)) == set(
        DataResource.objects.values_list("provider__code", flat=True)
    )
    assert SharingRequest.objects.filter(state="submitted").count() == 2
    # One of them unanswered past its deadline: flagged overdue and escalated to the digital office's page.
    overdue = SharingRequest.objects.get(state="submitted", escalated_at__isnull=False)
    assert overdue.resource.provider.code == "FZ-GAJ"
    assert overdue.deadline is not None
    assert overdue.deadline < city_today()
    office = Client()
    office.force_login(User.objects.get(username="data-office"))
    page = office.get("/catalogue/sharing/").content.decode()
    escalated = page[page.index(overdue.number) :].partition("</tr>")[0]
    assert "（已督办）" in escalated
    assert "已逾期" in escalated
    detail = office.get(f"/catalogue/sharing/{overdue.number}/").content.decode()
    assert "（已督办）" in detail
    assert "提交市数字办督办" in detail
    # City cases and public credit are catalogued from their own apps' data, and their aggregates are open with rows.
    assert {"cases.cases", "cases.cases_by_category", "credit.public_records", "credit.records_by_department"} <= set(
        DataResource.objects.values_list("backing", flat=True)
    )
    for name in ("city-cases-by-category", "credit-records-by-department"):
        revision = DatasetRevision.objects.get(dataset__name=name, number=1)
        assert sum(revision.row_counts.values()) > 0, name
    lines = accounts.read_text(encoding="utf-8").splitlines()
    token_line = next(line for line in lines if "ckan" in line)
    assert {"data-editor", "data-steward"} <= {line.split("\t")[0] for line in lines}
    counts = (Dataset.objects.count(), DataResource.objects.count(), DatasetRevision.objects.count())
    demo_city_seed(persons=300, entities=40, accounts_file=accounts)
    assert (Dataset.objects.count(), DataResource.objects.count(), DatasetRevision.objects.count()) == counts
    raw = token_line.split("\t")[1]
    answer = Client().post("/opendata/api/3/action/package_patch", {"id": "market-entities", "notes": "修订说明"},
                           content_type="application/json", HTTP_AUTHORIZATION=raw)  # fmt: skip
    assert answer.status_code == 200, answer.content
    search = Client().get("/opendata/api/3/action/package_search?rows=0").json()
    assert search["result"]["count"] >= 20
