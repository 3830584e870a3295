"""On PostgreSQL an immediate booking is one call of `card_book` (migration 0004) and a card payment of an amount one
statement in all (`card_pay`, migration 0007); outside a transaction the call commits by itself. Its refusals are the
Python path's domain errors, with nothing moved."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rongcheng.card import ledger, selectors, services
from rongcheng.card.errors import (
    BalanceLimitExceeded,
    CardActionDenied,
    CardNotFound,
    CardNotUsable,
    LedgerAccountNotFound,
    MerchantNotFound,
    TransferKeyReused,
)
from rongcheng.card.ledger import TransferSpec
from rongcheng.card.models import Entry, LedgerAccount, Transfer
from rongcheng.card.tests import factories

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the booking function is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def test_a_card_payment_is_one_statement_and_commits_by_itself() -> None:
    shop = factories.merchant("SHOP", "shop")
    card = factories.card_with(500)
    before = factories.ledger_snapshot()
    with CaptureQueriesContext(connection) as queries:
        paid = services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="p1", amount=120)
    assert len(queries.captured_queries) == 1
    assert "card_pay(" in queries.captured_queries[0]["sql"]
    assert not connection.in_atomic_block
    assert factories.balance(card) == 380
    assert factories.balance(shop.payable) == 120
    entries = list(
        Entry.objects.filter(transfer_id=paid.id)
        .order_by("id")
        .values_list("account_id", "amount", "balance_before", "balance_after")
    )
    assert entries == [(card.purse_id, -120, 500, 380), (shop.payable_id, 120, 0, 120)]
    with CaptureQueriesContext(connection) as shown:
        answer = services.transfer_view(paid)
    assert (answer["debit"], answer["credit"], len(shown.captured_queries)) == (card.purse.code, shop.payable.code, 0)
    assert paid.debit.balance == 380  # any other field of the accounts is read, not made up
    stored = Transfer.objects.get(pk=paid.id)
    assert (stored.key, stored.amount, stored.kind, stored.created_at) == (paid.key, 120, "payment", paid.created_at)
    changed = {code for code, value in factories.ledger_snapshot().items() if before[code] != value}
    assert changed == {card.purse.code, shop.payable.code}
    assert selectors.ledger_check() == []


def test_refusals_of_the_function_move_nothing() -> None:
    shop = factories.merchant("SHOP", "shop")
    card = factories.card_with(100)
    services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="p1", amount=30)
    before, transfers = factories.ledger_snapshot(), Transfer.objects.count()
    with pytest.raises(BalanceLimitExceeded) as refused:
        services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="p2", amount=71)
    assert refused.value.extra == {"account": card.purse.code, "available": 70, "amount": 71}
    with pytest.raises(TransferKeyReused):
        services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="p1", amount=31)
    with pytest.raises(LedgerAccountNotFound):
        ledger.book([TransferSpec(card.purse_id, 10**9, 1, "payment")])
    with pytest.raises(MerchantNotFound):
        services.card_pay(number=card.number, merchant_code="NONE", actor=shop.owner, key="p3", amount=1)
    with pytest.raises(CardActionDenied):
        services.card_pay(number=card.number, merchant_code="SHOP", actor=factories.account("x"), key="p4", amount=1)
    with pytest.raises(CardNotFound, match="Luhn"):
        services.card_pay(number="1234", merchant_code="SHOP", actor=shop.owner, key="p5", amount=1)
    lost = factories.card_with(100)
    services.card_transition(number=lost.number, action="report_loss", actor=factories.account("cs", "change_card"))
    with pytest.raises(CardNotUsable):
        services.card_pay(number=lost.number, merchant_code="SHOP", actor=shop.owner, key="p6", amount=1)
    before, transfers = factories.ledger_snapshot(), Transfer.objects.count()
    # a linked group whose second transfer is refused books neither
    fee = services.system_account(services.FEE_INCOME)
    with pytest.raises(BalanceLimitExceeded):
        ledger.book(
            [
                TransferSpec(card.purse_id, shop.payable_id, 70, "payment", key="g1"),
                TransferSpec(card.purse_id, fee.id, 1, "fee", key="g2"),
            ]
        )
    assert factories.ledger_snapshot() == before | {fee.code: (0, 0, 0)}
    assert Transfer.objects.count() == transfers


def test_a_retry_returns_the_first_transfer_and_moves_nothing_more() -> None:
    shop = factories.merchant("SHOP", "shop")
    card = factories.card_with(100)
    first = services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="p1", amount=30)
    again = services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="p1", amount=30)
    assert again.pk == first.pk
    assert factories.balance(card) == 70
    assert LedgerAccount.objects.get(pk=shop.payable_id).balance == 30
