"""Domain events: the one way a lower app tells a higher one that something happened.

Apps form tiers and import only downwards (docs/architecture.md), so a licence's revocation cannot call into the
hall. Instead the lower app defines a typed event (a frozen subclass of `Event`, in its own `events` module) and
`publish`es it inside the transaction that made it true; the higher app `subscribe`s a handler in its
`AppConfig.ready`. Delivery happens when that transaction commits (`transaction.on_commit`): a rolled-back change
announces nothing. Each subscriber receives an event at most once per process, keyed by the event's id, so a
publisher that retries does not repeat the effect; a subscriber that fails is logged (event type and id only, never
its contents, which may name a person) and does not stop the others nor the publisher.

Delivery is in-process and synchronous after the commit. Work that must survive a crash between the commit and the
handler belongs in a background job (the job interface comes later); a subscriber then only enqueues the job.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

DELIVERED_REMEMBERED = 10_000  # (event id, subscriber) pairs kept to refuse a second delivery


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened. Subclasses add the facts a subscriber needs (identifiers, not whole rows)."""

    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: dt.datetime = field(default_factory=timezone.now)


EventT = TypeVar("EventT", bound=Event)


@dataclass(frozen=True)
class _Subscriber:
    name: str
    event_type: type[Event]
    handler: Callable[[Any], None]


_subscribers: dict[str, _Subscriber] = {}
_delivered: OrderedDict[tuple[uuid.UUID, str], None] = OrderedDict()
_lock = threading.Lock()


def subscribe(event_type: type[EventT], handler: Callable[[EventT], None], *, name: str | None = None) -> None:
    """Deliver every committed `event_type` (and subclass) to `handler`. Subscribing the same name again replaces
    the handler, so an `AppConfig.ready` that runs twice does not deliver twice."""
    key = name or f"{handler.__module__}.{handler.__qualname__}"
    with _lock:
        _subscribers[key] = _Subscriber(key, event_type, handler)


def unsubscribe(name: str) -> None:
    with _lock:
        _subscribers.pop(name, None)


def publish(event: Event) -> None:
    """Announce `event` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: deliver(event))


def deliver(event: Event) -> int:
    """Hand `event` to each subscriber that has not had it yet; returns how many handled it without error."""
    with _lock:
        due = [s for s in _subscribers.values() if isinstance(event, s.event_type)]
    handled = 0
    for subscriber in due:
        key = (event.event_id, subscriber.name)
        with _lock:
            if key in _delivered:
                continue
            _delivered[key] = None
            while len(_delivered) > DELIVERED_REMEMBERED:
                _delivered.popitem(last=False)
        try:
            subscriber.handler(event)
        except Exception:
            logger.exception("subscriber %s failed on %s %s", subscriber.name, type(event).__name__, event.event_id)
        else:
            handled += 1
    return handled
