"""Deadlines: applications near or past their deadline flagged and escalated."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from rongcheng.audit.services import Actor, audit_record
from rongcheng.hall import calendar as working
from rongcheng.hall.models import (
    Application,
    Flag,
)
from rongcheng.hall.services._shared import NEAR_DEADLINE_WORKING_DAYS, _event
from rongcheng.hall.workflow import RUNNING


def applications_escalate(*, today: dt.date | None = None) -> dict[str, int]:
    """Flag running applications overdue or within NEAR_DEADLINE_WORKING_DAYS of their deadline, and escalate each
    newly flagged one (an event on its timeline, an audit record). Run periodically (`rongcheng manage
    hall_escalate`); each run changes only applications whose flag changes."""
    today = today or working.today()
    near_limit = working.working_days_add(today, NEAR_DEADLINE_WORKING_DAYS)
    counts = {"overdue": 0, "near": 0}
    running = Application.objects.filter(state__in=RUNNING, deadline__isnull=False)
    for flag, qs in (
        (Flag.OVERDUE, running.filter(deadline__lt=today).exclude(flag=Flag.OVERDUE)),
        (Flag.NEAR, running.filter(deadline__gte=today, deadline__lte=near_limit, flag=Flag.NONE)),
    ):
        for application_id in list(qs.values_list("pk", flat=True)):
            with transaction.atomic():
                changed = (
                    Application.objects.filter(pk=application_id, state__in=RUNNING)
                    .exclude(flag=flag)
                    .update(flag=flag, escalated_at=timezone.now())
                )
                if not changed:
                    continue
                application = Application.objects.get(pk=application_id)
                _event(application, f"escalate_{flag}", application.state, application.state, None, "")
                audit_record(
                    action="hall.application.escalate", actor=Actor.system("hall"), target_type="hall.application",
                    target_id=application_id, detail={"flag": str(flag), "deadline": str(application.deadline)},
                )  # fmt: skip
                counts[str(flag)] += 1
    return counts
