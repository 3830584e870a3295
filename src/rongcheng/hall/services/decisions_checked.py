"""The decision checks (hall.checks) an officer records before accepting or deciding."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from rongcheng.accounts.models import User
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.hall import calendar as working
from rongcheng.hall.checks import (
    CHECKED_TRANSITIONS,
    checks_open,
    checks_refresh,
)
from rongcheng.hall.errors import (
    ApplicationDenied,
    ApplicationNotFound,
    TransitionNotAllowed,
)
from rongcheng.hall.models import (
    Application,
    ApplicationCheck,
    State,
)
from rongcheng.hall.permissions import (
    may_act,
)
from rongcheng.hall.services._shared import MAX_REASON, _denied, _event
from rongcheng.hall.workflow import transitions_from
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.errors import ValidationFailed


def _checked_application(user: Account, application_id: int, action: str) -> Application:
    application = (
        Application.objects.select_related("service", "legal_entity", "applicant").filter(pk=application_id).first()
    )
    if application is None or application.state == State.DRAFT:
        raise ApplicationNotFound(f"No application {application_id}.")
    if not may_act(user, application, any_window=application.state == State.SUBMITTED):
        _denied(user, action, application_id, {"why": "not an officer of the application"})
        raise ApplicationDenied("This account may not decide applications of this service.")
    return application


def application_checks(*, user: Account, application_id: int) -> list[ApplicationCheck]:
    """The check items of an application for the officer about to accept or decide it: the items due today are
    kept as shown (a row each, once) and returned with those answered before."""
    application = _checked_application(user, application_id, "hall.application.checks")
    upcoming = [t.name for t in transitions_from(application.state, "officer") if t.name in CHECKED_TRANSITIONS]
    if not upcoming:
        return list(ApplicationCheck.objects.filter(application=application).order_by("id"))
    return checks_open(application, working.today(), upcoming[0])


def application_check_record(
    *, user: User, application_id: int, check_id: int, applied: bool, reason: str = ""
) -> ApplicationCheck:
    """The officer's answer for one measure: applied, or not applied with a reason. Answered once."""
    reason = reason.strip()
    if not applied and not reason:
        raise ValidationFailed(
            "A measure not applied needs the reason.",
            errors=[{"loc": ["reason"], "rule": "reason.required", "msg": "required when not applied"}],
        )
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "The reason is too long.", errors=[{"loc": ["reason"], "rule": "max_length", "msg": f"<= {MAX_REASON}"}]
        )
    application = _checked_application(user, application_id, "hall.application.check_record")
    with transaction.atomic():
        check = ApplicationCheck.objects.select_for_update().filter(pk=check_id, application=application).first()
        if check is None:
            raise ApplicationNotFound(f"Application {application_id} has no check item {check_id}.")
        if check.recorded_at is not None:
            raise TransitionNotAllowed("This check item is already recorded.")
        check.applied = applied
        check.reason = reason
        check.officer = user
        check.officer_label = getattr(user, "display_name", "") or user.get_username()
        check.recorded_at = timezone.now()
        check.save()
        _event(application, "check_record", application.state, application.state, user,
               f"{check.seen.get('text', '')[:80]} · {check.seen.get('measure', '')[:80]}")  # fmt: skip
        audit_record(
            action="hall.application.check_record", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
            detail={"source": check.source, "item": check.item_reference, "measure": check.measure_code,
                    "applied": applied},
        )  # fmt: skip
    return check


# States whose acceptance or decision is still ahead: a changed list is checked again for them.
DECISION_AHEAD = frozenset({State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW, State.CORRECTION,
                            State.COUNTERSIGNING, State.SUSPENDED})  # fmt: skip


def application_checks_refresh(*, application_id: int, why: str, on: dt.date | None = None) -> tuple[int, int]:
    """Run the decision checks again for an application whose acceptance or decision is ahead (the system, when
    what a check reads has changed: a list entry added or removed): items now due are put before the officer,
    unanswered items no longer due are withdrawn, answered ones stay as seen. A change is noted on the timeline
    and audited. Returns (opened, withdrawn); (0, 0) for an application already decided."""
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",)).select_related("legal_entity", "applicant")
            .filter(pk=application_id).first()
        )  # fmt: skip
        if application is None or application.state not in DECISION_AHEAD:
            return 0, 0
        transition = "accept" if application.state == State.SUBMITTED else "approve"
        opened, withdrawn = checks_refresh(application, on or working.today(), transition)
        if opened or withdrawn:
            _event(application, "check_refresh", application.state, application.state, None, why[:200])
            audit_record(
                action="hall.application.check_refresh", actor=Actor.system("hall"), target_type="hall.application",
                target_id=application.pk, detail={"opened": opened, "withdrawn": withdrawn},
            )  # fmt: skip
    return opened, withdrawn
