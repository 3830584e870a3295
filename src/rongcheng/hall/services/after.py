"""After conclusion: the applicant's rating, the department's follow-up answer, messages read."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from rongcheng.audit.services import actor_from_user, audit_record
from rongcheng.hall.errors import (
    ApplicationDenied,
    ApplicationNotFound,
    FollowUpNotFound,
    RatingRefused,
)
from rongcheng.hall.models import (
    Application,
    FollowUp,
    Message,
    Rating,
    State,
)
from rongcheng.hall.permissions import (
    is_officer,
    owns,
)
from rongcheng.hall.services._shared import MAX_REASON, MESSAGES, _notify
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.errors import ValidationFailed

POOR_RATING = 2


def application_rate(*, user: Account, application_id: int, level: int, comment: str = "") -> Rating:
    """The applicant's rating (1 非常不满意 … 5 非常满意) of a concluded application; ≤ 2 opens a follow-up."""
    if not 1 <= level <= 5:
        raise ValidationFailed("A rating is 1 to 5.", errors=[{"loc": ["level"], "rule": "level.range", "msg": "1..5"}])
    with transaction.atomic():
        application = Application.objects.select_for_update().filter(pk=application_id).first()
        if application is None or not owns(user, application):
            raise ApplicationNotFound(f"You have no application {application_id}.")
        if application.state != State.CONCLUDED:
            raise RatingRefused("Rate an application once it is concluded.", state=application.state)
        if Rating.objects.filter(application=application).exists():
            raise RatingRefused("This application is already rated.")
        rating = Rating.objects.create(application=application, level=level, comment=comment.strip()[:MAX_REASON])
        if level <= POOR_RATING:
            FollowUp.objects.create(rating=rating, department_id=application.department_id)
        audit_record(
            action="hall.application.rate", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(), detail={"level": level},
        )  # fmt: skip
    return rating


def follow_up_answer(*, user: Account, follow_up_id: int, answer: str) -> FollowUp:
    """The department's answer to a poor rating; the applicant is told."""
    answer = answer.strip()
    if not answer:
        raise ValidationFailed("Write an answer.", errors=[{"loc": ["answer"], "rule": "required", "msg": "required"}])
    with transaction.atomic():
        follow_up = (
            FollowUp.objects.select_for_update().select_related("rating__application__service")
            .filter(pk=follow_up_id).first()
        )  # fmt: skip
        if follow_up is None:
            raise FollowUpNotFound(f"No follow-up {follow_up_id}.")
        if not is_officer(user) or follow_up.department_id != user.department_id:
            raise ApplicationDenied("Only the department's officers answer its follow-ups.")
        if follow_up.answered_at is not None:
            raise RatingRefused("This follow-up is already answered.")
        follow_up.answer = answer[:MAX_REASON]
        follow_up.answered_by = getattr(user, "display_name", "") or user.get_username()
        follow_up.answered_at = timezone.now()
        follow_up.save()
        application = follow_up.rating.application
        _notify(
            application, MESSAGES["answer"], number=application.number or "", department=str(application.department),
            answer=answer[:500],
        )  # fmt: skip
        audit_record(
            action="hall.follow_up.answer", actor=actor_from_user(user), target_type="hall.application",
            target_id=application.pk, source_address=current_address(),
        )  # fmt: skip
    return follow_up


def message_mark_read(*, user: Account, message_id: int) -> None:
    Message.objects.filter(pk=message_id, recipient_id=user.pk, read_at__isnull=True).update(read_at=timezone.now())
