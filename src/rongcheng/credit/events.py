"""Events of public credit, for the apps above it (kernel.events): identifiers, not personal data."""

from __future__ import annotations

from dataclasses import dataclass

from rongcheng.kernel.events import Event


@dataclass(frozen=True, kw_only=True)
class ListEntryChanged(Event):
    """A red or black list entry was added or removed (`change`: `added` or `removed`): the open applications of
    its subject are screened again (`credit.services.applications_rescreen`, run as the `credit.rescreen` job)."""

    entry_number: str
    subject_id: int
    change: str
