"""Domain events are delivered after the commit, once per subscriber, and a failing subscriber harms no one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import transaction

from rongcheng.kernel import events
from rongcheng.kernel.events import Event, deliver, publish, subscribe, unsubscribe


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
