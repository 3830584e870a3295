"""A concurrent stress run on PostgreSQL: processes book random transfers between a few hot accounts and many cold
ones through the idempotent service, retry with the same keys, one dies in the middle of its transaction and one is
killed from outside; at the end every invariant holds and no transfer was applied twice. A short version (a few
seconds) runs in CI; SQLite serialises writers, so it is skipped there."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import signal
import time

import pytest
from django.db import connection, connections, transaction

from rongcheng.card import ledger, selectors
from rongcheng.card.errors import BalanceLimitExceeded, RequestInFlight
from rongcheng.card.ledger import TransferSpec
from rongcheng.card.models import Entry, IdempotencyRecord, LedgerAccount, Transfer
from rongcheng.card.services import idempotent

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency is PostgreSQL's"),
    pytest.mark.xdist_group("card-stress"),
]

COLD = 30
OPERATIONS = 25


def _operation(rng: random.Random, ids: dict[str, list[int]], worker: int, i: int) -> tuple[str, dict[str, int]]:
    purse = rng.choice(ids["purses"])
    hot = rng.choice(ids["hot"])
    return f"w{worker}-{i}", {"debit": purse, "credit": hot, "amount": rng.randint(1, 400), "fee": ids["fee"][0]}


def _run(body: dict[str, int], key: str) -> dict[str, object]:
    transfers = ledger.book(
        [
            TransferSpec(body["debit"], body["credit"], body["amount"], "payment", key=key),
            TransferSpec(body["credit"], body["fee"], 1, "fee", key=f"{key}:fee"),  # the hot fee account every time
        ]
    )
    return {"keys": [t.key for t in transfers]}


def _call(key: str, body: dict[str, int]) -> str:
    for _attempt in range(50):
        try:
            outcome = idempotent(scope="stress", key=key, body=body, run=lambda: _run(body, key))
            return "replayed" if outcome.replayed else "booked"
        except RequestInFlight:
            time.sleep(0.01)
        except BalanceLimitExceeded:
            return "refused"
    return "gave up"


def _worker(worker: int, ids: dict[str, list[int]], results: multiprocessing.Queue, die_at: int | None) -> None:
    connections.close_all()  # never share the parent's socket
    rng = random.Random(worker)
    retries = random.Random(-worker)
    for i in range(OPERATIONS):
        key, body = _operation(rng, ids, worker, i)
        if die_at is not None and i == die_at:
            transaction.atomic().__enter__()
            _run(body, key)  # locked and written, never committed
            os._exit(1)
        results.put((key, _call(key, body)))
        if retries.random() < 0.3:  # a client that did not hear the answer retries with the same key
            results.put((key, _call(key, body)))


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_keep_every_invariant_and_apply_no_transfer_twice() -> None:
    bank = ledger.account_open(code="bank", kind="bank")
    purses = [ledger.account_open(code=f"p{i}", kind="purse", lower_limit=0).id for i in range(COLD)]
    hot = [ledger.account_open(code=f"hot{i}", kind="merchant").id for i in range(2)]
    fee = ledger.account_open(code="fee", kind="fee").id
    ledger.book([TransferSpec(bank.id, p, 3000, "top_up") for p in purses])
    ids = {"purses": purses, "hot": hot, "fee": [fee]}
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()
    processes = [context.Process(target=_worker, args=(w, ids, results, 7 if w == 0 else None)) for w in range(4)]
    for process in processes:
        process.start()
    time.sleep(0.3)
    os.kill(processes[3].pid or 0, signal.SIGKILL)  # killed from outside, wherever it is
    for process in processes:
        process.join(timeout=60)
    answers: list[tuple[str, str]] = []
    while not results.empty():
        answers.append(results.get())
    # Restarted clients retry everything with the same keys: what was booked is replayed, the rest booked once.
    for worker in range(4):
        rng = random.Random(worker)
        for i in range(OPERATIONS):
            key, body = _operation(rng, ids, worker, i)
            answers.append((key, _call(key, body)))

    assert selectors.ledger_check() == []
    assert LedgerAccount.objects.filter(id__in=purses, balance__lt=0).count() == 0
    payments = Transfer.objects.filter(kind="payment")
    assert payments.count() == payments.values("key").distinct().count()
    booked = {k for k, outcome in answers if outcome == "booked"}
    assert set(booked) <= set(payments.values_list("key", flat=True))
    assert len([k for k, o in answers if o == "booked"]) == len(booked)  # each key booked by one call only
    assert not [a for a in answers if a[1] == "gave up"]
    for key in booked:
        assert Transfer.objects.filter(key__in=[key, f"{key}:fee"]).count() == 2
        assert Entry.objects.filter(transfer__key=key).count() == 2
    records = IdempotencyRecord.objects.filter(scope="stress")
    assert records.count() == records.values("key").distinct().count() == 4 * OPERATIONS


def _uploader(code: str, key: bytes, batches: list[list[dict]], owner_id: int, results: multiprocessing.Queue) -> None:
    from rongcheng.accounts.models import User
    from rongcheng.card import services

    connections.close_all()  # never share the parent's socket
    owner = User.objects.get(pk=owner_id)
    booked = duplicates = 0
    try:
        for number, taps in enumerate(batches, start=1):
            mac = services.tap_batch_mac(key, code, number, taps)
            result = services.tap_batch_upload(terminal_code=code, batch_number=number, taps=taps, actor=owner, mac=mac)
            booked, duplicates = booked + result.booked, duplicates + len(result.duplicates)
        results.put((code, booked, duplicates, ""))
    except Exception as exc:  # a deadlock, a lock timeout: reported to the test, which fails on it
        results.put((code, booked, duplicates, repr(exc)))
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_terminals_uploading_at_once_over_the_same_cards_neither_deadlock_nor_book_a_tap_twice() -> None:
    """Three terminals of one operator upload at once (as `bench/card_ledger.py --uploaders` does), every batch
    tapping the same cards, each terminal listing them in its own order, and every tap sent by all three: the
    batches lock the same card rows, in one order (cards by id, then accounts by id: the purses and the terminal's
    part of the operator's payable; ADR 0012), so none waits on another in a cycle; each (card, counter) is booked
    once and reported as a duplicate by the others, the operator is owed every tap once over its terminals' parts,
    and the ledger checks out."""
    from rongcheng.card import services
    from rongcheng.card.models import Card, Transfer
    from rongcheng.card.tests.factories import SYSTEM, card_with, merchant

    cards = [card_with(10_000) for _ in range(12)]
    bus = merchant("BUSX", "bus")
    terminals = [services.terminal_register(merchant=bus, code=f"TX{w}", actor=SYSTEM) for w in range(3)]
    at = dt.datetime.now(dt.UTC).isoformat()
    orders = [cards, cards[::-1], random.Random(3).sample(cards, len(cards))]
    plans = [
        [[{"card": c.number, "counter": 2 * b + n, "amount": 30, "at": at} for c in order for n in (1, 2)]
         for b in range(3)]
        for order in orders
    ]  # fmt: skip
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()
    processes = [
        context.Process(target=_uploader, args=(terminal.code, key, plan, bus.owner_id, results))
        for (terminal, key), plan in zip(terminals, plans, strict=True)
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert [error for *_counts, error in answers if error] == []
    unique = len(cards) * 6
    assert sum(booked for _code, booked, _d, _e in answers) == unique == Transfer.objects.filter(kind="tap").count()
    assert sum(duplicates for _code, _b, duplicates, _e in answers) == 2 * unique
    assert selectors.ledger_check() == []
    assert set(Card.objects.filter(pk__in=[c.pk for c in cards]).values_list("tap_counter", flat=True)) == {6}
    assert set(LedgerAccount.objects.filter(pk__in=[c.purse_id for c in cards]).values_list("balance", flat=True)) == {
        10_000 - 6 * 30
    }
    # the operator is owed every tap once, over its terminals' parts of its payable, each what its terminal booked
    parts = {terminal.code: LedgerAccount.objects.get(code=f"terminal:{terminal.code}") for terminal, _key in terminals}
    assert len({part.pk for part in parts.values()}) == 3
    assert LedgerAccount.objects.get(pk=bus.payable_id).balance == 0
    assert {code: part.balance for code, part in parts.items()} == {
        code: booked * 30 for code, booked, _d, _e in answers
    }
    assert sum(part.balance for part in parts.values()) == unique * 30
