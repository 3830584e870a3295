"""The status lifecycle of a city card, declared once: a change not in `TRANSITIONS` cannot happen.

active ──report_loss──▶ lost          (挂失: taps and payments refused, the card is on the deny list)
active ──freeze──▶ frozen             (冻结, by the counter)
lost, frozen ──restore──▶ active      (解挂/解冻)
active, lost, frozen ──replace──▶ replaced  (补换卡: a new card is issued and the balance moves to it, final)
active, lost, frozen ──cancel──▶ cancelled  (退卡: the balance is refunded, final)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rongcheng.card.errors import CardTransitionNotAllowed
from rongcheng.card.models import Card, CardStatus
from rongcheng.card.permissions import Acting
from rongcheng.kernel.transitions import Table, Transition

A, L, F, R, C = CardStatus.ACTIVE, CardStatus.LOST, CardStatus.FROZEN, CardStatus.REPLACED, CardStatus.CANCELLED


@dataclass
class CardChange:
    card: Card
    action: str
    actor: Acting
    prepared: dict[str, Any] = field(default_factory=dict)


def _no_pending(change: CardChange) -> None:
    purse = change.card.purse
    if purse.pending_debits or purse.pending_credits:
        raise CardTransitionNotAllowed(
            f"{change.action}: the card has pre-authorised payments open; post or void them first."
        )


CardTransition = Transition[CardChange]

TRANSITIONS: Table[CardTransition] = Table(
    (
        Transition("report_loss", frozenset({A}), L, label="挂失"),
        Transition("freeze", frozenset({A}), F, label="冻结"),
        Transition("restore", frozenset({L, F}), A, label="解挂"),
        Transition("replace", frozenset({A, L, F}), R, label="补换卡", guards=(_no_pending,)),
        Transition("cancel", frozenset({A, L, F}), C, label="退卡", guards=(_no_pending,)),
    )
)
FINAL_STATES = frozenset({R, C})
USABLE_STATES = frozenset({A})
