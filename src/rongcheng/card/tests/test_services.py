"""Cards, payments, refunds, offline taps, QR codes, bills and clearing through the services, with bad input that
must move nothing and the authorization of every service."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from rongcheng.accounts.models import AccountKind, Department
from rongcheng.audit.models import AuditRecord
from rongcheng.card import ledger, selectors, services
from rongcheng.card.errors import (
    BalanceLimitExceeded,
    BillNotPayable,
    CardActionDenied,
    CardNotFound,
    CardNotUsable,
    CardTransitionNotAllowed,
    LedgerInputInvalid,
    QrCodeRefused,
    ReversalExceedsOriginal,
    TapBatchRefused,
    TransferKeyReused,
)
from rongcheng.card.events import BillPaid
from rongcheng.card.ledger import TransferSpec
from rongcheng.card.models import Bill, Card, CardStatus, ClearingLine, IdempotencyRecord, Receipt, Transfer
from rongcheng.card.services import luhn_digit, luhn_valid
from rongcheng.card.tests.factories import SYSTEM, account, balance, card_with, ledger_snapshot, merchant
from rongcheng.kernel import events
from rongcheng.kernel.jobs import cleanup_jobs
from rongcheng.registries.tests.factories import make_person, resident

pytestmark = pytest.mark.django_db


def test_card_numbers_carry_a_luhn_check_digit() -> None:
    assert luhn_digit("7992739871") == "3"  # the textbook example
    card = services.card_issue(actor=SYSTEM)
    assert len(card.number) == 16
    assert card.number.startswith("3501")
    assert luhn_valid(card.number)
    broken = card.number[:-1] + str((int(card.number[-1]) + 1) % 10)
    with pytest.raises(CardNotFound):
        services.card_top_up(number=broken, amount=1, channel="bank", actor=account("c", "add_transfer"), key="x")


def test_the_luhn_digit_is_the_textbook_sum_for_every_string_of_digits() -> None:
    """ASCII digits take `translate` and a byte sum (bench/README.md, "Offline taps, seventh pass"); any other digits
    Python reads as such the loop: both the textbook sum."""

    def textbook(payload: str) -> str:
        total = 0
        for position, char in enumerate(reversed(payload)):
            digit = int(char) * (2 if position % 2 == 0 else 1)
            total += digit - 9 if digit > 9 else digit
        return str((10 - total % 10) % 10)

    for length in range(1, 20):
        for start in range(0, 100, 7):
            payload = "".join(str((start + i * 7 + length) % 10) for i in range(length))
            assert luhn_digit(payload) == textbook(payload), payload
    assert luhn_digit("\u0667\u0669\u0669\u0662") == textbook("7992")  # Arabic-Indic digits, as before
    assert not luhn_valid("\u0667" * 16)
    assert not luhn_valid("79927398710x")


def test_top_up_pay_and_partial_refunds_never_beyond_the_original() -> None:
    card = card_with(1000)
    bus = merchant("BUS1", "bus")
    pay = services.card_pay(number=card.number, merchant_code="BUS1", actor=bus.owner, key="p1", amount=300)
    assert (balance(card), balance("merchant:BUS1")) == (700, 300)
    services.payment_refund(transfer_key=pay.key, amount=100, actor=bus.owner, key="r1")
    with pytest.raises(ReversalExceedsOriginal):
        services.payment_refund(transfer_key=pay.key, amount=201, actor=bus.owner, key="r2")
    services.payment_refund(transfer_key=pay.key, amount=200, actor=bus.owner, key="r3")
    assert (balance(card), balance("merchant:BUS1")) == (1000, 0)
    assert selectors.ledger_check() == []


@pytest.mark.parametrize("amount", [-5, 0, 1.5, "3", None])
def test_bad_amounts_move_nothing(amount: object) -> None:
    card = card_with(1000)
    shop = merchant("SHOP", "shop")
    before = ledger_snapshot()
    with pytest.raises(LedgerInputInvalid):
        services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="k", amount=amount)  # type: ignore[arg-type]
    assert ledger_snapshot() == before


def test_bus_fares_with_concessions_and_the_transfer_discount_within_90_minutes() -> None:
    bus = merchant("BUS1", "bus")
    merchant("METRO", "metro", owner=bus.owner)
    ordinary, student = card_with(1000), card_with(1000, card_type="student")
    t0 = timezone.now() - dt.timedelta(hours=5)

    def fare(card: Card, code: str, at: dt.datetime, k: str) -> int:
        paid = services.card_pay(number=card.number, merchant_code=code, actor=bus.owner, key=k, base_fare=200, at=at)
        return paid.amount

    assert fare(ordinary, "BUS1", t0, "a") == 200
    assert fare(ordinary, "METRO", t0 + dt.timedelta(minutes=89), "b") == 100  # transfer discount
    assert fare(ordinary, "BUS1", t0 + dt.timedelta(minutes=89 + 91), "c") == 200  # window passed
    assert fare(student, "BUS1", t0, "d") == 100  # half fare
    assert services.parking_fee(minutes=31) == 300
    assert services.parking_fee(minutes=24 * 60) == 3000
    parking = merchant("PARK", "parking", owner=bus.owner)
    paid = services.card_pay(number=ordinary.number, merchant_code=parking.code, actor=bus.owner, key="e", minutes=45)
    assert paid.amount == 300


def test_a_lost_card_is_refused_and_its_replacement_carries_the_balance() -> None:
    person = make_person()
    holder = resident(person=person)
    card = card_with(1234, holder=person.id_number_index)
    shop = merchant("SHOP", "shop")
    services.card_transition(number=card.number, action="report_loss", actor=holder)
    before = ledger_snapshot()
    with pytest.raises(CardNotUsable):
        services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="k", amount=1)
    assert ledger_snapshot() == before
    assert {"card": card.number, "reason": "lost"} in selectors.deny_list()
    with pytest.raises(CardActionDenied):  # the holder may only report a loss
        services.card_transition(number=card.number, action="replace", actor=holder)
    counter = account("counter", "change_card", "add_card")
    services.card_transition(number=card.number, action="replace", actor=counter)
    old = Card.objects.get(pk=card.pk)
    assert old.status == CardStatus.REPLACED
    assert old.replaced_by is not None
    assert (balance(old), balance(old.replaced_by)) == (0, 1234)
    with pytest.raises(CardTransitionNotAllowed):
        services.card_transition(number=card.number, action="restore", actor=counter)
    services.card_transition(number=old.replaced_by.number, action="cancel", actor=counter)
    assert (balance(old.replaced_by), balance("cash:counter")) == (0, 1234)
    assert selectors.ledger_check() == []


def test_idempotency_replays_refuses_another_body_and_replays_refusals() -> None:
    card = card_with(100)
    shop = merchant("SHOP", "shop")

    def run(key: str, amount: int):
        return lambda: services.transfer_view(
            services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key=key, amount=amount)
        )

    first = services.idempotent(scope="shop", key="k1", body={"amount": 60}, run=run("k1", 60))
    again = services.idempotent(scope="shop", key="k1", body={"amount": 60}, run=run("k1", 60))
    assert (again.body, again.replayed, first.replayed) == (first.body, True, False)
    with pytest.raises(TransferKeyReused):
        services.idempotent(scope="shop", key="k1", body={"amount": 61}, run=run("k1", 61))
    with pytest.raises(BalanceLimitExceeded):
        services.idempotent(scope="shop", key="k2", body={"amount": 50}, run=run("k2", 50))
    services.card_top_up(number=card.number, amount=100, channel="online", actor=account("ch", "add_transfer"), key="t")
    with pytest.raises(services.ReplayedRefusal) as replayed:  # replayed, not retried behind the client's back
        services.idempotent(scope="shop", key="k2", body={"amount": 50}, run=run("k2", 50))
    assert (replayed.value.status, replayed.value.type_slug) == (422, "balance-limit-exceeded")
    assert balance(card) == 140


def test_old_idempotency_records_are_deleted_and_a_late_retry_still_moves_no_money_twice() -> None:
    card = card_with(100)
    shop = merchant("SHOP", "shop")

    def run() -> dict:
        return services.transfer_view(
            services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="ledger-k", amount=60)
        )

    first = services.idempotent(scope="shop", key="k1", body={"amount": 60}, run=run)
    services.idempotent(scope="shop", key="k2", body={"amount": 1}, run=lambda: {"answer": 1})
    IdempotencyRecord.objects.filter(key="k1").update(created_at=timezone.now() - dt.timedelta(days=7, seconds=1))
    IdempotencyRecord.objects.filter(key="k2").update(created_at=timezone.now() - dt.timedelta(days=6, hours=23))
    jobs = {job.name: job for job in cleanup_jobs()}
    assert jobs["card-idempotency"].run() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k2"]
    assert jobs["card-idempotency"].run() == 0
    late = services.idempotent(scope="shop", key="k1", body={"amount": 60}, run=run)
    assert (late.replayed, late.body["key"]) == (False, first.body["key"])  # the ledger's key: the same transfer
    assert balance(card) == 40
    assert Transfer.objects.filter(kind="payment").count() == 1


def _batch(terminal_code: str, key: bytes, number: int, taps: list[dict]) -> dict:
    return {"terminal_code": terminal_code, "batch_number": number, "taps": taps,
            "mac": services.tap_batch_mac(key, terminal_code, number, taps)}  # fmt: skip


def test_offline_taps_book_at_tap_time_report_duplicates_and_gaps_and_refuse_forged_batches() -> None:
    card = card_with(150)
    bus = merchant("BUS1", "bus")
    _terminal, key = services.terminal_register(merchant=bus, code="T1", actor=SYSTEM)
    days_ago = (timezone.now() - dt.timedelta(days=3)).isoformat()
    taps = [{"card": card.number, "counter": 1, "amount": 100, "at": days_ago},
            {"card": card.number, "counter": 4, "amount": 100, "at": days_ago}]  # fmt: skip
    result = services.tap_batch_upload(**_batch("T1", key, 1, taps), actor=bus.owner)
    assert (result.booked, result.gaps) == (2, [{"card": card.number, "missing": [2, 3], "count": 2}])
    assert balance(card) == -50  # offline taps book into debt
    assert {"card": card.number, "reason": "debt"} in selectors.deny_list()
    tap = Transfer.objects.get(key=services.tap_key(card.pk, 1))  # the tap is its transfer
    assert (tap.kind, tap.business_at.isoformat(), tap.batch_id) == ("tap", days_ago, result.batch.pk)
    before = ledger_snapshot()
    again = services.tap_batch_upload(**_batch("T1", key, 2, taps[:1]), actor=bus.owner)
    assert (again.booked, again.duplicates) == (0, [{"card": card.number, "counter": 1}])
    with pytest.raises(TapBatchRefused, match="missing"):
        services.tap_batch_upload(**_batch("T1", key, 4, taps), actor=bus.owner)
    with pytest.raises(TapBatchRefused, match="MAC"):
        services.tap_batch_upload(**_batch("T1", b"f" * 16, 3, taps), actor=bus.owner)
    with pytest.raises(TapBatchRefused, match="terminal"):
        services.tap_batch_upload(**_batch("FORGED", key, 1, taps), actor=bus.owner)
    with pytest.raises(CardActionDenied):
        services.tap_batch_upload(**_batch("T1", key, 3, taps), actor=account("other", kind=AccountKind.API_CLIENT))
    assert ledger_snapshot() == before
    services.card_top_up(number=card.number, amount=100, channel="cash", actor=account("cs", "add_card"), key="t2")
    assert balance(card) == 50  # the debt recovered by the top-up
    assert {"card": card.number, "reason": "debt"} not in selectors.deny_list()


def test_a_tap_batch_books_set_wise_entries_in_tap_order_and_keeps_the_cards_highest_counter() -> None:
    rich, poor = card_with(150), card_with(0)
    bus = merchant("BUS2", "bus")
    terminal, key = services.terminal_register(merchant=bus, code="T2", actor=SYSTEM)
    at = (timezone.now() - dt.timedelta(hours=2)).isoformat()
    nobody = "3501000000000000"[:15]
    nobody += luhn_digit(nobody)
    taps = [{"card": rich.number, "counter": 1, "amount": 100, "at": at},
            {"card": poor.number, "counter": 3, "amount": 50, "at": at},
            {"card": rich.number, "counter": 2, "amount": 100, "at": at},
            {"card": rich.number, "counter": 2, "amount": 100, "at": at},  # the same tap twice in one batch
            {"card": nobody, "counter": 1, "amount": 100, "at": at}]  # fmt: skip
    result = services.tap_batch_upload(**_batch("T2", key, 1, taps), actor=bus.owner)
    assert (result.booked, result.duplicates, result.unknown_cards) == (
        3,
        [{"card": rich.number, "counter": 2}],
        [nobody],
    )
    assert result.gaps == [{"card": poor.number, "missing": [1, 2], "count": 2}]
    assert (balance(rich), balance(poor)) == (-50, -50)
    assert [(t.amount, t.overdraft) for t in Transfer.objects.filter(kind="tap", debit=rich.purse).order_by("id")] == [
        (100, False), (100, True)]  # fmt: skip
    assert list(rich.purse.entries.order_by("id").values_list("balance_before", "balance_after")) == [
        (0, 150), (150, 50), (50, -50)]  # fmt: skip
    # credited to the terminal's part of the operator's payable (ADR 0012), in the taps' order in the batch
    assert terminal.payable is not None
    payable = list(terminal.payable.entries.order_by("id").values_list("balance_before", "amount"))
    assert payable == [(0, 100), (100, 50), (150, 100)]
    assert not bus.payable.entries.exists()
    assert {c.number: c.tap_counter for c in Card.objects.filter(pk__in=[rich.pk, poor.pk])} == {
        rich.number: 2, poor.number: 3}  # fmt: skip
    late = [{"card": poor.number, "counter": 1, "amount": 50, "at": at},
            {"card": poor.number, "counter": 3, "amount": 50, "at": at}]  # fmt: skip
    again = services.tap_batch_upload(**_batch("T2", key, 2, late), actor=bus.owner)
    assert (again.booked, again.duplicates, again.gaps) == (1, [{"card": poor.number, "counter": 3}], [])
    assert Card.objects.get(pk=poor.pk).tap_counter == 3
    assert selectors.ledger_check() == []
    assert {"card": poor.number, "reason": "debt"} in selectors.deny_list()


def test_tap_times_in_any_iso_form_book_at_their_instant_and_gaps_count_across_late_taps() -> None:
    """A tap time in the form `isoformat` gives goes to the database as the terminal sent it; any other ISO 8601
    form Python reads (week date, basic format, a space, milliseconds, Z) is written out again: each transfer is
    booked at the instant Python reads. Gaps are counted against the card's highest counter booked, with late taps
    below it (filling an earlier gap) neither counted nor raising it."""
    fast, slow, late = card_with(1000), card_with(1000), card_with(1000)
    bus = merchant("BUST", "bus")
    _terminal, key = services.terminal_register(merchant=bus, code="TT", actor=SYSTEM)
    times = [
        "2026-12-06T08:30:00+08:00", "2026-12-06T08:30:00.250000+08:00", "2026-W49-7T08:31:00+08:00",
        "20261206T083200+0800", "2026-12-06 08:33:00+08:00", "2026-12-06T00:34:00.125Z", "2026-12-06T08:35:00-02:30",
    ]  # fmt: skip
    first = [{"card": fast.number, "counter": n, "amount": 10, "at": at} for n, at in enumerate(times, start=1)]
    first += [{"card": late.number, "counter": n, "amount": 10, "at": times[0]} for n in (1, 2, 5)]
    result = services.tap_batch_upload(**_batch("TT", key, 1, first), actor=bus.owner)
    assert (result.booked, result.gaps) == (10, [{"card": late.number, "missing": [3, 4], "count": 2}])
    for n, at in enumerate(times, start=1):
        booked = Transfer.objects.get(key=services.tap_key(fast.pk, n)).business_at
        assert booked == dt.datetime.fromisoformat(at), at
    assert ledger.pg_times([times[0], dt.datetime.fromisoformat(times[1])]) == "{" + ",".join(times[:2]) + "}"
    second = [{"card": late.number, "counter": 4, "amount": 10, "at": times[0]},  # fills the gap: not counted
              {"card": slow.number, "counter": 2, "amount": 10, "at": times[0]},
              {"card": late.number, "counter": 9, "amount": 10, "at": times[0]},
              {"card": late.number, "counter": 6, "amount": 10, "at": times[0]},
              {"card": slow.number, "counter": 1, "amount": 10, "at": times[0]}]  # fmt: skip
    again = services.tap_batch_upload(**_batch("TT", key, 2, second), actor=bus.owner)
    assert (again.booked, again.duplicates) == (5, [])
    assert again.gaps == [{"card": late.number, "missing": [7, 8], "count": 2}]
    counters = dict(Card.objects.filter(pk__in=[fast.pk, slow.pk, late.pk]).values_list("number", "tap_counter"))
    assert counters == {fast.number: len(times), slow.number: 2, late.number: 9}
    assert selectors.ledger_check() == []


def test_array_literals_escape_only_what_needs_it() -> None:
    """A batch's keys and card numbers hold no quote or backslash: they are joined as they are, with no pass over
    each element (the check looked at the joined literal, whose separators are quotes, and never took that way)."""

    class Plain(str):
        def replace(self, *args: object, **kwargs: object) -> str:
            raise AssertionError("an element without a quote or backslash escaped one by one")

    keys = [Plain(services.tap_key(n, n + 1)) for n in range(3)]
    assert ledger.pg_texts(keys) == '{"tap:0:1","tap:1:2","tap:2:3"}'
    assert ledger.pg_texts([]) == "{}"
    assert ledger.pg_texts(['say "hi"', "a\\b", "x"]) == '{"say \\"hi\\"","a\\\\b","x"}'


def test_each_tap_of_a_batch_is_a_transfer_of_its_own_and_the_ids_follow_the_taps_order() -> None:
    """On PostgreSQL the batch's transfer ids are drawn from the sequence before the rows are written (no join back
    by key): each tap is the transfer of its own card (the purse), counter (the key), fare and time, naming its
    batch, the ids ascending in the batch's order, each with its two entries; and nothing outside the batch's
    accounts and cards changes."""
    from rongcheng.card.models import Entry

    cards = [card_with(b) for b in (500, 0, 80)]
    bystander = card_with(300)
    bus = merchant("BUSI", "bus")
    terminal, key = services.terminal_register(merchant=bus, code="TI", actor=SYSTEM)
    now = timezone.now()
    plan = [(2, 1, 30, 9), (0, 1, 200, 8), (1, 1, 5, 7), (0, 2, 200, 6), (2, 2, 60, 5), (1, 2, 7, 4), (0, 3, 150, 3)]
    taps = [{"card": cards[c].number, "counter": n, "amount": a, "at": (now - dt.timedelta(minutes=m)).isoformat()}
            for c, n, a, m in plan]  # fmt: skip
    before = bystander.purse.entries.count(), balance(bystander), Card.objects.get(pk=bystander.pk).tap_counter
    result = services.tap_batch_upload(**_batch("TI", key, 1, taps), actor=bus.owner)
    assert result.booked == len(plan)
    rows = list(result.batch.transfers.order_by("id"))
    assert [t.key for t in rows] == [services.tap_key(cards[c].pk, n) for c, n, _a, _m in plan]
    for transfer, (c, _n, amount, _m), raw in zip(rows, plan, taps, strict=True):
        assert (transfer.kind, transfer.batch_id, result.batch.terminal.code) == ("tap", result.batch.pk, "TI")
        assert (transfer.debit_id, transfer.credit_id) == (cards[c].purse_id, terminal.payable_id)
        assert transfer.amount == amount == raw["amount"]
        assert transfer.business_at == dt.datetime.fromisoformat(str(raw["at"]))
        sides = list(Entry.objects.filter(transfer=transfer).order_by("id").values_list("account_id", "amount"))
        assert sides == [(cards[c].purse_id, -amount), (terminal.payable_id, amount)]
    assert [balance(c) for c in cards] == [500 - 550, 0 - 12, 80 - 90]
    assert (balance(f"terminal:{terminal.code}"), balance(bus.payable)) == (652, 0)
    assert (bystander.purse.entries.count(), balance(bystander), Card.objects.get(pk=bystander.pk).tap_counter) == (
        before)  # fmt: skip
    assert Transfer.objects.filter(kind="tap").count() == len(plan)
    assert selectors.ledger_check() == []


def test_a_batch_booked_set_wise_gives_the_same_ledger_as_its_taps_booked_one_by_one() -> None:
    """The set-based booking (one statement of arrays on PostgreSQL) against the ledger engine booking each tap as
    its own transfer (`ledger.book`, the general path): twin cards with the same balances, the same taps in the same
    order, late and out of time order, some into debt; the same transfers, entries and balances come out."""
    from rongcheng.card import ledger
    from rongcheng.card.ledger import TransferSpec

    starts = [150, 0, 1000]
    batch_cards, single_cards = [card_with(b) for b in starts], [card_with(b) for b in starts]
    batched, single = merchant("BUSA", "bus"), merchant("BUSB", "bus")
    terminal, key = services.terminal_register(merchant=batched, code="TA", actor=SYSTEM)
    now = timezone.now()
    plan = [
        (0, 1, 100, 50),
        (1, 1, 50, 49),
        (2, 1, 200, 72 * 60),
        (0, 2, 100, 30),
        (2, 2, 1, 5),
        (1, 2, 50, 10),
        (0, 3, 100, 2),
        (2, 3, 999, 1),
    ]  # (card, counter, fare, minutes ago): days late, out of time order
    times = [(now - dt.timedelta(minutes=m)).isoformat() for _c, _n, _a, m in plan]
    taps = [{"card": batch_cards[c].number, "counter": n, "amount": a, "at": at}
            for (c, n, a, _m), at in zip(plan, times, strict=True)]  # fmt: skip
    result = services.tap_batch_upload(**_batch("TA", key, 1, taps), actor=batched.owner)
    assert (result.booked, result.duplicates, result.gaps) == (len(plan), [], [])
    for (c, n, a, _m), at in zip(plan, times, strict=True):
        ledger.book([TransferSpec(single_cards[c].purse_id, single.payable_id, a, "tap", key=f"one:{c}:{n}",
                                  overdraft=True, business_at=dt.datetime.fromisoformat(at))])  # fmt: skip

    def transfers(purse_id: int) -> list[tuple]:
        return list(Transfer.objects.filter(kind="tap", debit_id=purse_id).order_by("id").values_list(
            "amount", "overdraft", "business_at", "phase"))  # fmt: skip

    def entries(account_id: int) -> list[tuple]:
        from rongcheng.card.models import Entry

        return list(Entry.objects.filter(account_id=account_id, transfer__kind="tap").order_by("id").values_list(
            "amount", "balance_before", "balance_after"))  # fmt: skip

    for one, other in zip(batch_cards, single_cards, strict=True):
        assert transfers(one.purse_id) == transfers(other.purse_id)
        assert entries(one.purse_id) == entries(other.purse_id)
        assert balance(one) == balance(other)
    assert terminal.payable_id is not None
    assert entries(terminal.payable_id) == entries(single.payable_id)  # the terminal's part of the payable
    assert balance(f"terminal:{terminal.code}") == balance(single.payable) == sum(a for _c, _n, a, _m in plan)
    assert [balance(c) for c in batch_cards] == [-150, -100, -200]
    assert selectors.ledger_check() == []


def test_the_database_refuses_a_reference_to_nothing_and_deleting_what_the_ledger_names() -> None:
    """The references of transfers (a tap's batch among them, migration 0015) and entries are the database's to
    enforce (checked per statement on PostgreSQL, per row on SQLite; migration 0011): a wrong id is refused, and so
    is deleting a row still named (on SQLite by Django's PROTECT: its triggers cannot be deferred, see the
    migration); on PostgreSQL a card whose purse has moved money (its taps) cannot be deleted either."""
    from django.db import IntegrityError, connection, transaction
    from django.db.models import ProtectedError

    from rongcheng.card.models import Card, LedgerAccount, TapBatch, Terminal

    card = card_with(100)
    bus = merchant("BUSR", "bus")
    terminal, key = services.terminal_register(merchant=bus, code="TR", actor=SYSTEM)
    taps = [{"card": card.number, "counter": 1, "amount": 10, "at": timezone.now().isoformat()}]
    services.tap_batch_upload(**_batch("TR", key, 1, taps), actor=bus.owner)
    tap = Transfer.objects.select_related("batch").get(key=services.tap_key(card.pk, 1))
    assert tap.batch is not None
    before = ledger_snapshot()
    now = timezone.now()
    wrong: list[tuple[str, list[object]]] = [
        ("INSERT INTO card_entry (transfer_id, account_id, amount, balance_before, balance_after, at) "
         "VALUES (%s, %s, 1, 0, 1, %s)", [tap.pk, 10**9, now]),
        ("INSERT INTO card_entry (transfer_id, account_id, amount, balance_before, balance_after, at) "
         "VALUES (%s, %s, 1, 0, 1, %s)", [10**9, bus.payable_id, now]),
        ("INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, linked_group, overdraft, memo, "
         "created_at, business_at) VALUES ('wrong', 'tap', 'single', 1, %s, %s, '', false, '', %s, %s)",
         [10**9, bus.payable_id, now, now]),
        ("INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, reverses_id, linked_group, "
         "overdraft, memo, created_at, business_at) VALUES ('wrong', 'refund', 'single', 1, %s, %s, %s, '', false, "
         "'', %s, %s)", [bus.payable_id, card.purse_id, 10**9, now, now]),
        # a tap's batch (migration 0015)
        ("INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, linked_group, overdraft, memo, "
         "created_at, business_at, batch_id) VALUES ('wrong', 'tap', 'single', 1, %s, %s, '', false, '', %s, %s, %s)",
         [card.purse_id, bus.payable_id, now, now, 10**9]),
    ]  # fmt: skip
    if connection.vendor == "postgresql":
        wrong += [
            # the account the tap credits: the terminal's part of the operator's payable (ADR 0012, sixth pass)
            ("DELETE FROM card_ledgeraccount WHERE id = %s", [terminal.payable_id]),
            ("DELETE FROM card_card WHERE id = %s", [card.pk]),
            ("DELETE FROM card_terminal WHERE id = %s", [tap.batch.terminal_id]),
            ("DELETE FROM card_tapbatch WHERE id = %s", [tap.batch_id]),
        ]
    named = [(LedgerAccount, bus.payable_id), (LedgerAccount, terminal.payable_id), (Terminal, tap.batch.terminal_id),
             (TapBatch, tap.batch_id)]  # fmt: skip
    for sql, params in wrong:
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)  # type: ignore[arg-type]
    for model, pk in named:
        with pytest.raises(ProtectedError), transaction.atomic():
            model._default_manager.filter(pk=pk).delete()
    assert ledger_snapshot() == before
    assert Card.objects.filter(pk=card.pk).exists()
    assert Transfer.objects.get(pk=tap.pk).batch_id == tap.batch_id


def test_qr_codes_pay_once_within_60_seconds_and_verify_offline() -> None:
    person = make_person()
    holder = resident(person=person)
    card = services.virtual_card_open(user=holder)
    services.card_top_up(number=card.number, amount=500, channel="online", actor=account("ch", "add_transfer"), key="t")
    shop = merchant("SHOP", "shop")
    code = services.qr_code_issue(number=card.number, user=holder)
    from rongcheng.card.keys import platform_key

    claims = services.qr_code_verify(code, public_key=platform_key().public_key)
    assert (claims["card"], claims["exp"] - claims["iat"]) == (card.number, 60)
    services.qr_code_pay(code=code, merchant_code="SHOP", amount=200, actor=shop.owner, key="q1")
    before = ledger_snapshot()
    with pytest.raises(QrCodeRefused, match="already used"):
        services.qr_code_pay(code=code, merchant_code="SHOP", amount=200, actor=shop.owner, key="q2")
    stale = services.qr_code_issue(number=card.number, user=holder, now=time.time() - 61)
    with pytest.raises(QrCodeRefused, match="expired"):
        services.qr_code_pay(code=stale, merchant_code="SHOP", amount=1, actor=shop.owner, key="q3")
    payload, signature = code.split(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    with pytest.raises(QrCodeRefused):
        services.qr_code_pay(code=forged, merchant_code="SHOP", amount=1, actor=shop.owner, key="q4")
    assert ledger_snapshot() == before
    with pytest.raises(CardActionDenied):
        services.qr_code_issue(number=card.number, user=resident("someone-else"))


def test_a_bill_is_paid_once_with_a_signed_receipt_and_an_event(django_capture_on_commit_callbacks) -> None:
    dept = Department.objects.create(code="FZ-CZJ", name="福州市财政局")
    clerk = account("clerk", "add_bill", department=dept)
    seen: list[BillPaid] = []
    events.subscribe(BillPaid, seen.append, name="card-test")
    try:
        person = make_person()
        holder = resident(person=person)
        card = card_with(10_000, holder=person.id_number_index)
        bill = services.bill_issue(department_id=dept.pk, item="不动产登记费", payer_name="林则徐", amount=8000,
                                   actor=clerk, reference="HALL-1", payer_index=person.id_number_index)  # fmt: skip
        assert len(bill.payment_code) == 20
        assert luhn_valid(bill.payment_code)
        with pytest.raises(CardActionDenied):
            services.bill_issue(department_id=dept.pk, item="x", payer_name="y", amount=1, actor=account("n"))
        with pytest.raises(CardActionDenied):
            services.bill_pay_by_card(payment_code=bill.payment_code, number=card.number, user=resident("x"), key="b0")
        with django_capture_on_commit_callbacks(execute=True):
            services.bill_pay_by_card(payment_code=bill.payment_code, number=card.number, user=holder, key="b1")
        before = ledger_snapshot()
        with pytest.raises(BillNotPayable):
            services.bill_pay_by_channel(payment_code=bill.payment_code, channel="bank",
                                         actor=account("ch", "add_transfer"), key="b2")  # fmt: skip
        assert ledger_snapshot() == before
    finally:
        events.unsubscribe("card-test")
    assert (balance(card), balance(f"treasury:{dept.code}")) == (2000, 8000)
    receipt = Receipt.objects.get(bill=bill)
    assert services.receipt_verify(receipt.number)[1] is True
    assert [(e.reference, e.amount) for e in seen] == [("HALL-1", 8000)]
    Bill.objects.filter(pk=bill.pk).update(item="篡改")
    assert services.receipt_verify(receipt.number)[1] is False


def test_clearing_settles_each_merchant_once_and_a_rerun_clears_only_late_uploads() -> None:
    finance = account("finance", "add_clearingrun")
    card = card_with(5000)
    bus = merchant("BUS1", "bus", fee_rate=100)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    noon = dt.datetime.combine(yesterday, dt.time(12), tzinfo=services.CITY_ZONE)
    services.card_pay(number=card.number, merchant_code="BUS1", actor=bus.owner, key="p1", amount=1000, at=noon)
    paid = services.card_pay(number=card.number, merchant_code="BUS1", actor=bus.owner, key="p2", amount=1000, at=noon)
    services.payment_refund(transfer_key=paid.key, amount=300, actor=bus.owner, key="r1")
    with pytest.raises(CardActionDenied):
        services.clearing_run(business_date=yesterday, actor=bus.owner)
    first = services.clearing_run(business_date=yesterday, actor=finance)
    line = ClearingLine.objects.get(run=first)
    assert (line.count, line.gross, line.refunds, line.fees, line.net) == (2, 2000, 0, 20, 1980)
    # the refund was made today: it belongs to today's clearing
    assert balance("merchant:BUS1") == 2000 - 300 - 20 - 1980
    _terminal, key = services.terminal_register(merchant=bus, code="T1", actor=SYSTEM)
    taps = [{"card": card.number, "counter": 1, "amount": 150, "at": noon.isoformat()}]
    services.tap_batch_upload(**_batch("T1", key, 1, taps), actor=bus.owner)
    second = services.clearing_run(business_date=yesterday, actor=finance)
    late = ClearingLine.objects.get(run=second)
    assert (late.count, late.gross, late.fees, late.net) == (1, 150, 1, 149)
    # the tap was credited to the terminal's part of the payable; the file names the merchant's payable, as before
    assert f"{services.tap_key(card.pk, 1)},tap,merchant:BUS1,150," in second.settlement_file
    assert "# late since" in second.settlement_file
    assert Transfer.objects.filter(kind="settlement").count() == 2
    # the part was swept into the merchant's payable, which the fee and the settlement debited
    sweep = Transfer.objects.get(kind="sweep")
    assert (sweep.debit.code, sweep.credit.code, sweep.amount) == ("terminal:T1", "merchant:BUS1", 150)
    assert (balance("terminal:T1"), balance("merchant:BUS1")) == (0, 2000 - 300 - 20 - 1980 + 150 - 1 - 149)
    assert selectors.ledger_check() == []


def test_a_batchs_taps_clear_refund_and_read_as_of_as_taps_booked_one_by_one() -> None:
    """A tap is its transfer (migration 0015): the clearing of a batch's taps gives the same line (count, gross,
    refunds, fees, net) as the same taps booked one by one through the ledger engine (the shape every tap had
    before), a tap can still be refunded by its key (never beyond its fare), and
    a purse's balance as of any moment (one query) equals replaying its entries up to that moment."""
    from rongcheng.card import ledger
    from rongcheng.card.ledger import TransferSpec
    from rongcheng.card.models import Entry

    finance = account("finance", "add_clearingrun")
    twins = [(card_with(300), card_with(300)) for _ in range(3)]
    batched, single = merchant("BUSC", "bus", fee_rate=60), merchant("BUSD", "bus", fee_rate=60)
    terminal, key = services.terminal_register(merchant=batched, code="TC", actor=SYSTEM)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    start = dt.datetime.combine(yesterday, dt.time(7), tzinfo=services.CITY_ZONE)
    plan = [(0, 1, 200, 0), (1, 1, 150, 3), (0, 2, 200, 9), (2, 1, 75, 11), (1, 2, 150, 30), (0, 3, 200, 50)]
    taps = [{"card": twins[c][0].number, "counter": n, "amount": a, "at": (start + dt.timedelta(minutes=m)).isoformat()}
            for c, n, a, m in plan]  # fmt: skip
    result = services.tap_batch_upload(**_batch("TC", key, 1, taps), actor=batched.owner)
    assert result.booked == len(plan)
    for c, n, a, m in plan:
        ledger.book([TransferSpec(twins[c][1].purse_id, single.payable_id, a, "tap", key=f"single:{c}:{n}",
                                  overdraft=True, business_at=start + dt.timedelta(minutes=m))])  # fmt: skip
    run = services.clearing_run(business_date=yesterday, actor=finance)
    lines = {line.merchant.code: line for line in ClearingLine.objects.filter(run=run)}
    figures = {code: (x.count, x.gross, x.refunds, x.fees, x.net) for code, x in lines.items()}
    assert figures["BUSC"] == figures["BUSD"] == (6, 975, 0, 5, 970)
    # a tap refunded by its key, never beyond its fare
    tap = Transfer.objects.get(key=services.tap_key(twins[0][0].pk, 3))
    refund = services.payment_refund(transfer_key=tap.key, amount=120, actor=batched.owner, key="tap-refund")
    assert (refund.reverses_id, refund.debit_id, refund.credit_id) == (tap.pk, terminal.payable_id, tap.debit_id)
    with pytest.raises(ReversalExceedsOriginal):
        services.payment_refund(transfer_key=tap.key, amount=81, actor=batched.owner, key="tap-refund-2")
    assert balance(twins[0][0]) == 300 - 600 + 120
    # as of every moment an entry was posted (and between), the one-query balance equals replaying the entries
    for card, _twin in twins:
        entries = list(Entry.objects.filter(account_id=card.purse_id).order_by("at", "id"))
        moments = sorted({e.at for e in entries} | {e.at - dt.timedelta(microseconds=1) for e in entries})
        for moment in moments:
            replayed = sum(e.amount for e in entries if e.at <= moment)
            assert selectors.balance_as_of(card.purse_id, moment) == replayed
        assert [e.balance_after for e in entries][-1] == balance(card)
    assert selectors.ledger_check() == []


def test_an_operators_terminals_book_to_parts_of_its_payable_that_clear_and_show_as_one(
    django_assert_num_queries,
) -> None:
    """ADR 0012, "An operator's payable split by terminal": each terminal's taps are credited to its own part of the
    operator's payable (batches of two terminals lock different accounts), and everything that reads the operator's
    money sums the parts with its payable: the clearing (the same line as one payable gives, with the parts swept
    into the payable), its transactions (the page and the API), the card's transfer discount after a tap, the
    counterparty a card's history names, and its balance as of any moment (one query)."""
    finance = account("finance", "add_clearingrun")
    bus, twin = merchant("BUSP", "bus", fee_rate=100), merchant("BUSQ", "bus", fee_rate=100)
    first, key_1 = services.terminal_register(merchant=bus, code="TP1", actor=SYSTEM)
    second, key_2 = services.terminal_register(merchant=bus, code="TP2", actor=SYSTEM)
    assert len({first.payable_id, second.payable_id, bus.payable_id}) == 3
    riders = [card_with(1000), card_with(1000)]
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    noon = dt.datetime.combine(yesterday, dt.time(12), tzinfo=services.CITY_ZONE)
    services.card_pay(number=riders[0].number, merchant_code="BUSP", actor=bus.owner, key="cash", amount=500, at=noon)
    services.card_pay(number=riders[0].number, merchant_code="BUSQ", actor=twin.owner, key="twin", amount=500, at=noon)
    before_taps = timezone.now()
    plans = [(first, key_1, riders[0], [200, 200]), (second, key_2, riders[1], [300])]
    for terminal, key, card, fares in plans:
        taps = [{"card": card.number, "counter": n, "amount": a, "at": noon.isoformat()}
                for n, a in enumerate(fares, start=1)]  # fmt: skip
        services.tap_batch_upload(**_batch(terminal.code, key, 1, taps), actor=bus.owner)
        for n, a in enumerate(fares, start=1):  # the same taps, booked to the twin's one payable
            ledger.book([TransferSpec(card.purse_id, twin.payable_id, a, "tap", key=f"twin:{card.pk}:{n}",
                                      overdraft=True, business_at=noon)])  # fmt: skip
    assert (balance("terminal:TP1"), balance("terminal:TP2"), balance(bus.payable)) == (400, 300, 500)
    assert balance(twin.payable) == 1200
    after_taps = timezone.now()
    with django_assert_num_queries(1):
        owed = selectors.merchant_balance_as_of(bus, after_taps)
    assert (owed, selectors.merchant_balance_as_of(bus, before_taps)) == (1200, 500)
    # its transactions: the payment and the three taps, all credited to the operator
    listed = list(selectors.merchant_transactions(bus))
    assert sorted(t.amount for t in listed) == [200, 200, 300, 500]
    accounts = set(selectors.merchant_account_ids(bus))
    assert all(t.credit_id in accounts for t in listed)
    # a card's history names the operator of a tap credited to a terminal's part
    taps_shown = [line.counterparty for line in selectors.card_history(riders[1]) if line.kind == "tap"]
    assert sorted(taps_shown) == sorted([bus.name, twin.name])
    # the clearing: the same line as the twin's one payable, the parts swept into the payable
    run = services.clearing_run(business_date=yesterday, actor=finance)
    lines = {line.merchant.code: line for line in ClearingLine.objects.filter(run=run)}
    figures = {code: (x.count, x.gross, x.refunds, x.fees, x.net) for code, x in lines.items()}
    assert figures["BUSP"] == figures["BUSQ"] == (4, 1200, 0, 12, 1188)
    sweeps = Transfer.objects.filter(kind="sweep").order_by("debit__code")
    assert [(t.debit.code, t.credit_id, t.amount) for t in sweeps] == [
        ("terminal:TP1", bus.payable_id, 400), ("terminal:TP2", bus.payable_id, 300)]  # fmt: skip
    assert (balance("terminal:TP1"), balance("terminal:TP2"), balance(bus.payable), balance(twin.payable)) == (
        0, 0, 0, 0)  # fmt: skip
    # a ride within 90 minutes of a tap on the operator's bus gets the transfer discount
    paid = services.card_pay(number=riders[1].number, merchant_code="BUSP", actor=bus.owner, key="on",
                             base_fare=200, at=noon + dt.timedelta(minutes=30))  # fmt: skip
    assert paid.amount == 100
    assert selectors.merchant_balance_as_of(bus, timezone.now()) == balance(bus.payable) == 100
    assert not any(t.kind == "sweep" for t in selectors.merchant_transactions(bus))
    assert selectors.ledger_check() == []


def test_reconciliation_lists_every_unmatched_item() -> None:
    finance = account("finance", "add_clearingrun")
    channel = account("ch", "add_transfer")
    card = card_with()
    services.card_top_up(number=card.number, amount=100, channel="bank", actor=channel, key="a", reference="B-1")
    services.card_top_up(number=card.number, amount=200, channel="bank", actor=channel, key="b", reference="B-2")
    statement = "reference,amount\nB-1,100\nB-2,250\nB-9,70\n"
    report = services.reconcile(business_date=timezone.localdate(), channel="bank", statement=statement, actor=finance)
    assert report.matched == 1
    assert report.amount_differs == [{"reference": "B-2", "ours": 200, "theirs": 250}]
    assert report.theirs_only == [{"reference": "B-9", "amount": 70}]
    assert not report.balanced


def test_authorization_refusals_are_audited_and_move_nothing() -> None:
    card = card_with(500)
    merchant("SHOP", "shop")
    stranger = account("stranger", kind=AccountKind.API_CLIENT)
    before = ledger_snapshot()
    cases = [
        lambda: services.card_pay(number=card.number, merchant_code="SHOP", actor=stranger, key="k", amount=1),
        lambda: services.card_top_up(number=card.number, amount=1, channel="bank", actor=stranger, key="k"),
        lambda: services.card_issue(actor=stranger),
        lambda: services.card_transition(number=card.number, action="freeze", actor=stranger),
        lambda: services.clearing_run(business_date=timezone.localdate() - dt.timedelta(days=1), actor=stranger),
        lambda: services.reconcile(business_date=timezone.localdate(), channel="bank", statement="", actor=stranger),
    ]
    for case in cases:
        with pytest.raises(CardActionDenied):
            case()
    assert ledger_snapshot() == before
    assert AuditRecord.objects.filter(outcome="denied", actor_id=str(stranger.pk)).count() == len(cases)


def test_a_counter_issues_a_named_card_through_the_audited_registry_read() -> None:
    from rongcheng.registries.tests.factories import make_id_number

    id_number = make_id_number(sequence=77)
    person = make_person(id_number=id_number, name="林则徐")
    from django.contrib.auth.models import Permission

    counter = account("counter", "add_card")
    counter.user_permissions.add(Permission.objects.get(codename="view_person"))
    counter = type(counter).objects.get(pk=counter.pk)
    card, name = services.card_issue_for_person(actor=counter, id_number=id_number)
    assert card.holder_index == person.id_number_index
    assert name == "林**"  # masked: the counter holds no entitlement to the name in clear
    reads = AuditRecord.objects.filter(action="registries.person.read", actor_id=str(counter.pk))
    assert reads.count() == 1
    with pytest.raises(CardActionDenied):
        services.card_issue_for_person(actor=account("nobody"), id_number=id_number)
    assert Card.objects.count() == 1


def test_the_card_lifecycle_table_is_the_drawing_in_its_docstring() -> None:
    from rongcheng.card.lifecycle import FINAL_STATES, TRANSITIONS
    from rongcheng.kernel.transitions import walk

    states, edges = walk(TRANSITIONS, "active")
    assert states == {"active", "lost", "frozen", "replaced", "cancelled"}
    assert set(edges) == {
        ("active", "report_loss", "lost"), ("active", "freeze", "frozen"), ("lost", "restore", "active"),
        ("frozen", "restore", "active"), ("active", "replace", "replaced"), ("lost", "replace", "replaced"),
        ("frozen", "replace", "replaced"), ("active", "cancel", "cancelled"), ("lost", "cancel", "cancelled"),
        ("frozen", "cancel", "cancelled"),
    }  # fmt: skip
    assert all(not TRANSITIONS.allowed_from(state) for state in FINAL_STATES)
