"""Re-screening of open applications when a list changes, and a red-listed applicant's fast track (容缺受理) through
the same joint-measure check."""

from __future__ import annotations

import datetime as dt

import pytest

from rongcheng.credit import selectors as credit_selectors
from rongcheng.credit import services as credit_services
from rongcheng.credit.tests import factories as cf
from rongcheng.hall import services
from rongcheng.hall.errors import TransitionGuardFailed
from rongcheng.hall.models import Application, ApplicationCheck, ApplicationEvent, State
from rongcheng.hall.selectors import city_today
from rongcheng.hall.tests import factories as f
from rongcheng.hall.tests.entities import SERVICE, setup_company

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    setup = setup_company()
    office = cf.office()
    cf.memorandum(user=office)
    setup["office"] = office
    return setup


def _submitted(company) -> Application:
    agent = company["agent"]
    application = services.application_start(
        user=agent, service_code=SERVICE, credit_code=company["entity"].credit_code
    )
    services.application_prefill(user=agent, application_id=application.pk, authorize_licences=True)
    return services.application_submit(user=agent, application_id=application.pk)


def _rows(application: Application) -> list[tuple[str, str, bool | None]]:
    return list(
        ApplicationCheck.objects.filter(application=application)
        .order_by("id")
        .values_list("item_reference", "measure_code", "applied")
    )


def test_an_entry_removed_withdraws_what_is_unanswered_and_keeps_what_the_officer_recorded(company):
    entity = company["entity"]
    entry = cf.listed(company["office"], code=entity.credit_code, name=entity.name)
    application = _submitted(company)
    officer = company["officer"]
    shown = services.application_checks(user=officer, application_id=application.pk)
    services.application_check_record(user=officer, application_id=application.pk, check_id=shown[0].pk, applied=True)
    kept_seen = ApplicationCheck.objects.get(pk=shown[0].pk).seen
    credit_services.list_entry_remove(user=company["office"], number=entry.number, removed_on=city_today(),
                                      reason="已履行")  # fmt: skip
    assert credit_services.applications_rescreen(subject_id=entry.subject_id) == 1
    assert _rows(application) == [(entry.number, "M1", True)]
    assert ApplicationCheck.objects.get(pk=shown[0].pk).seen == kept_seen
    accepted = services.application_transition(user=officer, application_id=application.pk, transition="accept")
    assert accepted.state == State.ACCEPTED
    # A second run changes nothing and notes nothing.
    events = ApplicationEvent.objects.count()
    assert credit_services.applications_rescreen(subject_id=entry.subject_id) == 0
    assert ApplicationEvent.objects.count() == events


def test_a_decided_application_keeps_its_checks_whatever_the_list_does(company):
    entity = company["entity"]
    entry = cf.listed(company["office"], code=entity.credit_code, name=entity.name)
    application = _submitted(company)
    officer = company["officer"]
    for check in services.application_checks(user=officer, application_id=application.pk):
        services.application_check_record(user=officer, application_id=application.pk, check_id=check.pk,
                                          applied=False, reason="不涉及")  # fmt: skip
    f.walk(Application.objects.get(pk=application.pk), officer, "accept", "review", "approve")
    before = _rows(application)
    events = ApplicationEvent.objects.filter(application=application).count()
    credit_services.list_entry_remove(user=company["office"], number=entry.number, removed_on=city_today(),
                                      reason="已履行")  # fmt: skip
    cf.listed(company["office"], code=entity.credit_code, name=entity.name, listed_on=dt.date(2026, 2, 1))
    assert credit_services.applications_rescreen(subject_id=entry.subject_id) == 0
    assert _rows(application) == before
    assert ApplicationEvent.objects.filter(application=application).count() == events


def test_the_daily_run_screens_again_for_entries_starting_today(company):
    application = _submitted(company)
    entity = company["entity"]
    today = city_today()
    entry = cf.listed(company["office"], code=entity.credit_code, name=entity.name, listed_on=today + dt.timedelta(3))
    assert credit_services.applications_rescreen(subject_id=entry.subject_id) == 0  # not in force yet
    assert credit_services.applications_rescreen_due(today) == 0
    assert credit_services.applications_rescreen_due(today + dt.timedelta(3)) == 1
    assert [(r, m) for r, m, _ in _rows(application)] == [(entry.number, "M1"), (entry.number, "M2")]
    # The officer's page shows the same rows (no second copy) and the guard refuses until they are answered.
    assert len(services.application_checks(user=company["officer"], application_id=application.pk)) == 2


def test_a_red_listed_applicant_gets_the_fast_track_through_the_same_check(company):
    office = company["office"]
    credit_services.memorandum_save(user=office, data={
        "code": "JL-NSA", "title": "关于对纳税信用A级纳税人实施联合激励措施的合作备忘录",
        "document_number": "发改财金〔2016〕1467号", "list_type": "red", "signed_on": "2016-07-01",
        "measures": [{"code": "R01", "text": "行政审批绿色通道，容缺受理", "departments": "各审批部门"}],
    })  # fmt: skip
    entity = company["entity"]
    entry = cf.listed(office, code=entity.credit_code, name=entity.name, list_type="red", memo="JL-NSA")
    application = _submitted(company)
    officer = company["officer"]
    with pytest.raises(TransitionGuardFailed) as caught:
        services.application_transition(user=officer, application_id=application.pk, transition="accept")
    assert [e["loc"] for e in caught.value.errors] == [["checks", "credit.joint_measures", entry.number, "R01"]]
    (check,) = services.application_checks(user=officer, application_id=application.pk)
    assert check.seen["text"].startswith("申请单位「福州闽都餐饮有限公司」列入红名单：纳税信用A级纳税人")
    assert (check.seen["measure"], check.seen["detail"]["list_type"]) == ("行政审批绿色通道，容缺受理", "red")
    services.application_check_record(user=officer, application_id=application.pk, check_id=check.pk, applied=True)
    assert (
        services.application_transition(user=officer, application_id=application.pk, transition="accept").state
        == State.ACCEPTED
    )
    # Reported back to the credit office with the officer's answer.
    (feedback,) = credit_selectors.joint_measure_feedback(office)
    assert (feedback.item_reference, feedback.measure_code, feedback.applied) == (entry.number, "R01", True)
