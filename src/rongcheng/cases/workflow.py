"""The lifecycle of a case of digital city management (GB/T 30428 / CJJ/T 106: 信息收集 → 案卷建立 → 任务派遣 →
任务处理 → 处理反馈 → 核查结案 → 综合评价), declared in one table: which transition leads from which states to which,
who may take it, whether it needs a reason, and what it does to the clock.

A transition that is not in this table cannot happen: `cases.services.case_transition` looks it up here and refuses
anything else, and the tests walk every row. The service adds what every transition does: the timeline event and
the audit record.

    collected ─register→ registered ─dispatch→ dispatched ─start→ handling ─report_back→ reported_back
        ├─reject→ rejected                         │  └─return→ disputed ─redispatch→ dispatched
        ├─merge→ merged                            │            handling ─extend→ handling (延期 approved)
        └─simple_close→ closed (简易程序)           │            handling ─postpone→ postponed ─resume→ handling
    reported_back ─verify_pass→ verified ─close→ closed ─rate / callback→ evaluated
                  └─verify_fail→ handling (返工)    closed, evaluated ─reopen→ handling (clock restarted)
    handling, dispatched, disputed ─supervise(_dispatched, _arbitration)→ the same state (督办, escalation + 1)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from rongcheng.accounts.models import Department
from rongcheng.cases import permissions as perms
from rongcheng.cases.clock import deadline_after
from rongcheng.cases.errors import CaseGuardFailed, CaseTransitionNotAllowed
from rongcheng.cases.models import (
    Case,
    CasePhoto,
    CaseSubscription,
    CaseUnit,
    Channel,
    ClockRequest,
    PhotoStage,
    RequestKind,
    RequestState,
    Route,
    State,
    UnitRole,
    Urgency,
)
from rongcheng.kernel.context import Account
from rongcheng.kernel.transitions import Table, Transition

Role = Literal["register", "dispatch", "unit", "grid_worker", "reporter", "hotline"]
REOPEN_DAYS = 7  # a reporter may reopen a closed case within this many days
ARBITRATION_HOURS = 4  # a returned case (退单) is arbitrated within this many working hours
NEAR_DEADLINE = dt.timedelta(hours=2)  # 督办 this long before the deadline


@dataclass
class Step:
    """One transition being taken: what its guards and effects see, and the changes they prepare for the row."""

    user: Account | None  # None: the platform itself (its escalation of overdue cases)
    case: Case
    reason: str = ""
    source: str = ""
    now: dt.datetime = field(default_factory=timezone.now)
    changes: dict[str, Any] = field(default_factory=dict)
    units: list[tuple[Department, str]] = field(default_factory=list)  # (unit, main|assist) for a dispatch
    unit_codes: list[str] = field(default_factory=list)  # chosen by the dispatcher; empty: the routing table's
    photos_given: int = 0
    rating: int | None = None
    merge_into: Case | None = None
    request: ClockRequest | None = None
    level: int | None = None  # the escalation level the platform's own 督办 sets


@dataclass(frozen=True, kw_only=True)
class CaseTransition(Transition[Step]):
    role: Role
    label: StrOrPromise
    needs_reason: bool = False


def may_take(user: Account | None, case: Case, role: Role) -> bool:
    """Whether `user` may take a transition of `role` on `case` (its state aside)."""
    if role == "register":
        return perms.is_staff_with(user, perms.REGISTER)
    if role == "dispatch":
        return perms.is_staff_with(user, perms.DISPATCH)
    if role == "unit":
        return perms.handles_as_main(user, case)
    if role == "grid_worker":
        return perms.verifies(user, case)
    if role == "hotline":
        return perms.is_staff_with(user, perms.TAKE_CALL)
    return perms.owns(user, case)


# ── guards: each refuses by raising, before anything is written ─────────────────────────────────────────────────


def units_resolved(step: Step) -> None:
    """The units to dispatch to: those the dispatcher named, else the routing table's for the case's place (cell,
    then street, then district, then city-wide rows), else the category's default unit. The first named is 主办."""
    case = step.case
    if step.unit_codes:
        found = {d.code: d for d in Department.objects.filter(code__in=step.unit_codes)}
        missing = [c for c in step.unit_codes if c not in found]
        if missing:
            raise CaseGuardFailed(
                f"Unknown unit: {', '.join(missing)}.",
                errors=[{"loc": ["units"], "rule": "unit.unknown", "msg": ", ".join(missing)}],
            )
        codes = list(dict.fromkeys(step.unit_codes))
        step.units = [(found[c], UnitRole.MAIN if i == 0 else UnitRole.ASSIST) for i, c in enumerate(codes)]
        return
    step.units = route_units(case)


def route_units(case: Case) -> list[tuple[Department, str]]:
    rows = list(Route.objects.filter(category_id=case.category_id).select_related("unit"))
    for matches in (
        [r for r in rows if r.cell_code and r.cell_code == case.cell_code],
        [r for r in rows if not r.cell_code and r.street_code and r.street_code == case.street_code],
        [r for r in rows if not r.cell_code and r.street_code and r.street_code == case.district_code],
        [r for r in rows if not r.cell_code and not r.street_code],
    ):
        if matches:
            main = [r for r in matches if r.role == UnitRole.MAIN][:1] or matches[:1]
            assist = [r for r in matches if r is not main[0]]
            return [(main[0].unit, UnitRole.MAIN), *((r.unit, UnitRole.ASSIST) for r in assist)]
    return [(case.category.default_unit, UnitRole.MAIN)]


def merge_target_open(step: Step) -> None:
    target = step.merge_into
    if target is None or target.pk == step.case.pk or target.category_id != step.case.category_id:
        raise CaseGuardFailed(
            "Name an open case of the same category to merge into.",
            errors=[{"loc": ["merge_into"], "rule": "merge.target", "msg": "not an open case of this category"}],
        )
    if target.state in FINAL or target.state in (State.CLOSED, State.EVALUATED):
        raise CaseGuardFailed("The case to merge into is already closed.")


def feedback_photos_enough(step: Step) -> None:
    stored = CasePhoto.objects.filter(case=step.case, stage=PhotoStage.FEEDBACK).count()
    required = step.case.category.photos_to_close
    if stored + step.photos_given < required:
        raise CaseGuardFailed(
            f"This category needs {required} photo(s) of the result to report back.",
            errors=[{"loc": ["photos"], "rule": "evidence.photos", "msg": str(required)}],
        )


def _pending(kind: str) -> Callable[[Step], None]:
    def guard(step: Step) -> None:
        request = ClockRequest.objects.filter(case=step.case, kind=kind, state=RequestState.PENDING).first()
        if request is None:
            raise CaseGuardFailed("The unit has not requested this.")
        step.request = request

    guard.__name__ = f"pending_{kind}"
    return guard


def rating_given(step: Step) -> None:
    if step.rating is None or not 1 <= step.rating <= 5:
        raise CaseGuardFailed(
            "Give a rating from 1 to 5.", errors=[{"loc": ["rating"], "rule": "rating.range", "msg": "1-5"}]
        )


def not_hotline(step: Step) -> None:
    if step.case.channel == Channel.HOTLINE:
        raise CaseGuardFailed("A hotline case is evaluated by the call-back (回访).")


def hotline_only(step: Step) -> None:
    if step.case.channel != Channel.HOTLINE:
        raise CaseGuardFailed("Only hotline cases are called back.")


def within_reopen_period(step: Step) -> None:
    closed = step.case.closed_at
    if closed is None or step.now - closed > dt.timedelta(days=REOPEN_DAYS):
        raise CaseGuardFailed(f"A case can be reopened within {REOPEN_DAYS} days of its closing.")


def simple_procedure_case(step: Step) -> None:
    if not step.case.simple_procedure:
        raise CaseGuardFailed("Only a case reported under the simple procedure is closed on the spot.")


# ── effects, in the order a row declares them ───────────────────────────────────────────────────────────────────


def _limit(case: Case) -> tuple[int, str]:
    category = case.category
    if case.urgency == Urgency.URGENT:
        return category.urgent_limit, category.urgent_unit
    return category.normal_limit, category.normal_unit


def clock_started(step: Step) -> None:
    amount, unit = _limit(step.case)
    step.changes.update(deadline=deadline_after(step.now, amount, unit), clock_stopped_at=None, escalation_level=0)


def dispatched(step: Step) -> None:
    main = step.units[0][0]
    step.changes.update(unit_id=main.pk, dispatched_at=step.now, arbitration_deadline=None)


def registered(step: Step) -> None:
    step.changes["registered_at"] = step.now


def reasoned(step: Step) -> None:
    step.changes["decision_reason"] = step.reason


def arbitration_started(step: Step) -> None:
    step.changes["arbitration_deadline"] = deadline_after(step.now, ARBITRATION_HOURS, "hours")


def merged(step: Step) -> None:
    if step.merge_into is not None:
        step.changes["merged_into_id"] = step.merge_into.pk


def extended(step: Step) -> None:
    case = step.case
    if step.request is not None and case.deadline is not None:
        step.changes["deadline"] = deadline_after(case.deadline, step.request.days, "days")
    step.changes["extension_count"] = F("extension_count") + 1


def clock_stopped(step: Step) -> None:
    step.changes.update(clock_stopped_at=step.now, postponed_ever=True)


def clock_resumed(step: Step) -> None:
    case = step.case
    if case.clock_stopped_at is not None and case.deadline is not None:
        step.changes["deadline"] = case.deadline + (step.now - case.clock_stopped_at)
    step.changes["clock_stopped_at"] = None


def reworked(step: Step) -> None:
    step.changes["rework_count"] = F("rework_count") + 1


def closed(step: Step) -> None:
    deadline = step.case.deadline
    step.changes.update(closed_at=step.now, closed_on_time=deadline is None or step.now <= deadline)


def rated(step: Step) -> None:
    step.changes.update(rating=step.rating, rating_comment=step.reason[:200])


def reopened(step: Step) -> None:
    step.changes.update(reopen_count=F("reopen_count") + 1, closed_at=None, closed_on_time=None, rating=None)


def escalated(step: Step) -> None:
    step.changes["escalation_level"] = step.level if step.level is not None else F("escalation_level") + 1


def state_written(step: Step) -> None:
    """The row moves only if nobody changed it since it was read: one guarded UPDATE of the prepared changes."""
    case = step.case
    updated = Case.objects.filter(pk=case.pk, version=case.version, state=step.source).update(
        **step.changes, version=F("version") + 1, updated_at=step.now
    )
    if updated != 1:
        raise CaseTransitionNotAllowed("Someone else acted on this case first; reload it.", state=step.source)
    case.refresh_from_db()


def units_recorded(step: Step) -> None:
    CaseUnit.objects.filter(case=step.case).delete()
    CaseUnit.objects.bulk_create(CaseUnit(case=step.case, unit=unit, role=role) for unit, role in step.units)


def request_approved(step: Step) -> None:
    if step.request is None:
        return
    ClockRequest.objects.filter(pk=step.request.pk).update(
        state=RequestState.APPROVED, decided_by=step.user, decided_at=step.now
    )


def reporter_subscribed(step: Step) -> None:
    if step.merge_into is None:
        return
    reporter_id = step.case.reporter_id
    if reporter_id is not None:
        CaseSubscription.objects.get_or_create(case=step.merge_into, user_id=reporter_id)
    for user_id in CaseSubscription.objects.filter(case=step.case).values_list("user_id", flat=True):
        CaseSubscription.objects.get_or_create(case=step.merge_into, user_id=user_id)


def _t(
    name: str,
    sources: tuple[State, ...],
    target: State,
    role: Role,
    label: StrOrPromise,
    *,
    guards: tuple[Callable[[Step], None], ...] = (),
    before: tuple[Callable[[Step], None], ...] = (),
    after: tuple[Callable[[Step], None], ...] = (),
    needs_reason: bool = False,
) -> CaseTransition:
    """A row: its effects are `before` (preparing the changes), the guarded write, then `after`."""
    return CaseTransition(
        name,
        frozenset(s.value for s in sources),
        target.value,
        role=role,
        label=label,
        guards=guards,
        effects=(*before, state_written, *after),
        needs_reason=needs_reason,
    )


S = State
TRANSITIONS: Table[CaseTransition] = Table(
    (
        _t("register", (S.COLLECTED,), S.REGISTERED, "register", _("立案"), before=(registered,)),
        _t("reject", (S.COLLECTED,), S.REJECTED, "register", _("不予立案"), needs_reason=True, before=(reasoned,)),
        _t(
            "merge",
            (S.COLLECTED,),
            S.MERGED,
            "register",
            _("并单"),
            guards=(merge_target_open,),
            before=(merged,),
            after=(reporter_subscribed,),
        ),
        _t(
            "simple_close",
            (S.COLLECTED,),
            S.CLOSED,
            "reporter",
            _("简易程序结案"),
            guards=(simple_procedure_case,),
            before=(registered, closed),
        ),
        _t(
            "dispatch",
            (S.REGISTERED,),
            S.DISPATCHED,
            "dispatch",
            _("派遣"),
            guards=(units_resolved,),
            before=(dispatched, clock_started),
            after=(units_recorded,),
        ),
        _t(
            "return",
            (S.DISPATCHED,),
            S.DISPUTED,
            "unit",
            _("退单"),
            needs_reason=True,
            before=(reasoned, arbitration_started),
        ),
        _t(
            "redispatch",
            (S.DISPUTED,),
            S.DISPATCHED,
            "dispatch",
            _("仲裁改派"),
            guards=(units_resolved,),
            before=(dispatched, clock_started),
            after=(units_recorded,),
        ),
        _t("start", (S.DISPATCHED,), S.HANDLING, "unit", _("接收处置")),
        _t(
            "extend",
            (S.HANDLING,),
            S.HANDLING,
            "dispatch",
            _("批准延期"),
            guards=(_pending(RequestKind.EXTENSION),),
            before=(extended,),
            after=(request_approved,),
        ),
        _t(
            "postpone",
            (S.HANDLING,),
            S.POSTPONED,
            "dispatch",
            _("批准缓办"),
            guards=(_pending(RequestKind.POSTPONEMENT),),
            before=(clock_stopped,),
            after=(request_approved,),
        ),
        _t("resume", (S.POSTPONED,), S.HANDLING, "dispatch", _("恢复处置"), before=(clock_resumed,)),
        _t("report_back", (S.HANDLING,), S.REPORTED_BACK, "unit", _("处置反馈"), guards=(feedback_photos_enough,)),
        _t("verify_pass", (S.REPORTED_BACK,), S.VERIFIED, "grid_worker", _("核查通过")),
        _t(
            "verify_fail",
            (S.REPORTED_BACK,),
            S.HANDLING,
            "grid_worker",
            _("核查不通过（返工）"),
            needs_reason=True,
            before=(reasoned, reworked),
        ),
        _t("close", (S.VERIFIED,), S.CLOSED, "register", _("结案"), before=(closed,)),
        _t(
            "rate", (S.CLOSED,), S.EVALUATED, "reporter", _("评价"), guards=(not_hotline, rating_given), before=(rated,)
        ),
        _t(
            "callback",
            (S.CLOSED,),
            S.EVALUATED,
            "hotline",
            _("回访"),
            guards=(hotline_only, rating_given),
            before=(rated,),
        ),
        _t(
            "reopen",
            (S.CLOSED, S.EVALUATED),
            S.HANDLING,
            "reporter",
            _("重新办理"),
            needs_reason=True,
            guards=(within_reopen_period,),
            before=(reopened, clock_started),
        ),
        _t("supervise", (S.HANDLING,), S.HANDLING, "dispatch", _("督办"), needs_reason=True, before=(escalated,)),
        _t(
            "supervise_dispatched",
            (S.DISPATCHED,),
            S.DISPATCHED,
            "dispatch",
            _("督办接收"),
            needs_reason=True,
            before=(escalated,),
        ),
        _t(
            "supervise_arbitration",
            (S.DISPUTED,),
            S.DISPUTED,
            "dispatch",
            _("督办仲裁"),
            needs_reason=True,
            before=(escalated,),
        ),
    )
)

# States whose clock runs: these can become overdue.
RUNNING = frozenset({S.DISPATCHED.value, S.HANDLING.value, S.REPORTED_BACK.value, S.VERIFIED.value})
OPEN = frozenset({S.COLLECTED.value, S.REGISTERED.value, S.DISPUTED.value, S.POSTPONED.value, *RUNNING})
FINAL = frozenset({S.REJECTED.value, S.MERGED.value})
DONE = frozenset({S.CLOSED.value, S.EVALUATED.value})


def transitions_for(user: Account, case: Case) -> list[CaseTransition]:
    """The transitions `user` may take on `case` now, in table order: the buttons a page shows."""
    allowed = [t for t in TRANSITIONS.allowed_from(case.state) if may_take(user, case, t.role)]
    if not case.simple_procedure:  # 简易程序 closes at intake; no one else is offered it
        allowed = [t for t in allowed if t.name != "simple_close"]
    if case.channel == Channel.HOTLINE:
        return [t for t in allowed if t.name != "rate"]
    return [t for t in allowed if t.name != "callback"]
