"""The demo city's public credit: office, memoranda, a black- and a red-listed company, records; idempotent."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_credit_seed_lists_two_companies_other_than_the_demo_company_and_is_idempotent(tmp_path):
    from rongcheng.accounts.models import User
    from rongcheng.credit import selectors, services
    from rongcheng.credit.models import ListEntry, Memorandum, Record
    from rongcheng.demo.credit import credit_seed
    from rongcheng.demo.services import demo_city_seed
    from rongcheng.identity.selectors import representation_list_for_user

    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "accounts.txt")
    assert "credit\t" in (tmp_path / "accounts.txt").read_text(encoding="utf-8")
    assert Memorandum.objects.count() == 2
    entries = {e.list_type: e for e in ListEntry.objects.select_related("subject")}
    assert set(entries) == {"red", "black"}
    held = {r.legal_entity.credit_code for r in representation_list_for_user(user=User.objects.get(username="company"))}
    assert not held & {e.subject.key for e in entries.values()}
    assert Record.objects.count() == 4
    assert sorted(Record.objects.values_list("kind", flat=True)) == ["licensing", "penalty", "penalty", "tax_rating"]
    office = User.objects.get(username="credit")
    report = services.report_generate(user=office, subject_id=entries["black"].subject_id)
    assert selectors.report_verify(report.number).authentic
    assert credit_seed() == {"memoranda": 0, "entries": 0, "records": 0}
