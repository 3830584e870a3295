"""Domain events: the one way a lower app tells a higher one that something happened.

Apps form tiers and import only downwards (docs/architecture.md), so a licence's revocation cannot call into the
hall. Instead the lower app defines a typed event (a frozen subclass of `Event`, in its own `events` module) and
`publish`es it inside the transaction that made it true; the higher app `subscribe`s a handler in its
`AppConfig.ready`. Delivery happens when that transaction commits (`transaction.on_commit`): a rolled-back change
announces nothing. Each subscriber receives an event at most once per process, keyed by the event's id, so a
publisher that retries does not repeat the effect; a subscriber that fails is logged (event type and id only, never
its contents, which may name a person) and does not stop the others nor the publisher.

A subscriber whose work must not be lost (a 双公示 record owed for every licence) subscribes `durable=True`: then
`publish` writes an `EventOutbox` row for it in the publisher's own transaction, so the change and the promise commit
together. After the commit the rows are delivered in this process at once; a row still owed a minute later (its
handler failed, or the process died between the commit and the delivery) is handed to the background job system by
the `events.sweep` job and delivered by an `events.deliver` job, retried with backoff (operations.jobs). A row is
marked delivered in the transaction of the handler's own effects, so those happen once however often it is handed
over. Events carry identifiers, dates and short codes only, stored as JSON and rebuilt from the event class's field
types. Delivered rows are deleted after OUTBOX_KEPT (a clean-up job); an owed row never is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import logging
import threading
import types
import typing
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F
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
    durable: bool = False


_subscribers: dict[str, _Subscriber] = {}
_delivered: OrderedDict[tuple[uuid.UUID, str], None] = OrderedDict()
_lock = threading.Lock()


def subscribe(
    event_type: type[EventT], handler: Callable[[EventT], None], *, name: str | None = None, durable: bool = False
) -> None:
    """Deliver every committed `event_type` (and subclass) to `handler`. Subscribing the same name again replaces
    the handler, so an `AppConfig.ready` that runs twice does not deliver twice. `durable`: through the outbox, so
    that a crash or a failing handler does not lose the event (the handler is retried until it succeeds)."""
    key = name or f"{handler.__module__}.{handler.__qualname__}"
    with _lock:
        _subscribers[key] = _Subscriber(key, event_type, handler, durable)


def unsubscribe(name: str) -> None:
    with _lock:
        _subscribers.pop(name, None)


def publish(event: Event) -> None:
    """Announce `event` once the current transaction commits (at once outside a transaction). Durable subscribers
    are owed it from this moment: their outbox rows are written in the current transaction."""
    with _lock:
        durable = [s.name for s in _subscribers.values() if s.durable and isinstance(event, s.event_type)]
    owed = _outbox_write(event, durable) if durable else []
    transaction.on_commit(lambda: _after_commit(event, owed))


def _after_commit(event: Event, owed: list[int]) -> None:
    deliver(event)
    if owed:
        outbox_deliver_all(owed)


def deliver(event: Event) -> int:
    """Hand `event` to each subscriber (durable ones excepted: the outbox delivers to them) that has not had it
    yet; returns how many handled it without error."""
    with _lock:
        due = [s for s in _subscribers.values() if isinstance(event, s.event_type) and not s.durable]
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


# The durable path: the outbox.


def _type_path(event_type: type[Event]) -> str:
    return f"{event_type.__module__}.{event_type.__qualname__}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | uuid.UUID):
        return value.isoformat() if not isinstance(value, uuid.UUID) else str(value)
    return value


def event_payload(event: Event) -> dict[str, Any]:
    """The event's fields as JSON values (dates and times in ISO 8601, ids as text)."""
    return {f.name: _jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)}


def _rebuilt(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        kinds = [k for k in typing.get_args(kind) if k is not type(None)]
        return _rebuilt(kinds[0], value) if len(kinds) == 1 else value
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if kind is dt.date:
        return dt.date.fromisoformat(value)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    return value


def event_from_payload(path: str, payload: dict[str, Any]) -> Event:
    """The event an outbox row holds, rebuilt from its class's field types."""
    module_name, _, class_name = path.rpartition(".")
    event_type = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"{path} is not an event")
    hints = typing.get_type_hints(event_type)
    return event_type(**{name: _rebuilt(hints.get(name), value) for name, value in payload.items()})


def _outbox_write(event: Event, subscribers: list[str]) -> list[int]:
    from rongcheng.kernel.models import EventOutbox

    payload, now, path = event_payload(event), timezone.now(), _type_path(type(event))
    rows = EventOutbox.objects.bulk_create(
        EventOutbox(subscriber=name, event_type=path, event_id=event.event_id, payload=payload, created_at=now)
        for name in subscribers
    )
    return [row.pk for row in rows]


class OutboxHandlerFailed(Exception):
    """A durable subscriber raised; the row stays owed and is handed over again (the job system's backoff)."""


class _HandlerRaised(Exception):
    """Raised out of the delivery's transaction to roll it back, the handler's effects with it."""

    def __init__(self, row: Any) -> None:
        super().__init__(row.pk)
        self.row = row


def outbox_deliver(row_id: int) -> bool:
    """Deliver one outbox row to its subscriber: the handler runs and the row is marked delivered in one
    transaction. True when delivered now; False when already delivered, taken by another worker at this moment, or
    its subscriber is gone. Raises `OutboxHandlerFailed` when the handler raised: its effects are rolled back with
    the whole transaction (no savepoint around the handler, two statements fewer on every delivery), then the
    attempt and the exception's class are recorded on the row, still owed, in a transaction of their own."""
    from rongcheng.kernel.models import EventOutbox

    try:
        with transaction.atomic():
            row = EventOutbox.objects.select_for_update(skip_locked=True).filter(pk=row_id, delivered_at=None).first()
            if row is None:
                return False
            with _lock:
                subscriber = _subscribers.get(row.subscriber)
            if subscriber is None:
                logger.warning("outbox row %s: no subscriber %s in this process", row.pk, row.subscriber)
                return False
            try:
                subscriber.handler(event_from_payload(row.event_type, row.payload))
            except Exception as exc:
                raise _HandlerRaised(row) from exc
            row.attempts += 1
            row.failure = ""
            row.delivered_at = timezone.now()
            row.save(update_fields=["attempts", "failure", "delivered_at"])
    except _HandlerRaised as raised:
        row, failure = raised.row, raised.__cause__
        logger.error(
            "durable subscriber %s failed on %s %s", row.subscriber, row.event_type, row.event_id, exc_info=failure
        )
        # The row's lock went with the rollback: a row delivered meanwhile by another worker keeps its state.
        EventOutbox.objects.filter(pk=row.pk, delivered_at=None).update(
            attempts=F("attempts") + 1, failure=type(failure).__name__[:200] if failure else ""
        )
        raise OutboxHandlerFailed(f"{row.subscriber} failed on outbox row {row.pk}") from failure
    return True


def outbox_deliver_all(row_ids: Iterable[int]) -> int:
    """Deliver rows in this process; a failing one is left owed (the sweep hands it over again). Returns how many
    were delivered now."""
    delivered = 0
    for row_id in row_ids:
        try:
            delivered += outbox_deliver(row_id)
        except OutboxHandlerFailed:
            continue
    return delivered


def outbox_owed(*, older_than: dt.timedelta, limit: int = 500) -> list[int]:
    """Rows still owed that were written more than `older_than` ago: their hand-over was lost (a crash between the
    commit and the dispatch) or their handler failed."""
    from rongcheng.kernel.models import EventOutbox

    before = timezone.now() - older_than
    rows = EventOutbox.objects.filter(delivered_at=None, created_at__lt=before).order_by("created_at")
    return list(rows.values_list("pk", flat=True)[:limit])


OUTBOX_KEPT = dt.timedelta(days=30)  # delivered rows kept this long, to answer "was it delivered, when?"


def outbox_delivered_delete(*, now: dt.datetime | None = None) -> int:
    """Delete the outbox rows delivered more than OUTBOX_KEPT ago (a clean-up job); a row still owed is never
    deleted. Returns how many went."""
    from rongcheng.kernel.models import EventOutbox

    before = (now or timezone.now()) - OUTBOX_KEPT
    deleted, _ = EventOutbox.objects.filter(delivered_at__lt=before).delete()
    return deleted
