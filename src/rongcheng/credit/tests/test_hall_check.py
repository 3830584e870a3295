"""The joint reward and punishment check inside the hall's decisions, and the 双公示 records the hall and the licences
produce by their events (delivered after commit)."""

from __future__ import annotations

import datetime as dt

import pytest

from rongcheng.credit import services as credit_services
from rongcheng.credit.models import Record
from rongcheng.credit.tests import factories as cf
from rongcheng.hall import services
from rongcheng.hall.errors import TransitionGuardFailed
from rongcheng.hall.models import Application, ApplicationCheck, ApplicationEvent, State
from rongcheng.hall.selectors import city_today
from rongcheng.hall.tests import factories as f
from rongcheng.hall.tests.entities import SERVICE, setup_company
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.licences.models import Licence
from rongcheng.registries.selectors import person_for_resident

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


def _record_all(officer, application: Application) -> None:
    for check in services.application_checks(user=officer, application_id=application.pk):
        if check.recorded_at is None:
            services.application_check_record(
                user=officer, application_id=application.pk, check_id=check.pk, applied=True
            )


def test_a_black_listed_entity_cannot_be_accepted_until_each_measure_is_recorded(company):
    entity = company["entity"]
    entry = cf.listed(company["office"], code=entity.credit_code, name=entity.name, listed_on=dt.date(2026, 1, 5))
    application = _submitted(company)
    officer = company["officer"]
    events_before = ApplicationEvent.objects.count()
    with pytest.raises(TransitionGuardFailed) as caught:
        services.application_transition(user=officer, application_id=application.pk, transition="accept")
    assert [e["loc"] for e in caught.value.errors] == [
        ["checks", "credit.joint_measures", entry.number, "M1"],
        ["checks", "credit.joint_measures", entry.number, "M2"],
    ]
    assert Application.objects.get(pk=application.pk).state == State.SUBMITTED
    assert ApplicationEvent.objects.count() == events_before

    checks = services.application_checks(user=officer, application_id=application.pk)
    assert [(c.item_reference, c.measure_code, c.seen["measure"]) for c in checks] == [
        (entry.number, "M1", "限制取得政府供应土地"),
        (entry.number, "M2", "限制参与政府采购"),
    ]
    assert "申请单位「福州闽都餐饮有限公司」列入黑名单：失信被执行人" in checks[0].seen["text"]
    with pytest.raises(ValidationFailed):
        services.application_check_record(
            user=officer, application_id=application.pk, check_id=checks[1].pk, applied=False
        )
    services.application_check_record(user=officer, application_id=application.pk, check_id=checks[0].pk, applied=True)
    with pytest.raises(TransitionGuardFailed):
        services.application_transition(user=officer, application_id=application.pk, transition="accept")
    services.application_check_record(
        user=officer, application_id=application.pk, check_id=checks[1].pk, applied=False, reason="本事项不涉及政府采购"
    )
    accepted = services.application_transition(user=officer, application_id=application.pk, transition="accept")
    assert accepted.state == State.ACCEPTED
    recorded = list(ApplicationCheck.objects.filter(application=application).values_list("applied", "reason"))
    assert recorded == [(True, ""), (False, "本事项不涉及政府采购")]


def test_the_legal_representative_is_checked_too_and_an_outsider_cannot_record(company):
    boss = person_for_resident(user=company["boss"])
    from rongcheng.registries.selectors import person_id_number_for_licence

    cf.listed(company["office"], code=person_id_number_for_licence(boss), name=boss.name, kind="person")
    application = _submitted(company)
    checks = services.application_checks(user=company["officer"], application_id=application.pk)
    assert [c.seen["text"][:5] for c in checks] == ["法定代表人", "法定代表人"]
    other = f.officer("no-decide", can_decide=False)
    from rongcheng.hall.errors import ApplicationDenied

    with pytest.raises(ApplicationDenied):
        services.application_check_record(
            user=other, application_id=application.pk, check_id=checks[0].pk, applied=True
        )
    assert not ApplicationCheck.objects.filter(recorded_at__isnull=False).exists()


def test_an_entry_removed_while_the_officer_decides_keeps_what_the_officer_saw(company):
    entity = company["entity"]
    entry = cf.listed(company["office"], code=entity.credit_code, name=entity.name)
    application = _submitted(company)
    officer = company["officer"]
    shown = services.application_checks(user=officer, application_id=application.pk)
    credit_services.list_entry_remove(user=company["office"], number=entry.number, removed_on=city_today(),
                                      reason="已履行")  # fmt: skip
    # Evaluated today the entry is gone, but what the officer was shown must still be recorded.
    with pytest.raises(TransitionGuardFailed):
        services.application_transition(user=officer, application_id=application.pk, transition="accept")
    _record_all(officer, application)
    services.application_transition(user=officer, application_id=application.pk, transition="accept")
    kept = ApplicationCheck.objects.filter(application=application).order_by("id")
    assert [c.seen for c in kept] == [c.seen for c in shown]
    assert all(c.seen["detail"]["list_name"] == "失信被执行人" for c in kept)


def test_a_clean_applicant_passes_without_items(company):
    application = _submitted(company)
    officer = company["officer"]
    assert services.application_checks(user=officer, application_id=application.pk) == []
    assert (
        services.application_transition(user=officer, application_id=application.pk, transition="accept").state
        == "accepted"
    )


def test_a_licence_issued_through_the_hall_is_published_after_commit(company, django_capture_on_commit_callbacks):
    entity = company["entity"]
    cf.listed(company["office"], code=entity.credit_code, name=entity.name)
    application = _submitted(company)
    officer = company["officer"]
    _record_all(officer, application)
    f.walk(Application.objects.get(pk=application.pk), officer, "accept", "review")
    with django_capture_on_commit_callbacks(execute=True):
        approved = services.application_transition(user=officer, application_id=application.pk, transition="approve")
        assert not Record.objects.filter(source_reference=f"licence:{approved.issued_licence}").exists()
    record = Record.objects.get(source_reference=f"licence:{approved.issued_licence}")
    licence = Licence.objects.get(identifier=approved.issued_licence)
    assert (record.kind, record.subject.key, record.subject.name) == ("licensing", entity.credit_code, entity.name)
    assert (record.licence_name, record.licence_number, record.decided_on) == (licence.title, licence.number,
                                                                                licence.issued_on)  # fmt: skip
    assert record.department == company["gsj"]
    assert record.intake == "licence"
    assert record.late is False
    assert record.legal_representative_masked == person_for_resident(user=company["boss"]).id_number_masked
    with django_capture_on_commit_callbacks(execute=True):
        services.application_transition(user=officer, application_id=application.pk, transition="conclude")
    # The conclusion of an application that issued a licence adds no second record.
    assert Record.objects.count() == 1


def test_an_approved_licensing_application_without_a_licence_is_published_at_conclusion(
    django_capture_on_commit_callbacks,
):
    item = f.service("GSJ-XK-9", kind="licensing")
    applicant = f.applicant()
    officer = f.officer()
    application = f.submitted(applicant, item)
    f.walk(application, officer, "accept", "review", "approve")
    with django_capture_on_commit_callbacks(execute=True):
        concluded = services.application_transition(user=officer, application_id=application.pk, transition="conclude")
        assert Record.objects.count() == 0
    record = Record.objects.get()
    assert record.source_reference == f"hall:{concluded.number}"
    assert record.intake == "hall"
    assert (record.subject.kind, record.subject.key) == ("person", applicant.id_number_index)
    assert record.document_number == concluded.number
    assert record.decided_on == city_today()


def test_listing_names_the_open_applications_checked_again_at_their_decision(company):
    application = _submitted(company)
    entity = company["entity"]
    entry = cf.listed(company["office"], code=entity.credit_code, name=entity.name)
    assert getattr(entry, "rescreen", None) == [application.number]
    with pytest.raises(TransitionGuardFailed):
        services.application_transition(user=company["officer"], application_id=application.pk, transition="accept")


def test_the_check_shows_the_entity_and_its_representative_entries_in_force_on_the_decision_day(company):
    office, entity = company["office"], company["entity"]
    boss = person_for_resident(user=company["boss"])
    from rongcheng.registries.selectors import person_id_number_for_licence

    cf.memorandum("red", code="MEMO-SX-RED", user=office)
    black = cf.listed(office, code=entity.credit_code, name=entity.name, listed_on=dt.date(2026, 3, 1))
    red = cf.listed(office, code=person_id_number_for_licence(boss), name=boss.name, kind="person", list_type="red",
                    memo="MEMO-SX-RED", listed_on=dt.date(2026, 2, 1))  # fmt: skip
    credit_services.list_entry_remove(user=office, number=red.number, removed_on=dt.date(2026, 6, 1), reason="期满")
    application = _submitted(company)

    def shown(on: dt.date) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
        items = credit_services.joint_measures_check(application, on)
        return [(i.reference, i.text, tuple((m.code, m.text) for m in i.measures)) for i in items]

    measures = (("M1", "限制取得政府供应土地"), ("M2", "限制参与政府采购"))
    black_text = (
        f"申请单位「{entity.name}」列入黑名单：失信被执行人（认定部门：福州市市场监督管理局，列入日期：2026-03-01，"
        "备忘录：关于对失信被执行人实施联合惩戒的合作备忘录）"
    )
    red_text = (
        f"法定代表人「{boss.name}」列入红名单：纳税信用A级纳税人（认定部门：福州市市场监督管理局，列入日期：2026-02-01，"
        "备忘录：关于对纳税信用A级纳税人实施联合激励措施的合作备忘录）"
    )
    assert shown(dt.date(2026, 1, 31)) == []
    assert shown(dt.date(2026, 2, 1)) == [(red.number, red_text, measures)]
    # Black before red, each entry's measures by code; the red entry ends the day it is removed.
    assert shown(dt.date(2026, 5, 31)) == [(black.number, black_text, measures), (red.number, red_text, measures)]
    assert shown(dt.date(2026, 6, 1)) == [(black.number, black_text, measures)]
    (item,) = credit_services.joint_measures_check(application, dt.date(2026, 6, 1))
    assert item.detail == {"list_type": "black", "list_name": "失信被执行人",
                           "legal_basis": "《最高人民法院关于公布失信被执行人名单信息的若干规定》",
                           "department": "福州市市场监督管理局", "listed_on": "2026-03-01",
                           "memorandum": "MEMO-SX"}  # fmt: skip
