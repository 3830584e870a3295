"""The demo city card: the resident's card with a balance and history, merchants, a cleared day, a finance officer;
idempotent seeding."""

from __future__ import annotations

import pytest
from django.test import Client

from rongcheng.accounts.models import User
from rongcheng.card import selectors
from rongcheng.card.models import Card, ClearingRun, LedgerAccount, Merchant, Receipt, Transfer
from rongcheng.card.permissions import FINANCE
from rongcheng.demo.card import demo_card_seed
from rongcheng.demo.services import demo_city_seed

pytestmark = pytest.mark.django_db


def test_demo_card(tmp_path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        demo_city_seed(persons=30, entities=10, accounts_file=tmp_path / "accounts.txt")
    resident = User.objects.get(username="resident")
    [card] = selectors.cards_of(resident)
    # 100 yuan in; two offline bus taps (2 + 2), metro with the transfer discount (1.50), bus (2), parking 75 min (4.50)
    # and the 20 yuan fee bill
    assert card.purse.balance == 10_000 - 200 - 200 - 150 - 200 - 450 - 2000
    assert {m.code for m in Merchant.objects.all()} == {"FZ-BUS", "FZ-METRO", "FZ-PARK"}
    assert ClearingRun.objects.count() == 1
    assert Receipt.objects.count() == 1
    assert User.objects.get(username="finance").has_perm(FINANCE)
    assert selectors.ledger_check() == []
    counts = (Card.objects.count(), Transfer.objects.count(), LedgerAccount.objects.count())
    demo_card_seed()
    assert (Card.objects.count(), Transfer.objects.count(), LedgerAccount.objects.count()) == counts
    client = Client()
    client.force_login(resident)
    assert card.number in client.get("/card/").content.decode()
