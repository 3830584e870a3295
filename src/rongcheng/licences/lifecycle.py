"""The status lifecycle of a licence, declared once: a transition not in `TRANSITIONS` cannot happen.

valid ──suspend──▶ suspended ──reinstate──▶ valid
valid, suspended ──revoke──▶ revoked            (撤销/吊销, final)
valid, suspended, expired ──cancel──▶ cancelled (注销, final)
valid, suspended ──expire──▶ expired            (only once the validity period has ended)
valid, suspended, expired ──replace──▶ replaced (换发/补发: a renewal or replacement was issued, final)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rongcheng.kernel.transitions import Table, Transition
from rongcheng.licences.errors import LicenceTransitionNotAllowed
from rongcheng.licences.models import Licence, LicenceStatus

V, S, R, C, E, P = (LicenceStatus.VALID, LicenceStatus.SUSPENDED, LicenceStatus.REVOKED, LicenceStatus.CANCELLED,
                    LicenceStatus.EXPIRED, LicenceStatus.REPLACED)  # fmt: skip


@dataclass(frozen=True)
class StatusChangeRequest:
    """What a guard of the licence lifecycle sees: the locked licence, the action and the day it takes effect."""

    licence: Licence
    action: str
    effective_on: dt.date


def _validity_ended(change: StatusChangeRequest) -> None:
    licence = change.licence
    if licence.valid_until is None or licence.valid_until >= change.effective_on:
        raise LicenceTransitionNotAllowed(
            f"{change.action}: the licence's validity period has not ended.",
            licence_status=licence.status, action=change.action,
        )  # fmt: skip


LicenceTransition = Transition[StatusChangeRequest]

TRANSITIONS: Table[LicenceTransition] = Table(
    (
        Transition("suspend", frozenset({V}), S, label="暂扣"),
        Transition("reinstate", frozenset({S}), V, label="发还"),
        Transition("revoke", frozenset({V, S}), R, label="撤销/吊销"),
        Transition("cancel", frozenset({V, S, E}), C, label="注销"),
        Transition("expire", frozenset({V, S}), E, label="失效", guards=(_validity_ended,)),
        Transition("replace", frozenset({V, S, E}), P, label="换发"),
    )
)
FINAL_STATES = frozenset({R, C, P})


def transitions_from(status: str) -> list[LicenceTransition]:
    return TRANSITIONS.allowed_from(status)
