"""Decision checks: what an officer must record before accepting or deciding an application.

A higher app registers a check (`hall.services.decision_check_register(name, check)`); the hall knows nothing of what
it checks. A check is called with the application and the day of the decision and returns the items the officer
must answer, each with the measures that apply to it. For each (item, measure) the officer records whether the
measure was applied, or why not; the hall keeps what the officer was shown (`ApplicationCheck.seen`) so that the
record stands even if the item disappears later. The accept and decide transitions of `hall.workflow` refuse while a
registered check has an item not yet recorded, whichever way they are called (page or API).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rongcheng.hall.models import Application, ApplicationCheck

# The transitions that consult the registered checks: acceptance and the decisions.
CHECKED_TRANSITIONS = frozenset({"accept", "approve", "refuse"})


@dataclass(frozen=True)
class CheckMeasure:
    code: str  # stable within the item (a measure's code in its catalogue)
    text: str


@dataclass(frozen=True)
class CheckItem:
    """One thing the officer must answer: `reference` is stable for the check (a list entry's number, say)."""

    reference: str
    text: str
    measures: tuple[CheckMeasure, ...]
    detail: dict[str, Any] | None = None  # more of what the officer is shown (kept in the snapshot)


DecisionCheck = Callable[[Application, dt.date], list[CheckItem]]

_checks: dict[str, DecisionCheck] = {}
_lock = threading.Lock()


def decision_check_register(name: str, check: DecisionCheck) -> None:
    """Register (or replace) the check `name`; an AppConfig.ready that runs twice registers it once."""
    with _lock:
        _checks[name[:40]] = check


def decision_check_unregister(name: str) -> None:
    with _lock:
        _checks.pop(name, None)


def registered_checks() -> dict[str, DecisionCheck]:
    with _lock:
        return dict(_checks)


def items_due(application: Application, on: dt.date) -> list[tuple[str, CheckItem, CheckMeasure]]:
    """Every (check name, item, measure) the registered checks put before the officer on `on`."""
    due = []
    for name, check in registered_checks().items():
        for item in check(application, on):
            for measure in item.measures:
                due.append((name, item, measure))
    return due


def _snapshot(item: CheckItem, measure: CheckMeasure) -> dict[str, Any]:
    return {"text": item.text, "measure": measure.text, "detail": item.detail or {}}


def checks_open(application: Application, on: dt.date, transition: str) -> list[ApplicationCheck]:
    """Keep a row for every item now due that has none yet (what the officer is shown), and return all rows of
    the application: the answered ones and those still to answer."""
    existing = {
        (c.source, c.item_reference, c.measure_code)
        for c in ApplicationCheck.objects.filter(application=application).only(
            "source", "item_reference", "measure_code"
        )
    }
    for name, item, measure in items_due(application, on):
        key = (name, item.reference[:64], measure.code[:40])
        if key in existing:
            continue
        try:
            with transaction.atomic():
                ApplicationCheck.objects.create(
                    application=application, source=name, transition=transition, item_reference=key[1],
                    measure_code=key[2], seen=_snapshot(item, measure), seen_on=on, opened_at=timezone.now(),
                )  # fmt: skip
        except IntegrityError:  # another page opened it at the same moment
            pass
        existing.add(key)
    return list(ApplicationCheck.objects.filter(application=application).order_by("id"))


# The guard's read of the rows kept for an application: raw, as it runs inside every accept and decision (no queryset
# built and compiled per call); the same columns an ORM read would give, the recorded time only as answered or not.
_ROWS_SQL = (
    "SELECT source, item_reference, measure_code, recorded_at IS NULL FROM hall_applicationcheck "
    "WHERE application_id = %s ORDER BY id"
)


def unrecorded(application: Application, on: dt.date, *, kept: bool = True) -> list[dict[str, Any]]:
    """The items due on `on` (and the rows opened before) that the officer has not answered: what the guard
    refuses on. One query for the rows (none when the caller knows that no row is kept: `kept` false) and one call
    of each check."""
    answered: set[tuple[str, str, str]] = set()
    missing: list[dict[str, Any]] = []
    rows: list[tuple[str, str, str, bool]] = []
    if kept:
        with connection.cursor() as cursor:
            cursor.execute(_ROWS_SQL, [application.pk])
            rows = cursor.fetchall()
    for source, reference, measure_code, open_ in rows:
        if open_:
            missing.append({"source": source, "reference": reference, "measure": measure_code})
        else:
            answered.add((source, reference, measure_code))
    for name, item, measure in items_due(application, on):
        key = (name, item.reference[:64], measure.code[:40])
        if key not in answered and {"source": key[0], "reference": key[1], "measure": key[2]} not in missing:
            missing.append({"source": key[0], "reference": key[1], "measure": key[2]})
    return missing


def checks_refresh(application: Application, on: dt.date, transition: str) -> tuple[int, int]:
    """Run the registered checks again for an application whose decision is still ahead (a list changed): keep a
    row for each item now due that has none, and withdraw the rows not yet answered whose item is no longer due on
    `on`. Answered rows stay as the officer saw them. Returns (opened, withdrawn)."""
    due = {(name, item.reference[:64], measure.code[:40]): (item, measure)
           for name, item, measure in items_due(application, on)}  # fmt: skip
    rows = list(ApplicationCheck.objects.filter(application=application).only(
        "pk", "source", "item_reference", "measure_code", "recorded_at"))  # fmt: skip
    existing = {(c.source, c.item_reference, c.measure_code) for c in rows}
    stale = [c.pk for c in rows if c.recorded_at is None and (c.source, c.item_reference, c.measure_code) not in due]
    withdrawn = ApplicationCheck.objects.filter(pk__in=stale, recorded_at__isnull=True).delete()[0] if stale else 0
    opened = 0
    for key, (item, measure) in due.items():
        if key in existing:
            continue
        try:
            with transaction.atomic():
                ApplicationCheck.objects.create(
                    application=application, source=key[0], transition=transition, item_reference=key[1],
                    measure_code=key[2], seen=_snapshot(item, measure), seen_on=on, opened_at=timezone.now(),
                )  # fmt: skip
            opened += 1
        except IntegrityError:  # the officer's page opened it at the same moment
            pass
    return opened, withdrawn
