"""Public credit through its services: intake and its validation, publication on time, lists as of a day, repair,
signed reports, screening; each refusal changes nothing."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pytest

from rongcheng.accounts.models import Department
from rongcheng.audit.models import AuditRecord
from rongcheng.credit import selectors, services
from rongcheng.credit.errors import CreditDenied, CreditNotFound, CreditRecordInvalid, ListEntryInvalid, RepairRefused
from rongcheng.credit.models import ListEntry, ProblemRow, Record, RepairRequest, Subject
from rongcheng.credit.tests import factories as cf
from rongcheng.hall.selectors import working_days_add
from rongcheng.registries.services import person_index_for
from rongcheng.registries.tests.factories import make_entity, resident

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 12, 4)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(services, "city_today", lambda: TODAY)
    monkeypatch.setattr(selectors, "city_today", lambda: TODAY)


def test_a_penalty_is_published_with_its_fields_and_due_date():
    user = cf.reporter()
    record = services.record_report(user=user, data=cf.PENALTY)
    assert (record.kind, record.document_number, record.fine_amount) == ("penalty", "榕市监罚〔2026〕12号", Decimal(2))
    assert record.subject.key == "91350100MA2XN1Y057"
    assert record.subject.kind == "entity"
    assert record.published_on == TODAY
    assert record.due_on == working_days_add(dt.date(2026, 11, 20), 7)
    assert record.late is (record.due_on < TODAY)
    assert record.public_until == dt.date(2029, 11, 20)
    assert record.authority == "福州市市场监督管理局"
    assert record.authority_code == Department.objects.get(code="FZ-GSJ").credit_code
    # The legal representative's ID number is kept as its blind index and masked form only.
    assert record.legal_representative_index == person_index_for("350102198503120018")
    assert record.legal_representative_masked == "350102********0018"
    assert "350102198503120018" not in str(Record.objects.filter(pk=record.pk).values().get())


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("subject_code", "91350100MA2XN1Y058", "credit_code.check"),
        ("subject_code", "91350100MA2XN1YO57", "credit_code.charset"),
        ("decided_on", "2026-02-30", "date.format"),
        ("decided_on", "2026-12-05", "decided_on.future"),
        ("fine_amount", "-1", "amount.range"),
        ("fine_amount", "1.1234567", "amount.precision"),
        ("legal_representative_id", "350102198503120010", "id_number.checksum"),
        ("category", "没收", "category.choice"),
        ("authority_code", "12350100488541571", "credit_code.length"),
    ],
)
def test_invalid_fields_are_refused_and_nothing_is_stored(field, value, rule):
    user = cf.reporter()
    with pytest.raises(CreditRecordInvalid) as caught:
        services.record_report(user=user, data={**cf.PENALTY, field: value})
    assert rule in [e["rule"] for e in caught.value.errors]
    assert [e["loc"] for e in caught.value.errors if e["rule"] == rule] == [[field]]
    assert Record.objects.count() == 0
    assert Subject.objects.count() == 0
    assert ProblemRow.objects.count() == 0


def test_api_intake_returns_the_refused_row_to_the_department_masked():
    user = cf.reporter()
    with pytest.raises(CreditRecordInvalid):
        services.record_report(user=user, data={**cf.PENALTY, "decided_on": "2026-12-24"}, intake="api")
    problem = ProblemRow.objects.get()
    assert problem.department_id == user.department_id
    assert problem.state == "open"
    assert problem.data["legal_representative_id"] == "350102********0018"
    assert [e["rule"] for e in problem.errors] == ["decided_on.future"]
    assert selectors.problems_of_department(user) == [problem]
    services.problem_resolve(user=user, problem_id=problem.pk)
    assert selectors.problems_of_department(user) == []


def test_a_file_keeps_good_rows_and_queues_bad_ones_with_their_row_numbers():
    user = cf.reporter()
    header = ",".join(cf.PENALTY)
    good = ",".join(str(v) for v in cf.PENALTY.values())
    bad = good.replace("91350100MA2XN1Y057", "91350100MA2XN1Y058")
    other = good.replace("12号", "13号")
    outcome = services.records_report_file(user=user, content=f"{header}\n{good}\n{bad}\n{other}\n".encode())
    assert (outcome.accepted, outcome.refused) == (2, 1)
    assert [(p.row_number, p.errors[0]["rule"]) for p in outcome.problems] == [(3, "credit_code.check")]
    assert Record.objects.count() == 2
    # The same file again: each good row is refused as already reported, nothing doubles.
    again = services.records_report_file(user=user, content=f"{header}\n{good}\n".encode())
    assert (again.accepted, again.refused) == (0, 1)
    assert again.problems[0].errors[0]["rule"] == "source_reference.unique"


def test_only_a_reporting_department_reports_and_refusals_are_audited():
    outsider = cf.office("notreporter")
    with pytest.raises(CreditDenied):
        services.record_report(user=outsider, data=cf.PENALTY)
    assert Record.objects.count() == 0
    assert AuditRecord.objects.filter(action="credit.record.report", outcome="denied").count() == 1


def test_late_records_are_flagged_per_department_and_expired_ones_leave_public_view():
    user = cf.reporter()
    services.record_report(user=user, data={**cf.PENALTY, "decided_on": "2026-10-09"})
    services.record_report(
        user=user,
        data={**cf.PENALTY, "document_number": "旧", "decided_on": "2020-01-02", "public_until": "2023-01-02"},
    )
    on_time = services.record_report(
        user=user, data={**cf.PENALTY, "document_number": "新", "decided_on": "2026-12-01"}
    )
    figures = selectors.department_statistics(user)
    assert [(f.code, f.reported, f.on_time, f.late) for f in figures] == [("FZ-GSJ", 3, 1, 2)]
    subject = Subject.objects.get()
    assert [r.document_number for r in selectors.subject_public(subject.pk).records] == ["新", "榕市监罚〔2026〕12号"]
    assert on_time.late is False


def test_list_entries_match_as_of_their_dates():
    office = cf.office()
    cf.memorandum(user=office)
    entry = cf.listed(office, code="91350100MA2XN1Y057", name="福州某某食品有限公司", listed_on=dt.date(2026, 3, 1))
    keys = [("entity", "91350100MA2XN1Y057")]
    assert selectors.entries_in_force(keys, dt.date(2026, 2, 28)) == []
    assert selectors.entries_in_force(keys, dt.date(2026, 3, 1)) == [entry]
    services.list_entry_remove(user=office, number=entry.number, removed_on=dt.date(2026, 6, 1), reason="履行完毕")
    assert selectors.entries_in_force(keys, dt.date(2026, 5, 31)) == [entry]
    assert selectors.entries_in_force(keys, dt.date(2026, 6, 1)) == []


def test_list_entries_refuse_a_wrong_memorandum_or_code_and_non_office_accounts():
    office = cf.office()
    cf.memorandum(user=office)
    with pytest.raises(ListEntryInvalid) as caught:
        cf.listed(office, code="91350100MA2XN1Y058", name="某", list_type="red")
    assert {e["rule"] for e in caught.value.errors} == {"memorandum.known", "credit_code.check"}
    with pytest.raises(CreditDenied):
        cf.listed(cf.reporter(), code="91350100MA2XN1Y057", name="某")
    assert ListEntry.objects.count() == 0


def test_repair_of_own_record_hides_it_from_public_view_but_keeps_it():
    reporter = cf.reporter()
    person_user = resident("lin")
    id_number = "350103199001010020"
    person_user.id_number_index = person_index_for(id_number)
    person_user.save()
    other = services.record_report(user=reporter, data=cf.PENALTY)
    mine = services.record_report(
        user=reporter,
        data={**cf.PENALTY, "subject_kind": "person", "subject_code": id_number, "subject_name": "陈某",
              "legal_representative": "", "legal_representative_id": "", "document_number": "个人罚"},
    )  # fmt: skip
    with pytest.raises(CreditNotFound):
        services.repair_request(user=person_user, record_id=other.pk, statement="已整改", materials="缴款凭证")
    assert RepairRequest.objects.count() == 0
    request = services.repair_request(user=person_user, record_id=mine.pk, statement="已整改", materials="缴款凭证")
    assert request.state == "submitted"
    assert request.due_on == working_days_add(TODAY, 10)
    with pytest.raises(RepairRefused):
        services.repair_request(user=person_user, record_id=mine.pk, statement="再次", materials="x")
    office = cf.office()
    with pytest.raises(CreditDenied):
        services.repair_decide(user=reporter, request_id=request.pk, transition="approve")
    decided = services.repair_decide(user=office, request_id=request.pk, transition="approve")
    assert decided.state == "approved"
    assert selectors.subject_public(mine.subject_id).records == []
    own = selectors.subject_own(person_user)
    assert [r.document_number for r in own[0].records] == ["个人罚"]
    assert own[0].records[0].repaired_at is not None


def test_a_report_is_signed_and_verifies_and_a_changed_one_does_not():
    office = cf.office()
    reporter = cf.reporter()
    record = services.record_report(user=reporter, data=cf.PENALTY)
    report = services.report_generate(user=office, subject_id=record.subject_id)
    verification = selectors.report_verify(report.number)
    assert verification.authentic is True
    assert report.content["records"][0]["document_number"] == "榕市监罚〔2026〕12号"
    signature = base64.b64encode(bytes(report.signature)).decode()
    assert selectors.document_verify(content=report.content, key_id=report.key_id, signature_b64=signature)
    changed = {**report.content, "records": []}
    assert not selectors.document_verify(content=changed, key_id=report.key_id, signature_b64=signature)
    # Another subject's account may not have the report.
    with pytest.raises(CreditNotFound):
        services.report_generate(user=resident("someone"), subject_id=record.subject_id)


def test_screening_reports_each_row():
    office = cf.office()
    cf.memorandum(user=office)
    cf.memorandum("red", "MEMO-A", user=office)
    entity = make_entity(name="福州守信有限公司")
    cf.listed(office, code="91350100MA2XN1Y057", name="福州某某食品有限公司")
    cf.listed(office, code=entity.credit_code, name=entity.name, list_type="red", memo="MEMO-A")
    cf.listed(office, code="350102198503120018", name="王某某", kind="person")
    content = (
        "name,code\n福州某某食品有限公司,91350100MA2XN1Y057\n福州守信有限公司,"
        f"{entity.credit_code}\n王某某,350102198503120018\n无名,91350100MA2XN1Y058\n清白公司,92350102MA31GX2B31\n"
    ).encode()
    rows = services.screening_run(user=office, content=content, on=TODAY)
    assert [(r.line, r.outcome) for r in rows] == [(2, "black"), (3, "red"), (4, "black"), (5, "invalid"), (6, "none")]
    assert rows[2].name == "王**"
    assert rows[2].code_masked == "350102********0018"
    with pytest.raises(CreditDenied):
        services.screening_run(user=resident("r"), content=content)
