"""The lifecycle of a sharing request (共享申请), declared in one table (国发〔2016〕51号):

    new ─grant_at_once→ granted            (无条件共享: after the conformance check)
    new ─route_to_provider→ submitted      (有条件共享: the provider answers within SHARING_ANSWER_DAYS working days)
    submitted ─grant→ granted   ─revoke→ revoked
    submitted ─refuse→ refused  ─dispute→ disputed ─office_grant→ granted
                                                   └─office_uphold→ closed
    submitted ─withdraw→ withdrawn

A request for a 不予共享 resource never gets a row: the service refuses it before anything is written. A transition
that is not in this table cannot happen; `tests/test_sharing.py` walks every row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rongcheng.catalogue import permissions
from rongcheng.catalogue.errors import CatalogueActionDenied, SharingRefused, SharingRequestInvalid
from rongcheng.catalogue.models import SharingGrant, SharingRequest, SharingState, SharingType
from rongcheng.kernel.context import Account
from rongcheng.kernel.transitions import Table, Transition

Who = Literal["system", "provider", "requester", "office", "provider_or_office"]


@dataclass
class Step:
    user: Account
    request: SharingRequest
    reason: str = ""
    items: list[str] | None = None
    clear_items: list[str] | None = None
    expires_on: dt.date | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SharingTransition(Transition[Step]):
    who: Who = "system"
    needs_reason: bool = False


def _unconditional(step: Step) -> None:
    if step.request.resource.sharing_type != SharingType.UNCONDITIONAL:
        raise SharingRefused("Only resources shared without conditions are granted at once.")


def _conditional(step: Step) -> None:
    if step.request.resource.sharing_type != SharingType.CONDITIONAL:
        raise SharingRefused("Only resources shared with conditions go to their provider.")


def _actor_allowed(transition: SharingTransition, step: Step) -> None:
    user, request = step.user, step.request
    provider = request.resource.provider
    allowed = {
        "system": True,
        "provider": permissions.can_steward(user, provider),
        "requester": user is not None
        and getattr(user, "department_id", None) == request.requester_id
        and permissions.can_request_sharing(user),
        "office": permissions.is_office(user),
        "provider_or_office": permissions.can_steward(user, provider) or permissions.is_office(user),
    }[transition.who]
    if not allowed:
        raise CatalogueActionDenied(f"This account may not {transition.name} this sharing request.")


def _reason_given(step: Step) -> None:
    if not step.reason.strip():
        raise SharingRequestInvalid(
            "A reason is required.", errors=[{"loc": ["reason"], "rule": "required", "msg": "A reason is required."}]
        )


def _grant_items_valid(step: Step) -> None:
    asked = step.request.items
    items = step.items if step.items is not None else asked
    unknown = [name for name in items if name not in asked]
    if not items or unknown:
        raise SharingRequestInvalid(
            "A grant names some of the data items asked for, and no other.",
            errors=[{"loc": ["items"], "rule": "items.subset", "msg": f"not asked for: {', '.join(unknown)}"}],
        )
    clear = _clear_granted(step)
    not_clear = [name for name in clear if name not in items or name not in step.request.clear_items]
    if not_clear:
        raise SharingRequestInvalid(
            "Personal data items are granted in clear only when asked for in clear and granted.",
            errors=[{"loc": ["clear_items"], "rule": "clear.subset", "msg": f"not allowed: {', '.join(not_clear)}"}],
        )
    expires = step.expires_on or step.request.period_until
    if expires < timezone.localdate():
        raise SharingRequestInvalid(
            "The grant's expiry has passed.",
            errors=[{"loc": ["expires_on"], "rule": "date.future", "msg": "The expiry must not be in the past."}],
        )


def _clear_granted(step: Step) -> list[str]:
    """Personal items in clear: only the provider (or the office) grants them, never the conformance check alone."""
    if step.request.state == SharingState.NEW:
        return []
    return list(step.clear_items if step.clear_items is not None else step.request.clear_items)


def _grant_write(step: Step) -> None:
    request = step.request
    SharingGrant.objects.create(
        request=request,
        resource=request.resource,
        consumer_id=request.requester_id,
        items=list(step.items if step.items is not None else request.items),
        clear_items=_clear_granted(step),
        granted_at=timezone.now(),
        expires_on=min(step.expires_on or request.period_until, request.period_until),
    )
    step.changes["answered_at"] = timezone.now()


def _answered(step: Step) -> None:
    step.changes["answered_at"] = timezone.now()
    step.changes["reason"] = step.reason.strip()


def _dispute(step: Step) -> None:
    step.changes["dispute_reason"] = step.reason.strip()


def _office_answer(step: Step) -> None:
    step.changes["reason"] = step.reason.strip()


def _revoke(step: Step) -> None:
    SharingGrant.objects.filter(request=step.request, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=step.reason.strip()
    )


S = SharingState
TRANSITIONS: Table[SharingTransition] = Table(
    [
        SharingTransition("grant_at_once", frozenset({S.NEW}), S.GRANTED, label=_("即时授权"), who="system",
                          guards=(_unconditional, _grant_items_valid), effects=(_grant_write,)),
        SharingTransition("route_to_provider", frozenset({S.NEW}), S.SUBMITTED, label=_("提交提供方"), who="system",
                          guards=(_conditional,)),
        SharingTransition("grant", frozenset({S.SUBMITTED}), S.GRANTED, label=_("同意共享"), who="provider",
                          guards=(_grant_items_valid,), effects=(_grant_write,)),
        SharingTransition("refuse", frozenset({S.SUBMITTED}), S.REFUSED, label=_("拒绝共享"), who="provider",
                          needs_reason=True, guards=(_reason_given,), effects=(_answered,)),
        SharingTransition("withdraw", frozenset({S.SUBMITTED}), S.WITHDRAWN, label=_("撤回申请"), who="requester"),
        SharingTransition("dispute", frozenset({S.REFUSED}), S.DISPUTED, label=_("提请协调"), who="requester",
                          needs_reason=True, guards=(_reason_given,), effects=(_dispute,)),
        SharingTransition("office_grant", frozenset({S.DISPUTED}), S.GRANTED, label=_("协调后同意共享"),
                          who="office", needs_reason=True, guards=(_reason_given, _grant_items_valid),
                          effects=(_office_answer, _grant_write)),
        SharingTransition("office_uphold", frozenset({S.DISPUTED}), S.CLOSED, label=_("协调后维持拒绝"),
                          who="office", needs_reason=True, guards=(_reason_given,), effects=(_office_answer,)),
        SharingTransition("revoke", frozenset({S.GRANTED}), S.REVOKED, label=_("撤销授权"),
                          who="provider_or_office", needs_reason=True, guards=(_reason_given,), effects=(_revoke,)),
    ]
)  # fmt: skip


def take(name: str, step: Step) -> SharingRequest:
    """Check and carry out one transition on a request locked by the caller; returns it saved."""
    from rongcheng.catalogue.errors import SharingTransitionRefused

    transition = TRANSITIONS.get(name, step.request.state)
    if transition is None:
        raise SharingTransitionRefused(f"The request is {step.request.state}; {name} is not possible now.")
    _actor_allowed(transition, step)
    transition.check(step)
    transition.carry_out(step)
    request = step.request
    for key, value in step.changes.items():
        setattr(request, key, value)
    request.state = transition.target
    request.save()
    return request
