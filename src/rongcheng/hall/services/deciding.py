"""Deciding: every change of an application's state through its transition table; paid fees; countersigns."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from rongcheng.audit.services import Actor, actor_from_user, audit_record, audit_record_row
from rongcheng.card.events import BillPaid
from rongcheng.hall import calendar as working
from rongcheng.hall.errors import (
    ApplicationDenied,
    ApplicationNotFound,
    RepresentationInactive,
    TransitionGuardFailed,
    TransitionNotAllowed,
    TransitionUnknown,
)
from rongcheng.hall.models import (
    Application,
    ApplicationEvent,
    Countersign,
    CountersignState,
)
from rongcheng.hall.permissions import (
    acts_for_party,
    is_officer,
    may_act,
    officer_department,
    owns,
)
from rongcheng.hall.services._shared import MAX_REASON, MESSAGES, _denied, _event, _event_row, _message_row, _notify
from rongcheng.hall.services.applying import _party_check, application_save
from rongcheng.hall.workflow import TRANSITIONS, ApplicationTransition, Step, application_locked
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.errors import ValidationFailed


def application_transition(
    *,
    user: Account | None,
    application_id: int,
    transition: str,
    reason: str = "",
    departments: Iterable[str] = (),
    check: Callable[[Application], None] | None = None,
) -> Application:
    """Take one transition of the table. Officers need the decide permission and the service's department (any
    window for acceptance of a 全城通办 service); applicants only their own application; `system` transitions are
    taken by the services themselves. The row is locked and updated only if its version is unchanged."""
    step = TRANSITIONS.get(transition)
    if step is None:
        raise TransitionUnknown(
            f"{transition!r} is not a transition of an application.",
            errors=[{"loc": ["transition"], "rule": "transition.known", "msg": "not in the table"}],
        )
    reason = reason.strip()
    if step.needs_reason and not reason:
        raise TransitionGuardFailed(
            f"{step.label} needs a reason.", errors=[{"loc": ["reason"], "rule": "reason.required", "msg": "required"}]
        )
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "The reason is too long.", errors=[{"loc": ["reason"], "rule": "max_length", "msg": f"<= {MAX_REASON}"}]
        )
    try:
        with transaction.atomic():
            application = application_locked(application_id, step)
            if application is None:
                raise ApplicationNotFound(f"No application {application_id}.")
            _authorize(user, application, step)
            if application.state not in step.sources:
                raise TransitionNotAllowed(
                    f"{step.label} is not possible: the application is {application.get_state_display()} "
                    f"({application.state}).",
                    state=application.state,
                )
            if check is not None:
                check(application)
            return _apply(user, application, step, reason, list(departments))
    except ApplicationDenied as exc:
        _denied(user, f"hall.application.{transition}", application_id, {"why": exc.detail})
        raise


def _authorize(user: Account | None, application: Application, step: ApplicationTransition) -> None:
    if step.role == "system":
        if user is not None and user.is_authenticated:
            raise ApplicationDenied(f"{step.label} happens by itself; nobody takes it by hand.")
        return
    if step.role == "applicant":
        if not owns(user, application):
            raise ApplicationNotFound(f"You have no application {application.pk}.")
        if not acts_for_party(user, application):
            raise RepresentationInactive("The account no longer represents the legal entity this application is for.")
        return
    if not may_act(user, application, any_window=step.any_window):
        raise ApplicationDenied("This account may not decide applications of this service.")


def _apply(
    user: Account | None, application: Application, step: ApplicationTransition, reason: str, departments: list[str]
) -> Application:
    """The row's guards, then its effects (the guarded write among them), as `hall.workflow` declares them; and
    what every transition does: the timeline event, the applicant's message and the audit record, written with the
    state by the guarded write (so the audit record precedes the records of the row's `after` effects)."""
    source = application.state
    context = Step(
        user=user, application=application, reason=reason, departments=departments,
        source=source, today=working.today(),
        changes={"state": step.target, "version": application.version + 1, "updated_at": timezone.now()},
    )  # fmt: skip
    actor_user = user if step.role != "system" else None
    template = MESSAGES.get(step.name)

    def riders() -> list[Model]:  # built by `state_written` once the changes are on the application
        rows: list[Model] = [_event_row(application, step.name, source, step.target, actor_user, reason)]
        if template:
            rows.append(
                _message_row(
                    application,
                    template,
                    number=application.number or "",
                    reason=reason,
                    deadline=str(application.deadline or ""),
                    promised=str(application.promised_deadline or ""),
                )
            )
        audit = audit_record_row(
            action=f"hall.application.{step.name}",
            actor=actor_from_user(user) if actor_user is not None else Actor.system("hall"),
            target_type="hall.application", target_id=application.pk, source_address=current_address(),
            detail={"from": source, "to": step.target, "number": application.number or "", "reason": reason[:200]},
        )  # fmt: skip
        return [*rows, audit]

    context.riders = riders
    step.check(context)
    step.carry_out(context)
    if context.riders is not None:  # a table row without the guarded write (none today): written here
        for row in context.riders():
            row.save(force_insert=True)
    return application


def fee_paid_record(event: BillPaid) -> None:
    """The city card announced a paid bill (card.events.BillPaid, subscribed in apps.ready): if it is the fee of an
    application (its reference, workflow.fee_reference), the payment is noted on the application's timeline and the
    audit trail and the applicant is told; the officer may then conclude it (the `fee_paid` guard). Noted once per
    receipt, however often the event is delivered."""
    if not event.reference.startswith("hall:"):
        return
    with transaction.atomic():
        application = (
            Application.objects.select_for_update(of=("self",))
            .select_related("service", "applicant")
            .filter(number=event.reference.removeprefix("hall:"), department_id=event.department_id)
            .first()
        )
        if application is None:
            return
        reason = f"已缴费 {event.amount // 100}.{event.amount % 100:02d} 元，票据号 {event.receipt_number}"
        if ApplicationEvent.objects.filter(application=application, transition="fee_paid", reason=reason).exists():
            return
        _event(application, "fee_paid", application.state, application.state, None, reason)
        audit_record(
            action="hall.application.fee_paid", actor=Actor.system("hall"), target_type="hall.application",
            target_id=application.pk,
            detail={"number": application.number or "", "amount": event.amount, "receipt": event.receipt_number},
        )  # fmt: skip
        _notify(application, f"您的申请 {application.number} 费用已缴纳（票据号 {event.receipt_number}），等待办结。")


def application_submit(*, user: Account, application_id: int) -> Application:
    return application_transition(user=user, application_id=application_id, transition="submit")


def application_resubmit(*, user: Account, application_id: int, statement: str | None = None) -> Application:
    """The applicant's corrected application goes back to review; the clock runs again."""
    _party_check(user, application_id, "hall.application.resubmit")
    with transaction.atomic():
        if statement is not None:
            application_save(user=user, application_id=application_id, statement=statement)
        return application_transition(user=user, application_id=application_id, transition="resubmit")


def countersign_answer(*, user: Account, application_id: int, agree: bool, opinion: str) -> Countersign:
    """A countersigning department's answer; the last answer returns the application to review."""
    if not is_officer(user):
        _denied(user, "hall.countersign.answer", application_id, {"why": "not an officer"})
        raise ApplicationDenied("Only officers countersign.")
    with transaction.atomic():
        countersign = (
            Countersign.objects.select_for_update()
            .filter(
                application_id=application_id, department_id=officer_department(user), state=CountersignState.PENDING
            )
            .first()
        )
        if countersign is None:
            raise TransitionNotAllowed("Your department has no pending countersign on this application.")
        countersign.state = CountersignState.AGREED if agree else CountersignState.DISAGREED
        countersign.opinion = opinion.strip()[:MAX_REASON]
        countersign.officer_label = getattr(user, "display_name", "") or user.get_username()
        countersign.answered_at = timezone.now()
        countersign.save()
        audit_record(
            action="hall.countersign.answer", actor=actor_from_user(user), target_type="hall.application",
            target_id=application_id, source_address=current_address(), detail={"agree": agree},
        )  # fmt: skip
        application = Application.objects.get(pk=application_id)
        _event(application, "countersign", application.state, application.state, user, countersign.opinion)
        if not Countersign.objects.filter(application_id=application_id, state=CountersignState.PENDING).exists():
            application_transition(user=None, application_id=application_id, transition="countersign_complete")
    return countersign
