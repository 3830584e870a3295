"""The lifecycle of an application, declared in one table: which transition leads from which states to which, who
may take it (the applicant or an officer), whether it needs a reason, and what it does to the clock.

A transition that is not in this table cannot happen: `hall.services.application_transition` looks it up here and
refuses anything else, and `tests/test_workflow.py` walks every row.

    draft ─submit→ submitted ─accept→ accepted ─review→ under_review ─approve→ approved ─conclude→ concluded
                           └─not_accept→ not_accepted                 ├─refuse→ refused ─conclude→ concluded
                                                                      ├─return_for_correction→ correction
                                                                      │        └─resubmit→ under_review
                                                                      ├─request_countersign→ countersigning
                                                                      │        └─countersign_complete→ under_review
                                                                      └─suspend→ suspended ─resume→ under_review
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from rongcheng.hall.models import State

Role = Literal["applicant", "officer", "system"]
Clock = Literal["", "start", "stop", "resume"]


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    role: Role
    label: StrOrPromise  # shown on the pages in the reader's language
    needs_reason: bool = False
    clock: Clock = ""
    # Acceptance may be done by any window for a service accepted anywhere (全城通办); every other officer
    # transition belongs to the service's department.
    any_window: bool = False


def _t(
    name: str, sources: tuple[State, ...], target: State, role: Role, label: StrOrPromise, **options: object
) -> Transition:
    return Transition(name, frozenset(s.value for s in sources), target.value, role, label, **options)  # type: ignore[arg-type]


S = State
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        _t("submit", (S.DRAFT,), S.SUBMITTED, "applicant", _("提交申请")),
        _t("accept", (S.SUBMITTED,), S.ACCEPTED, "officer", _("受理"), clock="start", any_window=True),
        _t("not_accept", (S.SUBMITTED,), S.NOT_ACCEPTED, "officer", _("不予受理"), needs_reason=True, any_window=True),
        _t("review", (S.ACCEPTED,), S.UNDER_REVIEW, "officer", _("开始审查")),
        _t("return_for_correction", (S.UNDER_REVIEW,), S.CORRECTION, "officer", _("退回补正"), needs_reason=True,
           clock="stop"),
        _t("resubmit", (S.CORRECTION,), S.UNDER_REVIEW, "applicant", _("补正后重新提交"), clock="resume"),
        _t("request_countersign", (S.UNDER_REVIEW,), S.COUNTERSIGNING, "officer", _("发起会签")),
        _t("countersign_complete", (S.COUNTERSIGNING,), S.UNDER_REVIEW, "system", _("会签完成")),
        _t("suspend", (S.UNDER_REVIEW,), S.SUSPENDED, "officer", _("挂起"), needs_reason=True, clock="stop"),
        _t("resume", (S.SUSPENDED,), S.UNDER_REVIEW, "officer", _("恢复办理"), clock="resume"),
        _t("approve", (S.UNDER_REVIEW,), S.APPROVED, "officer", _("准予许可")),
        _t("refuse", (S.UNDER_REVIEW,), S.REFUSED, "officer", _("不予许可"), needs_reason=True),
        _t("conclude", (S.APPROVED, S.REFUSED), S.CONCLUDED, "officer", _("办结")),
    )
}  # fmt: skip

# States in which the clock runs: these can become overdue.
RUNNING = frozenset({S.ACCEPTED.value, S.UNDER_REVIEW.value, S.COUNTERSIGNING.value})
# States an officer still has to act on.
OPEN = frozenset({S.SUBMITTED.value, *RUNNING, S.SUSPENDED.value, S.APPROVED.value, S.REFUSED.value})
FINAL = frozenset({S.NOT_ACCEPTED.value, S.CONCLUDED.value})


def transitions_from(state: str, role: Role | None = None) -> list[Transition]:
    """The transitions the table allows from `state` (for one role), in table order: the buttons a page shows."""
    return [t for t in TRANSITIONS.values() if state in t.sources and (role is None or t.role == role)]
