"""Credit repair (信用修复) as a declared transition table.

    (none) ─submit→ submitted ─approve→ approved   (the record leaves public view; row and history stay)
                              └─reject→ rejected    (needs a reason)

The subject submits (`credit.services.repair_request`); the credit office reviews within REPAIR_REVIEW_WORKING_DAYS
working days (`credit.services.repair_decide`). Guards all run before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from rongcheng.accounts.models import User
from rongcheng.credit.errors import RepairInvalid, RepairRefused
from rongcheng.credit.models import Record, RepairRequest, RepairState
from rongcheng.kernel.transitions import Table, Transition

Role = Literal["subject", "office"]
NEW = "new"


@dataclass
class RepairStep:
    user: User
    request: RepairRequest
    reason: str


@dataclass(frozen=True, kw_only=True)
class RepairTransition(Transition[RepairStep]):
    role: Role
    label: StrOrPromise
    needs_reason: bool = False


def reason_given(step: RepairStep) -> None:
    if not step.reason.strip():
        raise RepairInvalid(
            "A rejected repair needs the reason.",
            errors=[{"loc": ["reason"], "rule": "reason.required", "msg": "required"}],
        )


def record_not_repaired(step: RepairStep) -> None:
    if Record.objects.filter(pk=step.request.record_id, repaired_at__isnull=False).exists():
        raise RepairRefused("This record is already repaired.")


def state_written(step: RepairStep, target: str) -> None:
    request = step.request
    updated = RepairRequest.objects.filter(pk=request.pk, version=request.version, state=RepairState.SUBMITTED).update(
        state=target, version=F("version") + 1, decided_at=timezone.now(), decision_reason=step.reason.strip(),
        reviewer_label=getattr(step.user, "display_name", "") or step.user.get_username(),
    )  # fmt: skip
    if updated != 1:
        raise RepairRefused("Another reviewer decided this request first; reload it.")


def approved_written(step: RepairStep) -> None:
    state_written(step, RepairState.APPROVED)


def rejected_written(step: RepairStep) -> None:
    state_written(step, RepairState.REJECTED)


def record_hidden(step: RepairStep) -> None:
    Record.objects.filter(pk=step.request.record_id, repaired_at__isnull=True).update(repaired_at=timezone.now())


def _t(
    name: str, sources: tuple[str, ...], target: str, role: Role, label: StrOrPromise, *,
    guards: tuple[Callable[[RepairStep], None], ...] = (), effects: tuple[Callable[[RepairStep], None], ...] = (),
    needs_reason: bool = False,
) -> RepairTransition:  # fmt: skip
    return RepairTransition(name, frozenset(sources), target, role=role, label=label, guards=guards, effects=effects,
                            needs_reason=needs_reason)  # fmt: skip


TRANSITIONS: Table[RepairTransition] = Table(
    (
        _t("submit", (NEW,), RepairState.SUBMITTED.value, "subject", _("申请信用修复"), guards=(record_not_repaired,)),
        _t("approve", (RepairState.SUBMITTED.value,), RepairState.APPROVED.value, "office", _("准予修复"),
           guards=(record_not_repaired,), effects=(approved_written, record_hidden)),
        _t("reject", (RepairState.SUBMITTED.value,), RepairState.REJECTED.value, "office", _("不予修复"),
           guards=(reason_given,), effects=(rejected_written,), needs_reason=True),
    )
)  # fmt: skip
