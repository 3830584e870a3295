"""The card's pages: the resident's own cards only, loss report, QR code, finance pages for finance staff only,
merchants' page, the public receipt verification."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from rongcheng.accounts.models import Department
from rongcheng.card import selectors, services
from rongcheng.card.models import Bill, Card, ClearingRun, Receipt
from rongcheng.card.tests.factories import SYSTEM, account, balance, card_with, merchant
from rongcheng.registries.tests.factories import make_person, resident

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_resident_sees_and_manages_only_their_own_cards():
    person = make_person()
    holder = resident("holder", person=person)
    card = card_with(1234, holder=person.id_number_index)
    stranger_card = card_with(10)
    client = signed_in(holder)
    page = client.get("/card/").content.decode()
    assert card.number in page
    assert "12.34" in page
    assert stranger_card.number not in page
    assert client.get(f"/card/cards/{stranger_card.reference}/").status_code == 404
    detail = client.get(f"/card/cards/{card.reference}/").content.decode()
    assert "充值" in detail
    qr = client.get(f"/card/cards/{card.reference}/qr/").content.decode()
    assert "<svg" in qr
    assert client.post(f"/card/cards/{card.reference}/report-loss/", {"confirm": "yes"}).status_code == 302
    assert Card.objects.get(pk=card.pk).status == "lost"
    assert client.post(f"/card/cards/{stranger_card.reference}/report-loss/", {"confirm": "yes"}).status_code == 404
    assert Card.objects.get(pk=stranger_card.pk).status == "active"


def test_reporting_a_card_lost_asks_for_confirmation_first():
    person = make_person()
    holder = resident("holder", person=person)
    card = card_with(1234, holder=person.id_number_index)
    client = signed_in(holder)
    detail = client.get(f"/card/cards/{card.reference}/").content.decode()
    assert f'href="/card/cards/{card.reference}/report-loss/"' in detail  # a link to the confirmation, not a form
    assert 'action="/card/cards/' not in detail
    confirm = client.get(f"/card/cards/{card.reference}/report-loss/")
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert 'name="confirm"' in page
    assert "required" in page
    assert "12.34" in page
    assert Card.objects.get(pk=card.pk).status == "active"  # looking is not reporting
    refused = client.post(f"/card/cards/{card.reference}/report-loss/")  # the box not ticked
    assert refused.status_code == 422
    assert "请勾选「我确认挂失这张卡」" in refused.content.decode()
    assert Card.objects.get(pk=card.pk).status == "active"
    assert client.post(f"/card/cards/{card.reference}/report-loss/", {"confirm": "no"}).status_code == 422
    assert Card.objects.get(pk=card.pk).status == "active"
    done = client.post(f"/card/cards/{card.reference}/report-loss/", {"confirm": "yes"})
    assert done.status_code == 302
    assert Card.objects.get(pk=card.pk).status == "lost"
    # Lost already: the confirmation is not offered again.
    again = client.get(f"/card/cards/{card.reference}/report-loss/")
    assert again.status_code == 302
    assert again["Location"] == f"/card/cards/{card.reference}/"
    english = client.get(f"/card/cards/{card.reference}/", HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 200


def test_the_history_is_ordered_by_the_time_of_each_transaction_not_of_its_posting():
    person = make_person()
    holder = resident("holder", person=person)
    card = card_with(5000, holder=person.id_number_index)
    shop = merchant("SHOP", "shop")
    now = timezone.now()
    services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="today", amount=101,
                      at=now - dt.timedelta(hours=1))  # fmt: skip
    # Posted after it, but made two days earlier (a tap uploaded late): shown at its own time, below.
    services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="late", amount=202,
                      at=now - dt.timedelta(days=2))  # fmt: skip
    # Two at the very same moment: the one posted later comes first, every time.
    moment = now - dt.timedelta(days=1)
    services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="tie-1", amount=303, at=moment)
    services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="tie-2", amount=404, at=moment)
    history = selectors.card_history(card)
    assert [line.amount for line in history] == [5000, -101, -404, -303, -202]  # the top-up: just now
    assert [line.business_at for line in history] == sorted((line.business_at for line in history), reverse=True)
    page = signed_in(holder).get(f"/card/cards/{card.reference}/").content.decode()
    assert page.index("-1.01") < page.index("-4.04") < page.index("-3.03") < page.index("-2.02")


def test_a_resident_opens_the_virtual_card():
    person = make_person()
    holder = resident("holder", person=person)
    response = signed_in(holder).post("/card/virtual/")
    assert response.status_code == 302
    assert Card.objects.get(owner=holder).form == "virtual"


def test_finance_pages_are_for_finance_staff_only():
    finance = account("finance", "add_clearingrun")
    person = make_person()
    for user in (resident("r", person=person), account("clerk", "add_card")):
        client = signed_in(user)
        assert client.get("/card/finance/clearing/").status_code == 403
        assert client.post("/card/finance/clearing/", {"business_date": "2026-01-01"}).status_code == 403
        assert client.get("/card/finance/reconcile/").status_code == 403
    assert Client().get("/card/finance/clearing/").status_code == 302  # to sign in
    client = signed_in(finance)
    day = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = client.post("/card/finance/clearing/", {"business_date": day})
    assert response.status_code == 302
    run = ClearingRun.objects.get()
    assert client.get(f"/card/finance/clearing/{run.pk}/").status_code == 200
    assert "清分" in client.get("/card/finance/clearing/").content.decode()
    assert client.get("/card/finance/reconcile/").status_code == 200


def test_merchants_see_their_transactions():
    shop = merchant("SHOP", "shop", owner=account("owner", kind="resident"))
    card = card_with(500)
    services.card_pay(number=card.number, merchant_code="SHOP", actor=shop.owner, key="p", amount=120)
    page = signed_in(shop.owner).get("/card/merchant/")
    assert page.status_code == 200
    assert "1.20" in page.content.decode()
    assert signed_in(account("nobody", kind="resident")).get("/card/merchant/").status_code == 403


def test_receipts_verify_publicly():
    from rongcheng.accounts.models import Department

    dept = Department.objects.create(code="FZ-CZJ", name="福州市财政局")
    bill = services.bill_issue(department_id=dept.pk, item="罚没收入", payer_name="林则徐", amount=5000,
                               actor=SYSTEM)  # fmt: skip
    services.bill_pay_by_channel(payment_code=bill.payment_code, channel="online",
                                 actor=account("ch", "add_transfer"), key="b")  # fmt: skip
    bill.refresh_from_db()
    page = Client().get(f"/card/receipts/{bill.receipt.number}/").content.decode()
    assert 'data-verdict="authentic"' in page
    assert "林**" in page
    assert "50.00" in page
    # The moment of payment in the city's time, to the second: not the signed UTC string with its microseconds.
    signed = json.loads(bill.receipt.content)["paid_at"]
    paid = dt.datetime.fromisoformat(signed).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f'<time datetime="{signed}">{paid:%Y-%m-%d %H:%M:%S}</time>' in page
    assert Client().get("/card/receipts/R000/").status_code == 404


def test_a_resident_pays_a_bill_issued_to_them_by_card_and_gets_the_receipt():
    person, other = make_person(), make_person()
    holder, stranger = resident("holder", person=person), resident("stranger", person=other)
    card = card_with(1500, holder=person.id_number_index)
    stranger_card = card_with(5000, holder=other.id_number_index)
    department = Department.objects.get_or_create(code="FZ-GSJ", defaults={"name": "福州市市场监督管理局"})[0]
    bill = services.bill_issue(department_id=department.pk, item="营业执照工本费", payer_name="林",
                               payer_index=person.id_number_index, amount=1000, actor=SYSTEM)  # fmt: skip
    big = services.bill_issue(department_id=department.pk, item="罚没款", payer_name="林",
                              payer_index=person.id_number_index, amount=2000, actor=SYSTEM)  # fmt: skip
    client = signed_in(holder)
    page = client.get("/card/").content.decode()
    assert f">{bill.payment_code}</span>" in page
    assert "10.00" in page
    assert bill.payment_code not in signed_in(stranger).get("/card/").content.decode()

    # another resident's bill, another resident's card, too little money: refused, nothing moved
    refused = signed_in(stranger).post(f"/card/bills/{bill.payment_code}/pay/", {"card": stranger_card.reference})
    assert refused.status_code == 404
    client.post(f"/card/bills/{bill.payment_code}/pay/", {"card": stranger_card.reference})
    client.post(f"/card/bills/{big.payment_code}/pay/", {"card": card.reference})
    assert (balance(card), balance(stranger_card)) == (1500, 5000)
    assert Bill.objects.filter(status="paid").count() == 0

    paid = client.post(f"/card/bills/{bill.payment_code}/pay/", {"card": card.reference})
    receipt = Receipt.objects.get(bill=bill)
    assert paid.status_code == 302
    assert paid["Location"] == f"/card/receipts/{receipt.number}/"
    assert balance(card) == 500
    again = client.post(f"/card/bills/{bill.payment_code}/pay/", {"card": card.reference})
    assert (again.status_code, again["Location"]) == (302, "/card/")  # refused: the bill is paid
    assert balance(card) == 500
    # the paid bill leaves the bills to pay (its receipt number may repeat the payment code's digits)
    assert f">{bill.payment_code}</span>" not in client.get("/card/").content.decode()


def test_the_history_says_the_transfer_discount_in_the_pages_language():
    person = make_person()
    holder = resident("holder", person=person)
    card = card_with(1000, holder=person.id_number_index)
    bus, metro = merchant("BUS1", "bus"), merchant("METRO1", "metro")
    moment = timezone.now() - dt.timedelta(minutes=30)
    services.card_pay(number=card.number, merchant_code="BUS1", actor=bus.owner, key="b", base_fare=200, at=moment)
    services.card_pay(number=card.number, merchant_code="METRO1", actor=metro.owner, key="m", base_fare=300,
                      at=moment + dt.timedelta(minutes=20))  # fmt: skip
    client = signed_in(holder)
    assert "换乘优惠" in client.get(f"/card/cards/{card.reference}/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get(f"/card/cards/{card.reference}/").content.decode()
    assert "transfer discount" in english
    assert "换乘优惠" not in english


def test_the_virtual_card_button_shows_only_while_the_resident_has_none():
    person = make_person()
    holder = resident("holder", person=person)
    client = signed_in(holder)
    assert "/card/virtual/" in client.get("/card/").content.decode()
    client.post("/card/virtual/")
    assert "/card/virtual/" not in client.get("/card/").content.decode()


def test_finance_pages_propose_the_city_days_not_the_servers(monkeypatch):
    """At 07:30 in Fuzhou the server's UTC date is still yesterday: clearing proposes the city's yesterday and
    reconciliation the city's today."""
    finance = account("finance", "add_clearingrun")
    city_morning = dt.datetime(2026, 3, 10, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    monkeypatch.setattr(timezone, "now", lambda: city_morning.astimezone(dt.UTC))
    client = signed_in(finance)
    assert 'value="2026-03-09"' in client.get("/card/finance/clearing/").content.decode()
    assert 'value="2026-03-10"' in client.get("/card/finance/reconcile/").content.decode()


def test_the_finance_forms_stack_each_label_above_its_field():
    """The site's form layout (`.form`: one field a line, its label above it): at 390 px the reconciliation's labels,
    list and file field ran on in one paragraph, a label read as the end of the field before it."""
    client = signed_in(account("finance", "add_clearingrun"))
    for url in ("/card/finance/reconcile/", "/card/finance/clearing/"):
        page = client.get(url).content.decode()
        assert re.search(r'<form method="post"[^>]*class="form"', page), url


def test_reconciliation_shows_its_differences_in_yuan():
    finance = account("finance", "add_clearingrun")
    card = card_with(0)
    channel = account("online-channel", "add_transfer", kind="api_client")
    services.card_top_up(number=card.number, amount=10_000, channel="online", actor=channel, key="t1",
                         reference="ONLINE-1")  # fmt: skip
    services.card_top_up(number=card.number, amount=2_550, channel="online", actor=channel, key="t2",
                         reference="ONLINE-2")  # fmt: skip
    statement = "ONLINE-1,10000\nONLINE-2,2500\nBANK-9,500\n"
    page = signed_in(finance).post("/card/finance/reconcile/", {
        "business_date": timezone.localdate().isoformat(), "channel": "online", "statement": statement,
    }).content.decode()  # fmt: skip
    assert "BANK-9：¥5.00" in page
    assert "¥25.50" in page
    assert "¥25.00" in page
    assert "500 分" not in page


def test_a_merchants_kind_is_bracketed_in_the_pages_language():
    shop = merchant("SHOP", "shop", owner=account("owner", kind="resident"))
    client = signed_in(shop.owner)
    chinese = client.get("/card/merchant/").content.decode()
    assert re.search(r"<h2>[^<(（]+（[^<）]+）</h2>", chinese)
    client.cookies["django_language"] = "en"
    english = client.get("/card/merchant/").content.decode()
    heading = re.search(r"<h2>([^<]+) \(([^<)]+)\)</h2>", english)
    assert heading is not None
    assert "（" not in heading.group(0)
