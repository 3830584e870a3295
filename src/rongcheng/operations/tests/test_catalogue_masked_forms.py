"""The masked forms of a resource's rows are renewed by the worker (ADR 0021, ADR 0013): an editor's change of the
personal items reaches it through the event catalogue.events.PersonalItemsChanged, and the job writes every row's form
for the items personal now, once per version of the resource."""

from __future__ import annotations

import pytest

from rongcheng.catalogue import services
from rongcheng.catalogue.models import ResourceRow, masked_form
from rongcheng.catalogue.tests import factories as f
from rongcheng.catalogue.tests.test_masked_forms import ITEMS, _random_rows, _uploaded
from rongcheng.operations import jobs
from rongcheng.operations.models import JobRun, JobState

pytestmark = pytest.mark.django_db


def test_an_editors_change_of_the_personal_items_is_worked_out_by_the_job(django_capture_on_commit_callbacks):
    resource = _uploaded(_random_rows(12, 7))
    before = dict(ResourceRow.objects.filter(resource=resource).values_list("pk", "masked"))
    items = [{**item, "personal": item["name"] in ("code", "note")} for item in ITEMS]
    with django_capture_on_commit_callbacks(execute=True):
        services.data_resource_update(code=resource.code, changes={"items": items}, actor=f.editor(resource.provider))
    assert dict(ResourceRow.objects.filter(resource=resource).values_list("pk", "masked")) == before  # not yet
    assert jobs.jobs_drain() == 1
    rows = list(ResourceRow.objects.filter(resource=resource).order_by("row_number"))
    assert [row.masked for row in rows] == [masked_form(row.data, ["code", "note"]) for row in rows]
    assert all(set(row.masked or ()) <= {"code", "note"} for row in rows)
    assert rows[0].masked != before[rows[0].pk]
    run = JobRun.objects.get(job="catalogue.masked_forms")
    resource.refresh_from_db()
    assert (run.key, run.state, run.result) == (
        f"catalogue.masked_forms:{resource.code}@{resource.version}", JobState.SUCCEEDED, 12,
    )  # fmt: skip
    # the same version handed over again (a re-delivered task) does nothing twice
    jobs.job_enqueue("catalogue.masked_forms", key=run.key, resource_code=resource.code)
    assert jobs.jobs_drain() == 1
    assert JobRun.objects.filter(job="catalogue.masked_forms").count() == 1
    assert JobRun.objects.get(pk=run.pk).result == 12
