"""What the hall's services share: the timeline event, the applicant's message, the refusal record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils.translation import gettext_noop

from rongcheng.audit.services import actor_from_user, audit_record
from rongcheng.hall.models import (
    Application,
    ApplicationEvent,
    Message,
)
from rongcheng.kernel.context import Account, current_address

NEAR_DEADLINE_WORKING_DAYS = 2
REMEDY = gettext_noop(
    "如不服本决定，可自收到本决定之日起六十日内向福州市人民政府申请行政复议，"
    "或者自收到本决定之日起六个月内向有管辖权的人民法院提起行政诉讼。"
)
MAX_REASON = 2000


def _denied(user: Account | None, action: str, application_id: int | str, detail: Mapping[str, Any]) -> None:
    """A refusal keeps its trace: written outside the transaction that failed."""
    audit_record(
        action=action, actor=actor_from_user(user), outcome="denied", target_type="hall.application",
        target_id=application_id, source_address=current_address(), detail=dict(detail),
    )  # fmt: skip


def _event_row(
    application: Application, name: str, source: str, target: str, user: Account | None, reason: str
) -> ApplicationEvent:
    """The timeline event of a step, not yet written."""
    return ApplicationEvent(
        application=application, transition=name, from_state=source, to_state=target,
        actor_id=str(user.pk) if user is not None and user.is_authenticated else "",
        actor_label=(getattr(user, "display_name", "") or user.get_username()) if user is not None else "系统",
        department_id=getattr(user, "department_id", None) if user is not None else None, reason=reason,
    )  # fmt: skip


def _event(application: Application, name: str, source: str, target: str, user: Account | None, reason: str) -> None:
    _event_row(application, name, source, target, user, reason).save(force_insert=True)


def _message_row(application: Application, template: str, **params: str) -> Message:
    """The applicant's message, not yet written; its e-mail (when the applicant has an address) is sent once the
    transaction commits."""
    text = template.format(**params)
    message = Message(
        recipient_id=application.applicant_id, application=application, text=text, template=template, params=params
    )
    _mail_on_commit(application, text)
    return message


def _notify(application: Application, template: str, **params: str) -> None:
    _message_row(application, template, **params).save(force_insert=True)


def _mail_on_commit(application: Application, text: str) -> None:
    email = application.applicant.email
    if email:
        subject = f"[榕城网上办事大厅] {application.number or ''} {application.service.name}"

        def send() -> None:
            send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=True)

        transaction.on_commit(send)


MESSAGES = {  # the msgids of the applicant's messages: stored with their parameters, shown in the reader's language
    "submit": gettext_noop("您的申请已提交，办件编号 {number}。"),
    "accept": gettext_noop("您的申请 {number} 已受理，法定办结期限 {deadline}，承诺办结期限 {promised}。"),
    "not_accept": gettext_noop("您的申请 {number} 不予受理。理由：{reason}"),
    "return_for_correction": gettext_noop("您的申请 {number} 需要补正材料：{reason}"),
    "resubmit": gettext_noop("您已提交补正材料，申请 {number} 继续审查。"),
    "suspend": gettext_noop("您的申请 {number} 已挂起：{reason}"),
    "resume": gettext_noop("您的申请 {number} 已恢复办理，期限顺延至 {deadline}。"),
    "approve": gettext_noop("您的申请 {number} 已准予许可。"),
    "refuse": gettext_noop(
        "您的申请 {number} 不予许可。理由：{reason}。"
        "如不服本决定，可自收到本决定之日起六十日内向福州市人民政府申请行政复议，"
        "或者自收到本决定之日起六个月内向有管辖权的人民法院提起行政诉讼。"
    ),
    "conclude": gettext_noop("您的申请 {number} 已办结，欢迎评价。"),
    "answer": gettext_noop("关于您对办件 {number} 的评价，{department} 回复：{answer}"),
}
