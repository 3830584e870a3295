"""The status lifecycle of a licence, declared once: a transition not in `TRANSITIONS` cannot happen.

valid ──suspend──▶ suspended ──reinstate──▶ valid
valid, suspended ──revoke──▶ revoked            (撤销/吊销, final)
valid, suspended, expired ──cancel──▶ cancelled (注销, final)
valid, suspended ──expire──▶ expired            (only once the validity period has ended)
valid, suspended, expired ──replace──▶ replaced (换发/补发: a renewal or replacement was issued, final)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from rongcheng.licences.models import Licence, LicenceStatus

V, S, R, C, E, P = (LicenceStatus.VALID, LicenceStatus.SUSPENDED, LicenceStatus.REVOKED, LicenceStatus.CANCELLED,
                    LicenceStatus.EXPIRED, LicenceStatus.REPLACED)  # fmt: skip


def _always(licence: Licence, effective_on: dt.date) -> str | None:
    return None


def _validity_ended(licence: Licence, effective_on: dt.date) -> str | None:
    if licence.valid_until is None or licence.valid_until >= effective_on:
        return "the licence's validity period has not ended"
    return None


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    label: str
    guard: Callable[[Licence, dt.date], str | None] = _always  # returns why it is refused, or None


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("suspend", frozenset({V}), S, "暂扣"),
        Transition("reinstate", frozenset({S}), V, "发还"),
        Transition("revoke", frozenset({V, S}), R, "撤销/吊销"),
        Transition("cancel", frozenset({V, S, E}), C, "注销"),
        Transition("expire", frozenset({V, S}), E, "失效", _validity_ended),
        Transition("replace", frozenset({V, S, E}), P, "换发"),
    )
}
FINAL_STATES = frozenset({R, C, P})


def transitions_from(status: str) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if status in t.sources]
