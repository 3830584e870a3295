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
    # 100 yuan in; two offline bus taps (2 + 2), metro with the transfer discount (1.50), bus (2), parking (4.50),
    # two purchases at the shop (8.50 + 3.50) and the 20 yuan fee bill
    assert card.purse.balance == 10_000 - 200 - 200 - 150 - 200 - 450 - 850 - 350 - 2000
    assert {m.code for m in Merchant.objects.all()} == {"FZ-BUS", "FZ-METRO", "FZ-PARK", "FZ-SHOP-0001"}
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


def test_the_demo_merchants_sign_in_and_see_their_transactions_and_settlements(tmp_path):
    accounts = tmp_path / "accounts.txt"
    report = demo_city_seed(persons=30, entities=10, accounts_file=accounts)
    shown = {username for username, _password, _what in report.accounts}
    listed = {line.split("\t")[0] for line in accounts.read_text(encoding="utf-8").splitlines()}
    for username, code, sales in (("busop", "FZ-BUS", ("2.00",)), ("shop", "FZ-SHOP-0001", ("8.50", "3.50"))):
        assert username in shown
        assert username in listed  # with its password, as the other demo accounts
        owner = User.objects.get(username=username)
        assert owner.has_usable_password()
        assert [m.code for m in selectors.merchants_of(owner)] == [code]
        client = Client()
        client.force_login(owner)
        assert "商户交易与结算" in client.get("/card/").content.decode()
        page = client.get("/card/merchant/")
        assert page.status_code == 200
        text = page.content.decode()
        for amount in sales:
            assert amount in text
        assert "暂无交易" not in text
        assert "暂无结算" not in text  # yesterday is cleared: a settlement line for each of them
        english = client.get("/card/merchant/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Merchant transactions and settlements" in english
