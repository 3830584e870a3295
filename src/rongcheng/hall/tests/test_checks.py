"""The hall's decision-check extension point, generic: a registered check's items must each be recorded before the
accept and decide transitions, whichever way they are called; what the officer was shown is kept."""

from __future__ import annotations

import datetime as dt

import pytest

from rongcheng.hall import services
from rongcheng.hall.checks import decision_check_unregister
from rongcheng.hall.errors import ApplicationDenied, TransitionGuardFailed
from rongcheng.hall.models import Application, ApplicationCheck
from rongcheng.hall.services import CheckItem, CheckMeasure, decision_check_register
from rongcheng.hall.tests import factories as f
from rongcheng.kernel.errors import ValidationFailed

pytestmark = pytest.mark.django_db
SHOWN: list[CheckItem] = []


def _check(application: Application, on: dt.date) -> list[CheckItem]:
    return list(SHOWN)


@pytest.fixture
def registered():
    SHOWN[:] = [CheckItem("ITEM-1", "申请人需要核查", (CheckMeasure("A", "措施甲"), CheckMeasure("B", "措施乙")))]
    decision_check_register("tests.check", _check)
    yield
    decision_check_unregister("tests.check")
    SHOWN.clear()


def test_each_item_is_recorded_before_accepting_and_the_snapshot_stays(registered):
    officer = f.officer()
    application = f.submitted(f.applicant(), f.service())
    with pytest.raises(TransitionGuardFailed) as caught:
        services.application_transition(user=officer, application_id=application.pk, transition="accept")
    assert [e["loc"] for e in caught.value.errors] == [["checks", "tests.check", "ITEM-1", "A"],
                                                       ["checks", "tests.check", "ITEM-1", "B"]]  # fmt: skip
    rows = services.application_checks(user=officer, application_id=application.pk)
    assert [(r.measure_code, r.seen["measure"], r.transition) for r in rows] == [("A", "措施甲", "accept"),
                                                                                ("B", "措施乙", "accept")]  # fmt: skip
    with pytest.raises(ValidationFailed):
        services.application_check_record(user=officer, application_id=application.pk, check_id=rows[1].pk,
                                          applied=False)  # fmt: skip
    with pytest.raises(ApplicationDenied):
        services.application_check_record(user=f.applicant(), application_id=application.pk, check_id=rows[0].pk,
                                           applied=True)  # fmt: skip
    SHOWN.clear()  # the item disappears meanwhile: what was shown must still be answered
    with pytest.raises(TransitionGuardFailed):
        services.application_transition(user=officer, application_id=application.pk, transition="accept")
    services.application_check_record(user=officer, application_id=application.pk, check_id=rows[0].pk, applied=True)
    services.application_check_record(user=officer, application_id=application.pk, check_id=rows[1].pk,
                                      applied=False, reason="不适用")  # fmt: skip
    accepted = services.application_transition(user=officer, application_id=application.pk, transition="accept")
    assert accepted.state == "accepted"
    assert list(ApplicationCheck.objects.values_list("measure_code", "applied", "reason")) == [
        ("A", True, ""), ("B", False, "不适用")
    ]  # fmt: skip
