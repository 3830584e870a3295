"""The credit re-screening job (ADR 0013): a list entry added in public credit reaches the worker through the event
credit.events.ListEntryChanged, and the job puts the new measures before the officer of each open application."""

from __future__ import annotations

import pytest

from rongcheng.audit.models import AuditRecord
from rongcheng.credit.tests import factories as cf
from rongcheng.credit.tests.test_rescreen import _rows, _submitted
from rongcheng.hall import services
from rongcheng.hall.errors import TransitionGuardFailed
from rongcheng.hall.models import ApplicationCheck, ApplicationEvent
from rongcheng.hall.selectors import city_today
from rongcheng.hall.tests.entities import setup_company
from rongcheng.operations import jobs
from rongcheng.operations.models import JobRun, JobState

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    setup = setup_company()
    office = cf.office()
    cf.memorandum(user=office)
    setup["office"] = office
    return setup


def test_an_entry_added_puts_its_measures_before_the_officer_through_the_job(
    company, django_capture_on_commit_callbacks
):
    application = _submitted(company)
    officer = company["officer"]
    assert services.application_checks(user=officer, application_id=application.pk) == []
    entity = company["entity"]
    with django_capture_on_commit_callbacks(execute=True):
        entry = cf.listed(company["office"], code=entity.credit_code, name=entity.name)
    assert _rows(application) == []  # nothing yet: the worker does it
    assert jobs.jobs_drain() == 1
    assert _rows(application) == [(entry.number, "M1", None), (entry.number, "M2", None)]
    rows = ApplicationCheck.objects.filter(application=application).order_by("id")
    assert [(c.transition, c.seen_on, c.seen["measure"]) for c in rows] == [
        ("accept", city_today(), "限制取得政府供应土地"), ("accept", city_today(), "限制参与政府采购"),
    ]  # fmt: skip
    run = JobRun.objects.get(job="credit.rescreen")
    assert (run.state, run.result) == (JobState.SUCCEEDED, 1)
    event = ApplicationEvent.objects.filter(application=application).order_by("-id")[0]
    assert (event.transition, event.actor_label, event.reason) == (
        "check_refresh",
        "系统",
        "信用名单变化，已重新核查联合奖惩",
    )
    audit = AuditRecord.objects.get(action="hall.application.check_refresh")
    assert (audit.target_id, audit.detail) == (str(application.pk), {"opened": 2, "withdrawn": 0})
    # The officer's page shows the same rows (no second copy) and the guard refuses until they are answered.
    assert len(services.application_checks(user=officer, application_id=application.pk)) == 2
    with pytest.raises(TransitionGuardFailed):
        services.application_transition(user=officer, application_id=application.pk, transition="accept")
