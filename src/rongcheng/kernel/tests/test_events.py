"""Domain events are delivered after the commit, once per subscriber, and a failing subscriber harms no one."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from rongcheng.kernel import events
from rongcheng.kernel.events import (
    Event,
    OutboxHandlerFailed,
    deliver,
    event_from_payload,
    event_payload,
    outbox_deliver,
    outbox_delivered_delete,
    outbox_owed,
    publish,
    subscribe,
    unsubscribe,
)
from rongcheng.kernel.models import EventOutbox


@dataclass(frozen=True, kw_only=True)
class ThingHappened(Event):
    thing_id: int


@dataclass(frozen=True, kw_only=True)
class OtherThing(Event):
    pass


@pytest.fixture
def received() -> Iterator[list[tuple[str, int]]]:
    seen: list[tuple[str, int]] = []
    subscribe(ThingHappened, lambda event: seen.append(("first", event.thing_id)), name="test.first")
    subscribe(ThingHappened, lambda event: seen.append(("second", event.thing_id)), name="test.second")
    yield seen
    unsubscribe("test.first")
    unsubscribe("test.second")
    unsubscribe("test.failing")


@pytest.mark.django_db(transaction=True)
def test_delivered_only_after_the_commit(received):
    with transaction.atomic():
        publish(ThingHappened(thing_id=7))
        assert received == []
    assert received == [("first", 7), ("second", 7)]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_announces_nothing(received):
    def change_then_fail() -> None:
        with transaction.atomic():
            publish(ThingHappened(thing_id=8))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert received == []


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_delivered_at_once(received):
    publish(ThingHappened(thing_id=9))
    assert received == [("first", 9), ("second", 9)]


def test_each_subscriber_gets_an_event_once(received):
    event = ThingHappened(thing_id=10)
    assert deliver(event) == 2
    assert deliver(event) == 0
    assert deliver(ThingHappened(thing_id=10)) == 2  # a new event, a new id
    assert received == [("first", 10), ("second", 10), ("first", 10), ("second", 10)]


def test_only_subscribers_of_the_type_receive_it(received):
    assert deliver(OtherThing()) == 0
    assert received == []


def test_resubscribing_a_name_replaces_it(received):
    subscribe(ThingHappened, lambda event: received.append(("replaced", event.thing_id)), name="test.first")
    deliver(ThingHappened(thing_id=11))
    assert received == [("replaced", 11), ("second", 11)]


def test_a_failing_subscriber_is_logged_and_the_others_still_run(received, caplog):
    def failing(event: ThingHappened) -> None:
        raise ValueError("boom")

    subscribe(ThingHappened, failing, name="test.failing")
    event = ThingHappened(thing_id=12)
    with caplog.at_level(logging.ERROR, logger="rongcheng.kernel.events"):
        assert deliver(event) == 2
    assert received == [("first", 12), ("second", 12)]
    assert [r.getMessage() for r in caplog.records] == [
        f"subscriber test.failing failed on ThingHappened {event.event_id}"
    ]


def test_the_memory_of_deliveries_is_bounded(received, monkeypatch):
    monkeypatch.setattr(events, "DELIVERED_REMEMBERED", 4)
    for number in range(5):
        deliver(ThingHappened(thing_id=number))
    assert len(events._delivered) == 4


# The durable path: the outbox.


@dataclass(frozen=True, kw_only=True)
class FeePaid(Event):
    receipt: str
    paid_on: dt.date
    paid_at: dt.datetime
    batch: uuid.UUID | None
    note: str | None = None


@pytest.fixture
def durable() -> Iterator[dict[str, Any]]:
    """A durable subscriber that creates a group named after the receipt (a row in the handler's transaction) and
    fails while `state["fail"]` is set, after writing that row."""
    state: dict[str, Any] = {"fail": False, "seen": []}

    def handler(event: FeePaid) -> None:
        Group.objects.create(name=f"paid {event.receipt}")
        state["seen"].append(event)
        if state["fail"]:
            raise ConnectionError("the other system is down")

    subscribe(FeePaid, handler, name="test.durable", durable=True)
    yield state
    unsubscribe("test.durable")


def _fee(receipt: str) -> FeePaid:
    return FeePaid(
        receipt=receipt, paid_on=dt.date(2026, 12, 6), paid_at=dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC),
        batch=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_durable_subscriber_is_owed_the_event_in_the_publishers_transaction_and_gets_it_once(durable):
    with transaction.atomic():
        publish(_fee("R1"))
        row = EventOutbox.objects.get()  # written before the commit, with the change
        assert row.delivered_at is None
        assert durable["seen"] == []
    row.refresh_from_db()
    assert (row.subscriber, row.attempts, row.failure) == ("test.durable", 1, "")
    assert row.delivered_at is not None
    (seen,) = durable["seen"]
    assert (seen.event_id, seen.receipt, seen.paid_on, seen.paid_at, seen.batch, seen.note) == (
        row.event_id, "R1", dt.date(2026, 12, 6), dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC),
        uuid.UUID("12345678-1234-5678-1234-567812345678"), None,
    )  # fmt: skip
    assert list(Group.objects.values_list("name", flat=True)) == ["paid R1"]
    assert outbox_deliver(row.pk) is False  # handed over again: nothing happens twice
    assert Group.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_owes_no_one(durable):
    def change_then_fail() -> None:
        with transaction.atomic():
            publish(_fee("R2"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert EventOutbox.objects.count() == 0
    assert durable["seen"] == []


@pytest.mark.django_db(transaction=True)
def test_a_failing_durable_subscriber_leaves_no_effect_and_the_event_owed_until_it_succeeds(durable, caplog):
    durable["fail"] = True
    with caplog.at_level(logging.ERROR, logger="rongcheng.kernel.events"):
        publish(_fee("R3"))  # outside a transaction: delivered at once, and fails
    row = EventOutbox.objects.get()
    assert (row.attempts, row.failure, row.delivered_at) == (1, "ConnectionError", None)
    assert Group.objects.count() == 0  # the handler's row went with its failure
    assert outbox_owed(older_than=dt.timedelta(0)) == [row.pk]
    with pytest.raises(OutboxHandlerFailed):
        outbox_deliver(row.pk)
    durable["fail"] = False
    assert outbox_deliver(row.pk) is True
    row.refresh_from_db()
    assert (row.attempts, row.failure) == (3, "")
    assert row.delivered_at is not None
    assert list(Group.objects.values_list("name", flat=True)) == ["paid R3"]
    assert outbox_owed(older_than=dt.timedelta(0)) == []


def test_an_event_is_rebuilt_from_its_payload_with_its_field_types():
    event = _fee("R4")
    payload = event_payload(event)
    assert payload["paid_on"] == "2026-12-06"
    assert payload["batch"] == "12345678-1234-5678-1234-567812345678"
    json.dumps(payload)  # plain JSON
    assert event_from_payload(f"{FeePaid.__module__}.FeePaid", payload) == event


def test_a_payload_names_only_events():
    with pytest.raises(TypeError):
        event_from_payload("rongcheng.kernel.models.EventOutbox", {})


@pytest.mark.django_db
def test_delivered_events_leave_the_outbox_after_thirty_days_and_owed_ones_never():
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)

    def row(name: str, created_days_ago: int, delivered_days_ago: int | None) -> EventOutbox:
        return EventOutbox.objects.create(
            subscriber=name, event_type="x.Y", event_id=uuid.uuid4(), payload={},
            created_at=now - dt.timedelta(days=created_days_ago),
            delivered_at=None if delivered_days_ago is None else now - dt.timedelta(days=delivered_days_ago),
        )  # fmt: skip

    row("old", 40, 31)
    row("recent", 40, 29)
    row("owed", 60, None)
    assert outbox_delivered_delete(now=now) == 1
    assert sorted(EventOutbox.objects.values_list("subscriber", flat=True)) == ["owed", "recent"]
    assert outbox_delivered_delete(now=now) == 0
