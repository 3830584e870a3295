"""The ledger engine: balanced transfers, limits, linked groups, two-phase, reversals, keys, as-of balances; and a
hypothesis state machine that runs random sequences of all of them against a model and the invariants."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from rongcheng.card import ledger, selectors
from rongcheng.card.errors import (
    BalanceLimitExceeded,
    LedgerAccountNotFound,
    LedgerInputInvalid,
    PendingNotOpen,
    ReversalExceedsOriginal,
    TransferKeyReused,
)
from rongcheng.card.ledger import TransferSpec
from rongcheng.card.models import Entry, LedgerAccount, Phase, Transfer

pytestmark = pytest.mark.django_db


def _accounts() -> tuple[LedgerAccount, LedgerAccount, LedgerAccount]:
    bank = ledger.account_open(code="bank", kind="bank")
    purse = ledger.account_open(code="purse", kind="purse", lower_limit=0, upper_limit=10_000)
    shop = ledger.account_open(code="shop", kind="merchant")
    return bank, purse, shop


def _balances() -> dict[str, int]:
    return {a.code: a.balance for a in LedgerAccount.objects.all()}


def test_a_transfer_moves_money_and_records_both_entries() -> None:
    bank, purse, shop = _accounts()
    [top_up] = ledger.book([TransferSpec(bank.id, purse.id, 500, "top_up", key="k1")])
    ledger.book([TransferSpec(purse.id, shop.id, 200, "payment", key="k2")])
    assert _balances() == {"bank": -500, "purse": 300, "shop": 200}
    entries = list(
        Entry.objects.filter(account=purse).order_by("id").values_list("balance_before", "amount", "balance_after")
    )
    assert entries == [(0, 500, 500), (500, -200, 300)]
    assert Entry.objects.filter(transfer=top_up).count() == 2
    assert selectors.ledger_check() == []


@pytest.mark.parametrize("amount", [0, -1, 1.5, 2.0, "100", True, None, 10**13])
def test_bad_amounts_are_refused_and_nothing_moves(amount: object) -> None:
    bank, purse, _shop = _accounts()
    with pytest.raises(LedgerInputInvalid):
        ledger.book([TransferSpec(bank.id, purse.id, amount, "top_up")])  # type: ignore[arg-type]
    assert _balances() == {"bank": 0, "purse": 0, "shop": 0}
    assert Transfer.objects.count() == 0


def test_same_account_twice_and_unknown_accounts_are_refused() -> None:
    bank, _purse, _shop = _accounts()
    with pytest.raises(LedgerInputInvalid):
        ledger.book([TransferSpec(bank.id, bank.id, 1, "top_up")])
    with pytest.raises(LedgerAccountNotFound):
        ledger.book([TransferSpec(bank.id, 999_999, 1, "top_up")])
    assert Transfer.objects.count() == 0


def test_a_purse_never_goes_below_zero_nor_above_its_upper_limit() -> None:
    bank, purse, shop = _accounts()
    ledger.book([TransferSpec(bank.id, purse.id, 100, "top_up")])
    with pytest.raises(BalanceLimitExceeded):
        ledger.book([TransferSpec(purse.id, shop.id, 101, "payment")])
    with pytest.raises(BalanceLimitExceeded):
        ledger.book([TransferSpec(bank.id, purse.id, 9_901, "top_up")])
    assert _balances() == {"bank": -100, "purse": 100, "shop": 0}


def test_a_linked_group_is_all_or_nothing() -> None:
    bank, purse, shop = _accounts()
    ledger.book([TransferSpec(bank.id, purse.id, 100, "top_up")])
    with pytest.raises(BalanceLimitExceeded):
        ledger.book(
            [
                TransferSpec(purse.id, shop.id, 60, "payment", key="a"),
                TransferSpec(purse.id, shop.id, 60, "payment", key="b"),
            ]
        )
    assert _balances() == {"bank": -100, "purse": 100, "shop": 0}
    assert not Transfer.objects.filter(key__in=["a", "b"]).exists()
    group = ledger.book([TransferSpec(purse.id, shop.id, 60, "payment"), TransferSpec(shop.id, bank.id, 1, "fee")])
    assert group[0].linked_group == group[1].linked_group != ""


def test_a_key_is_one_transfer_a_retry_returns_it_and_other_contents_are_refused() -> None:
    bank, purse, _shop = _accounts()
    first = ledger.book([TransferSpec(bank.id, purse.id, 100, "top_up", key="same")])[0]
    again = ledger.book([TransferSpec(bank.id, purse.id, 100, "top_up", key="same")])[0]
    assert again.pk == first.pk
    with pytest.raises(TransferKeyReused):
        ledger.book([TransferSpec(bank.id, purse.id, 101, "top_up", key="same")])
    assert _balances() == {"bank": -100, "purse": 100, "shop": 0}


def test_two_phase_reserves_posts_less_and_voids() -> None:
    bank, purse, shop = _accounts()
    ledger.book([TransferSpec(bank.id, purse.id, 1000, "top_up")])
    pending = ledger.book([TransferSpec(purse.id, shop.id, 800, "preauth", phase=Phase.PENDING, timeout_seconds=60)])[0]
    with pytest.raises(BalanceLimitExceeded):  # only 200 left beside the reservation
        ledger.book([TransferSpec(purse.id, shop.id, 201, "payment")])
    ledger.book([TransferSpec(purse.id, shop.id, 500, "payment", phase=Phase.POST, pending_id=pending.id)])
    with pytest.raises(PendingNotOpen):
        ledger.book([TransferSpec(purse.id, shop.id, 800, "payment", phase=Phase.VOID, pending_id=pending.id)])
    assert _balances() == {"bank": -1000, "purse": 500, "shop": 500}
    assert LedgerAccount.objects.get(pk=purse.pk).pending_debits == 0
    second = ledger.book([TransferSpec(purse.id, shop.id, 300, "preauth", phase=Phase.PENDING, timeout_seconds=1)])[0]
    assert ledger.pending_expire(now=timezone.now() + dt.timedelta(seconds=2)) == 1
    with pytest.raises(PendingNotOpen):
        ledger.book([TransferSpec(purse.id, shop.id, 300, "payment", phase=Phase.POST, pending_id=second.id)])
    assert LedgerAccount.objects.get(pk=purse.pk).pending_debits == 0
    assert selectors.ledger_check() == []


def test_the_database_resolves_a_pending_transfer_once_and_holds_no_entry_for_the_others() -> None:
    """`pending` is unique among the transfers that name one (a partial unique index, migration 0013): a second
    post or void of one pending transfer written past the engine is refused by the database, and the many transfers
    that resolve nothing are not in the index."""
    from django.db import IntegrityError

    bank, purse, shop = _accounts()
    ledger.book([TransferSpec(bank.id, purse.id, 1000, "top_up"), TransferSpec(bank.id, purse.id, 10, "top_up")])
    pending = ledger.book([TransferSpec(purse.id, shop.id, 800, "preauth", phase=Phase.PENDING, timeout_seconds=60)])[0]
    posted = ledger.book([TransferSpec(purse.id, shop.id, 500, "payment", phase=Phase.POST, pending_id=pending.id)])[0]
    before = (_balances(), list(Transfer.objects.order_by("id").values_list("id", "pending_id")))
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, pending_id, linked_group, "
            "overdraft, memo, created_at, business_at) VALUES ('again', 'payment', 'void', 800, %s, %s, %s, '', "
            "false, '', %s, %s)",
            [purse.id, shop.id, pending.id, now, now],
        )
    assert (_balances(), list(Transfer.objects.order_by("id").values_list("id", "pending_id"))) == before
    assert list(Transfer.objects.filter(pending__isnull=False).values_list("id", "pending_id")) == [
        (posted.id, pending.id)
    ]
    assert list(Transfer.objects.filter(phase=Phase.PENDING, resolutions__isnull=True)) == []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = 'card_transfer'::regclass AND indisunique AND indkey[0] = (SELECT attnum "
                "FROM pg_attribute WHERE attrelid = 'card_transfer'::regclass AND attname = 'pending_id')"
            )
            assert [row[0] for row in cursor.fetchall()] == [
                "CREATE UNIQUE INDEX card_transfer_pending_unique ON public.card_transfer USING btree (pending_id) "
                "WHERE (pending_id IS NOT NULL)"
            ]


def test_reversals_never_exceed_the_original() -> None:
    bank, purse, shop = _accounts()
    ledger.book([TransferSpec(bank.id, purse.id, 1000, "top_up")])
    pay = ledger.book([TransferSpec(purse.id, shop.id, 300, "payment")])[0]
    ledger.book([TransferSpec(shop.id, purse.id, 200, "refund", reverses_id=pay.id)])
    with pytest.raises(ReversalExceedsOriginal):
        ledger.book([TransferSpec(shop.id, purse.id, 101, "refund", reverses_id=pay.id)])
    ledger.book([TransferSpec(shop.id, purse.id, 100, "refund", reverses_id=pay.id)])
    assert _balances() == {"bank": -1000, "purse": 1000, "shop": 0}


def test_balance_as_of_any_moment() -> None:
    bank, purse, shop = _accounts()
    before = timezone.now()
    ledger.book([TransferSpec(bank.id, purse.id, 1000, "top_up")])
    middle = LedgerAccount.objects.get(pk=purse.pk).posted_until
    ledger.book([TransferSpec(purse.id, shop.id, 300, "payment")])
    assert selectors.balance_as_of(purse.id, before - dt.timedelta(seconds=1)) == 0
    assert middle is not None
    assert selectors.balance_as_of(purse.id, middle) in (1000, 700)  # both may share one microsecond
    assert selectors.balance_as_of(purse.id, timezone.now()) == 700


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL's")
def test_the_database_refuses_to_update_or_delete_transfers_and_entries() -> None:
    from django.db import DatabaseError

    bank, purse, _shop = _accounts()
    transfer = ledger.book([TransferSpec(bank.id, purse.id, 100, "top_up")])[0]
    for sql in (
        "UPDATE card_transfer SET memo = 'x' WHERE id = %s",
        "DELETE FROM card_transfer WHERE id = %s",
        "UPDATE card_entry SET amount = 1 WHERE transfer_id = %s",
        "DELETE FROM card_entry WHERE transfer_id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [transfer.pk])
    assert Transfer.objects.get(pk=transfer.pk).amount == 100


# --- the state machine ---------------------------------------------------------------------------------------------

ACCOUNTS = 5  # 0 bank (no limits), 1-3 purses (0..5000), 4 merchant


class LedgerMachine(RuleBasedStateMachine):
    """Random bookings of every kind against a plain model of the balances."""

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.ids = []
        for i in range(ACCOUNTS):
            purse = 1 <= i <= 3
            account = LedgerAccount.objects.create(
                code=f"sm{i}", kind="purse" if purse else "bank", lower_limit=0 if purse else None,
                upper_limit=5000 if purse else None, created_at=timezone.now(),
            )  # fmt: skip
            self.ids.append(account.id)
        self.model = [0] * ACCOUNTS
        self.reserved = [0] * ACCOUNTS
        self.pendings: list[tuple[int, int, int, int]] = []  # (transfer id, debit, credit, amount)
        self.posted: list[tuple[int, int, int, int]] = []  # (transfer id, debit, credit, amount left)
        self.moments: list[tuple[dt.datetime, list[int]]] = []

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _room(self, i: int) -> float:
        return float("inf") if not 1 <= i <= 3 else self.model[i] - self.reserved[i]

    def _headroom(self, i: int) -> float:
        return float("inf") if not 1 <= i <= 3 else 5000 - self.model[i]

    def _snapshot(self) -> None:
        self.moments.append(
            (
                max(a.posted_until or timezone.now() for a in LedgerAccount.objects.filter(id__in=self.ids)),
                list(self.model),
            )
        )

    @rule(d=st.integers(0, ACCOUNTS - 1), c=st.integers(0, ACCOUNTS - 1), amount=st.integers(1, 3000))
    def single(self, d: int, c: int, amount: int) -> None:
        if d == c:
            return
        ok = amount <= self._room(d) and amount <= self._headroom(c) - self._pending_in(c)
        try:
            [t] = ledger.book([TransferSpec(self.ids[d], self.ids[c], amount, "payment")])
        except BalanceLimitExceeded:
            assert not ok
            return
        assert ok
        self.model[d] -= amount
        self.model[c] += amount
        self.posted.append((t.id, d, c, amount))

    def _pending_in(self, c: int) -> int:
        return sum(p[3] for p in self.pendings if p[2] == c)

    @rule(d=st.integers(0, ACCOUNTS - 1), c=st.integers(0, ACCOUNTS - 1), amount=st.integers(1, 3000))
    def pending(self, d: int, c: int, amount: int) -> None:
        if d == c:
            return
        fits = amount <= self._room(d) and amount <= self._headroom(c) - self._pending_in(c)
        try:
            [t] = ledger.book(
                [TransferSpec(self.ids[d], self.ids[c], amount, "preauth", phase=Phase.PENDING, timeout_seconds=3600)]
            )
        except BalanceLimitExceeded:
            assert not fits
            return
        assert fits
        self.reserved[d] += amount
        self.pendings.append((t.id, d, c, amount))

    @precondition(lambda self: self.pendings)
    @rule(data=st.data(), post=st.booleans())
    def resolve(self, data: st.DataObject, post: bool) -> None:
        index = data.draw(st.integers(0, len(self.pendings) - 1))
        tid, d, c, amount = self.pendings.pop(index)
        taken = data.draw(st.integers(1, amount)) if post else amount
        [t] = ledger.book(
            [
                TransferSpec(
                    self.ids[d], self.ids[c], taken, "payment", phase=Phase.POST if post else Phase.VOID, pending_id=tid
                )
            ]
        )
        self.reserved[d] -= amount
        if post:
            self.model[d] -= taken
            self.model[c] += taken
            self.posted.append((t.id, d, c, taken))
        with pytest.raises(PendingNotOpen):
            ledger.book([TransferSpec(self.ids[d], self.ids[c], amount, "payment", phase=Phase.VOID, pending_id=tid)])

    @precondition(lambda self: self.posted)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.posted) - 1))
        tid, d, c, left = self.posted[index]
        amount = data.draw(st.integers(1, left + 1))
        fits = amount <= left and amount <= self._room(c) and amount <= self._headroom(d) - self._pending_in(d)
        try:
            ledger.book([TransferSpec(self.ids[c], self.ids[d], amount, "refund", reverses_id=tid)])
        except (ReversalExceedsOriginal, BalanceLimitExceeded):
            assert not fits
            return
        assert fits
        self.model[c] -= amount
        self.model[d] += amount
        self.posted[index] = (tid, d, c, left - amount)

    @rule(amount=st.integers(1, 100))
    def linked_group_with_a_refusal(self, amount: int) -> None:
        before = list(self.model)
        with pytest.raises(BalanceLimitExceeded):
            ledger.book(
                [
                    TransferSpec(self.ids[0], self.ids[4], amount, "payment"),
                    TransferSpec(self.ids[1], self.ids[4], 6000, "payment"),  # more than any purse holds
                ]
            )
        assert [a.balance for a in LedgerAccount.objects.filter(id__in=self.ids).order_by("id")] == before

    @rule()
    def remember_now(self) -> None:
        self._snapshot()

    @invariant()
    def balances_match_the_model_and_sum_to_zero(self) -> None:
        rows = list(LedgerAccount.objects.filter(id__in=self.ids).order_by("id"))
        assert [a.balance for a in rows] == self.model
        assert [a.pending_debits for a in rows] == self.reserved
        assert sum(self.model) == 0
        assert all(a.balance >= 0 for a in rows[1:4])

    def check_everything(self) -> None:
        assert selectors.ledger_check() == []
        for moment, balances in self.moments:
            assert [selectors.balance_as_of(i, moment) for i in self.ids] == balances


def test_random_sequences_keep_every_invariant() -> None:
    class Checked(LedgerMachine):
        def teardown(self) -> None:
            self.check_everything()
            super().teardown()

    run_state_machine_as_test(
        Checked,
        settings=settings(
            max_examples=15, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )


def test_keys_are_told_apart_byte_for_byte_and_compared_under_the_c_collation_on_postgresql() -> None:
    """Migration 0014: the transfers' `key` is compared under "C" on PostgreSQL (memcmp instead of strcoll). Equality
    is unchanged: keys differing only in case, accents or width are distinct transfers, a replay of a key returns
    its transfer, the same key with other contents is refused, and lookups by key use the unique index."""
    bank, purse, _shop = _accounts()
    keys = ["tap:1:2", "TAP:1:2", "tāp:1:2", "ｔap:1:2", "tap:1:20"]
    booked = ledger.book([TransferSpec(bank.id, purse.id, 10 + n, "top_up", key=k) for n, k in enumerate(keys)])
    assert [t.key for t in booked] == keys
    assert len({t.id for t in booked}) == len(keys)
    again = ledger.book([TransferSpec(bank.id, purse.id, 10, "top_up", key="tap:1:2")])
    assert again[0].id == booked[0].id
    with pytest.raises(TransferKeyReused):
        ledger.book([TransferSpec(bank.id, purse.id, 11, "top_up", key="tap:1:2")])
    assert dict(Transfer.objects.filter(key__in=["TAP:1:2", "tap:1:20"]).values_list("key", "amount")) == {
        "TAP:1:2": 11, "tap:1:20": 14,
    }  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
                "WHERE a.attrelid = 'card_transfer'::regclass AND a.attname = 'key'"
            )
            assert cursor.fetchone() == ("C",)
            cursor.execute(
                "SELECT c.collname FROM pg_index i JOIN pg_collation c ON c.oid = i.indcollation[0] "
                "WHERE i.indrelid = 'card_transfer'::regclass AND i.indisunique AND i.indkey[0] = (SELECT attnum "
                "FROM pg_attribute WHERE attrelid = 'card_transfer'::regclass AND attname = 'key')"
            )
            assert cursor.fetchall() == [("C",)]


@pytest.mark.parametrize(
    "values",
    [[], [""], ["tap:1:2", "tap:3:4"], ['a"b', "c\\d", "\\", '"'], ["NULL", "null", "{}", "a,b", " x ", "中文", "é"]],
)
def test_array_literals_read_back_as_the_values_they_were_built_from(values: list[str]) -> None:
    """`pg_texts` joins plain elements in one go and escapes the others; either way PostgreSQL reads back exactly
    the strings given (the string NULL is not a null, spaces are kept)."""
    literal = ledger.pg_texts(values)
    assert literal == ledger.pg_texts(iter(values))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::text[]", [literal])
            assert cursor.fetchone()[0] == values
