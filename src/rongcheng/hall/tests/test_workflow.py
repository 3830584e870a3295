"""The declared lifecycle: every row of the transition table walked through the services, and refusals."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import translation

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import services
from rongcheng.hall.errors import (
    ApplicationDenied,
    ApplicationNotFound,
    AssuranceTooLow,
    TransitionGuardFailed,
    TransitionNotAllowed,
    TransitionUnknown,
)
from rongcheng.hall.models import Application, ApplicationEvent, Countersign, FollowUp, Message, State
from rongcheng.hall.tests import factories as f
from rongcheng.hall.workflow import TRANSITIONS, transitions_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    item = f.service()
    return item, f.applicant(email="lin@example.cn"), f.officer()


def test_the_table_is_walked_by_these_paths():
    """Every transition of the table is taken by one of the paths below (kept in step with the table)."""
    walked = {"submit", "accept", "not_accept", "review", "return_for_correction", "resubmit", "request_countersign",
              "countersign_complete", "suspend", "resume", "approve", "refuse", "conclude"}  # fmt: skip
    assert walked == set(TRANSITIONS)


def test_full_path_with_correction_suspension_and_approval(setup, django_capture_on_commit_callbacks):
    item, resident, officer = setup
    with django_capture_on_commit_callbacks(execute=True):
        application = f.submitted(resident, item)
        assert application.state == State.SUBMITTED
        assert application.number is not None
        assert application.number.startswith("FZ-GSJ-")
        application = f.walk(application, officer, "accept", "review", "return_for_correction", "resubmit",
                             "suspend", "resume", "approve", "conclude")  # fmt: skip
    assert application.state == State.CONCLUDED
    transitions = list(ApplicationEvent.objects.filter(application=application).values_list("transition", flat=True))
    assert transitions == ["start", "submit", "accept", "review", "return_for_correction", "resubmit", "suspend",
                           "resume", "approve", "conclude"]  # fmt: skip
    actions = set(AuditRecord.objects.filter(target_type="hall.application").values_list("action", flat=True))
    assert {"hall.application.accept", "hall.application.approve", "hall.application.conclude"} <= actions
    assert application.messages.count() == 8  # every transition but review tells the applicant
    assert len(mail.outbox) == 8  # and by email too
    assert mail.outbox[0].to == ["lin@example.cn"]
    assert str(application.number) in str(mail.outbox[-1].subject)


def test_refusal_carries_the_reason_and_the_remedy(setup):
    item, resident, officer = setup
    application = f.walk(f.submitted(resident, item), officer, "accept", "review")
    application = services.application_transition(
        user=officer, application_id=application.pk, transition="refuse", reason="经营场所不符合要求"
    )
    assert application.state == State.REFUSED
    assert application.decision_reason == "经营场所不符合要求"
    assert "行政复议" in application.messages.order_by("-id")[0].text
    f.walk(application, officer, "conclude")


def test_the_applicant_reads_each_message_in_their_own_language(setup):
    """Messages are kept as their sentence and its values, so a reader of the English pages reads them in English
    (the values as written), and the Chinese text as sent stays for the record and the e-mail."""
    item, resident, officer = setup
    application = f.walk(f.submitted(resident, item), officer, "accept", "review")
    services.application_transition(
        user=officer, application_id=application.pk, transition="refuse", reason="经营场所不符合要求"
    )
    messages = list(Message.objects.filter(application=application).order_by("id"))
    submitted, refusal = messages[0], messages[-1]
    number = application.number
    with translation.override("en"):
        assert submitted.shown == f"Your application has been submitted; its number is {number}."
        assert refusal.shown.startswith(f"Your application {number} has been refused. Reason: 经营场所不符合要求. ")
        assert "administrative reconsideration within sixty days" in refusal.shown
    with translation.override("zh-hans"):
        assert submitted.shown == submitted.text == f"您的申请已提交，办件编号 {number}。"
        assert refusal.shown == refusal.text
    # a sentence the catalogue no longer knows, or values that do not fit it, read as sent
    Message.objects.filter(pk=submitted.pk).update(params={})
    with translation.override("en"):
        assert Message.objects.get(pk=submitted.pk).shown == f"您的申请已提交，办件编号 {number}。"


def test_not_accepted_is_final(setup):
    item, resident, officer = setup
    application = f.walk(f.submitted(resident, item), officer, "not_accept", reason="不属于本部门职权范围")
    assert application.state == State.NOT_ACCEPTED
    assert transitions_from(application.state) == []


def test_countersign_returns_to_review_when_every_department_answered(setup):
    item, resident, officer = setup
    other = f.department("FZ-WJW", "福州市卫生和计划生育委员会")
    third = f.department("FZ-CGW", "福州市城市管理委员会")
    application = f.walk(f.submitted(resident, item), officer, "accept", "review")
    application = services.application_transition(
        user=officer, application_id=application.pk, transition="request_countersign",
        departments=["FZ-WJW", "FZ-CGW"],
    )  # fmt: skip
    assert application.state == State.COUNTERSIGNING
    services.countersign_answer(user=f.officer(dept=other), application_id=application.pk, agree=True, opinion="同意")
    assert Application.objects.get(pk=application.pk).state == State.COUNTERSIGNING
    services.countersign_answer(user=f.officer(dept=third), application_id=application.pk, agree=False, opinion="否")
    assert Application.objects.get(pk=application.pk).state == State.UNDER_REVIEW
    assert sorted(Countersign.objects.values_list("state", flat=True)) == ["agreed", "disagreed"]


def test_countersign_complete_cannot_be_taken_by_hand(setup):
    item, resident, officer = setup
    application = f.walk(f.submitted(resident, item), officer, "accept", "review")
    services.application_transition(
        user=officer, application_id=application.pk, transition="request_countersign", departments=["FZ-WJW"]
    ) if f.department("FZ-WJW", "福州市卫生和计划生育委员会") else None
    with pytest.raises(ApplicationDenied):
        services.application_transition(user=officer, application_id=application.pk, transition="countersign_complete")


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ((), "review"), ((), "approve"), (("accept",), "approve"), (("accept",), "accept"),
        (("accept", "review", "approve"), "refuse"), (("accept", "review", "suspend"), "approve"),
        (("accept", "review", "return_for_correction"), "approve"),
    ],
)  # fmt: skip
def test_a_transition_from_the_wrong_state_is_refused_and_changes_nothing(setup, path, refused):
    item, resident, officer = setup
    application = f.walk(f.submitted(resident, item), officer, *path)
    before = Application.objects.filter(pk=application.pk).values().get()
    events, audits = ApplicationEvent.objects.count(), AuditRecord.objects.count()
    with pytest.raises(TransitionNotAllowed) as caught:
        services.application_transition(user=officer, application_id=application.pk, transition=refused, reason="x")
    assert caught.value.status == 409
    assert Application.objects.filter(pk=application.pk).values().get() == before
    assert (ApplicationEvent.objects.count(), AuditRecord.objects.count()) == (events, audits)


def test_a_transition_not_in_the_table_is_refused(setup):
    item, resident, officer = setup
    application = f.submitted(resident, item)
    with pytest.raises(TransitionUnknown):
        services.application_transition(user=officer, application_id=application.pk, transition="publish")
    assert Application.objects.get(pk=application.pk).state == State.SUBMITTED


def test_reasons_are_required_where_the_table_says(setup):
    item, resident, officer = setup
    application = f.submitted(resident, item)
    with pytest.raises(TransitionGuardFailed):
        services.application_transition(user=officer, application_id=application.pk, transition="not_accept")
    assert Application.objects.get(pk=application.pk).state == State.SUBMITTED


def test_submission_needs_every_required_material(setup):
    item, resident, _ = setup
    application = services.application_start(user=resident, service_code=item.code)
    with pytest.raises(TransitionGuardFailed) as caught:
        services.application_submit(user=resident, application_id=application.pk)
    assert {e["loc"][1] for e in caught.value.errors} == {"identity", "premises"}
    assert Application.objects.get(pk=application.pk).state == State.DRAFT


def test_below_the_assurance_level_nothing_is_started(setup):
    item, _, _ = setup
    weak = f.applicant(level=1)
    with pytest.raises(AssuranceTooLow):
        services.application_start(user=weak, service_code=item.code)
    assert not Application.objects.exists()


def test_officers_of_other_departments_only_accept_any_window_services(setup):
    item, resident, _ = setup
    window = f.officer(dept=f.department("FZ-MZJ", "福州市民政局"))
    application = f.walk(f.submitted(resident, item), window, "accept")
    assert application.window_id == window.department_id
    with pytest.raises(ApplicationDenied):
        services.application_transition(user=window, application_id=application.pk, transition="review")
    local = f.service("GSJ-002", any_window=False)
    other = f.submitted(resident, local)
    with pytest.raises(ApplicationDenied):
        services.application_transition(user=window, application_id=other.pk, transition="accept")
    assert AuditRecord.objects.filter(action="hall.application.accept", outcome="denied").count() == 1


def test_officer_without_permission_and_other_applicants_are_refused(setup):
    item, resident, _ = setup
    application = f.submitted(resident, item)
    with pytest.raises(ApplicationDenied):
        services.application_transition(user=f.officer(can_decide=False), application_id=application.pk,
                                        transition="accept")  # fmt: skip
    with pytest.raises(ApplicationNotFound):
        services.application_resubmit(user=f.applicant(), application_id=application.pk)
    assert Application.objects.get(pk=application.pk).state == State.SUBMITTED


def test_numbers_are_sequential_per_department_and_day(setup):
    item, resident, _ = setup
    first, second = f.submitted(resident, item), f.submitted(resident, item)
    assert first.number
    assert second.number
    assert int(second.number[-6:]) == int(first.number[-6:]) + 1
    assert first.number[:-6] == second.number[:-6]


def test_a_poor_rating_opens_a_follow_up_that_must_be_answered(setup):
    item, resident, officer = setup
    application = f.walk(f.submitted(resident, item), officer, "accept", "review", "approve", "conclude")
    rating = services.application_rate(user=resident, application_id=application.pk, level=2, comment="太慢")
    follow_up = FollowUp.objects.get(rating=rating)
    assert follow_up.department_id == officer.department_id
    services.follow_up_answer(user=officer, follow_up_id=follow_up.pk, answer="已整改，缩短审查时间")
    follow_up.refresh_from_db()
    assert follow_up.answered_at is not None
    assert "已整改" in application.messages.order_by("-id")[0].text


def test_a_good_rating_opens_nothing_and_rating_before_conclusion_is_refused(setup):
    item, resident, officer = setup
    application = f.walk(f.submitted(resident, item), officer, "accept")
    from rongcheng.hall.errors import RatingRefused

    with pytest.raises(RatingRefused):
        services.application_rate(user=resident, application_id=application.pk, level=5)
    f.walk(application, officer, "review", "approve", "conclude")
    services.application_rate(user=resident, application_id=application.pk, level=5)
    assert not FollowUp.objects.exists()
    with pytest.raises(RatingRefused):
        services.application_rate(user=resident, application_id=application.pk, level=1)


def test_transition_labels_are_translated():
    from django.utils import translation

    with translation.override("en"):
        english = {name: str(t.label) for name, t in TRANSITIONS.items()}
    with translation.override("zh-hans"):
        chinese = {name: str(t.label) for name, t in TRANSITIONS.items()}
    assert (english["accept"], chinese["accept"]) == ("Accept", "受理")
    assert english["return_for_correction"] == "Return for correction"
    assert all(english[name] != chinese[name] for name in TRANSITIONS)
