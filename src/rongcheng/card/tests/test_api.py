"""The card's API with real OAuth client-credentials tokens from the token endpoint: idempotency, bad input that
moves nothing, problem documents, and the authorization matrix of every route."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from rongcheng.accounts.models import AccountKind, Department
from rongcheng.card import services
from rongcheng.card.models import Bill, IdempotencyRecord
from rongcheng.card.tests.factories import SYSTEM, account, balance, card_with, ledger_snapshot, merchant
from rongcheng.registries.tests.factories import make_person, resident
from rongcheng.registries.tests.test_api import token_for

API = "/api/v1/card"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world():
    shop_system = account("shop-system", "add_tap", kind=AccountKind.API_CLIENT)
    shop = merchant("SHOP", "shop", owner=shop_system)
    other_system = account("other-system", "add_tap", kind=AccountKind.API_CLIENT)
    merchant("OTHER", "shop", owner=other_system)
    channel = account("bank-system", "add_transfer", kind=AccountKind.API_CLIENT)
    dept = Department.objects.create(code="FZ-CZJ", name="福州市财政局")
    biller = account("dept-system", "add_bill", kind=AccountKind.API_CLIENT, department=dept)
    card = card_with(1000)
    return {
        "shop": shop, "card": card, "dept": dept,
        "pay": token_for(shop_system, scope="card:pay"), "other": token_for(other_system, scope="card:pay"),
        "topup": token_for(channel, scope="card:topup"), "bills": token_for(biller, scope="card:bills"),
    }  # fmt: skip


def call(path: str, body, token: str | None, key: str | None = None):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    return Client().post(API + path, json.dumps(body), content_type="application/json", headers=headers)


def problem(response, status: int, slug: str | None = None):
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    document = response.json()
    if slug:
        assert document["type"].endswith("/" + slug)
    return document


def test_a_payment_is_idempotent(world):
    body = {"card": world["card"].number, "merchant": "SHOP", "amount": 300}
    first = call("/payments", body, world["pay"], key="pay-1")
    assert first.status_code == 201, first.content.decode()
    assert (first.json()["amount"], first.json()["credit"]) == (300, "merchant:SHOP")
    again = call("/payments", body, world["pay"], key="pay-1")
    assert (again.status_code, again.json()) == (201, first.json())
    problem(call("/payments", {**body, "amount": 301}, world["pay"], key="pay-1"), 422, "idempotency-key-reused")
    assert balance(world["card"]) == 700
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "status", "slug"),
    [
        ({"amount": -5}, 422, "validation-failed"),
        ({"amount": 0}, 422, "validation-failed"),
        ({"amount": 1.5}, 422, "validation-failed"),
        ({"amount": "100"}, 422, "validation-failed"),
        ({"amount": 1001}, 422, "balance-limit-exceeded"),
        ({"card": "1234567812345678"}, 404, "card-not-found"),
        ({"merchant": "NOPE"}, 404, "merchant-not-found"),
        ({"merchant": "OTHER"}, 403, "forbidden"),
        ({"amount": None}, 422, "ledger-input-invalid"),
    ],
)
def test_bad_payments_move_nothing(world, change, status, slug):
    body = {"card": world["card"].number, "merchant": "SHOP", "amount": 300, **change}
    before = ledger_snapshot()
    problem(call("/payments", body, world["pay"], key="k"), status, slug)
    assert ledger_snapshot() == before


def test_a_money_moving_call_needs_its_idempotency_key(world):
    body = {"card": world["card"].number, "merchant": "SHOP", "amount": 1}
    problem(call("/payments", body, world["pay"]), 422, "validation-failed")
    assert balance(world["card"]) == 1000


def test_a_frozen_card_is_refused_and_the_refusal_replayed(world):
    services.card_transition(number=world["card"].number, action="freeze", actor=account("c", "change_card"))
    body = {"card": world["card"].number, "merchant": "SHOP", "amount": 1}
    problem(call("/payments", body, world["pay"], key="f"), 409, "card-not-usable")
    problem(call("/payments", body, world["pay"], key="f"), 409, "card-not-usable")
    assert balance(world["card"]) == 1000


def test_authorization_matrix(world):
    card = world["card"].number
    routes = [
        ("/payments", {"card": card, "merchant": "SHOP", "amount": 1}, "pay"),
        ("/top-ups", {"card": card, "amount": 1, "channel": "bank"}, "topup"),
        ("/bills", {"item": "罚没收入", "payer_name": "林则徐", "amount": 100}, "bills"),
    ]
    for path, body, own in routes:
        problem(call(path, body, None, key="a"), 401)
        for other in ("pay", "topup", "bills"):
            if other != own:
                problem(call(path, body, world[other], key=f"x-{other}"), 403)
        created = call(path, body, world[own], key="ok")
        assert created.status_code == 201, created.content.decode()
    assert Client().get(API + "/deny-list").status_code == 401
    assert Client().get(API + "/deny-list", headers={"Authorization": f"Bearer {world['pay']}"}).status_code == 200
    foreign = Client().get(API + "/merchants/SHOP/transactions", headers={"Authorization": f"Bearer {world['other']}"})
    problem(foreign, 404)


def test_bills_by_channel_once_with_a_public_receipt(world):
    issued = call("/bills", {"item": "不动产登记费", "payer_name": "林则徐", "amount": 8000, "reference": "A1"},
                  world["bills"])  # fmt: skip
    assert issued.status_code == 201, issued.content.decode()
    code = issued.json()["payment_code"]
    paid = call(f"/bills/{code}/payments", {"channel": "bank"}, world["topup"], key="b1")
    assert paid.status_code == 201, paid.content.decode()
    before = ledger_snapshot()
    problem(call(f"/bills/{code}/payments", {"channel": "bank"}, world["topup"], key="b2"), 409, "bill-not-payable")
    assert ledger_snapshot() == before
    number = paid.json()["receipt"]
    verified = Client().get(f"{API}/receipts/{number}")
    assert verified.status_code == 200
    assert (verified.json()["authentic"], verified.json()["content"]["payer"]) == (True, "林**")
    assert Bill.objects.get(payment_code=code).status == "paid"


def test_tap_batches_qr_codes_and_keys(world):
    _terminal, key = services.terminal_register(merchant=world["shop"], code="T1", actor=SYSTEM)
    taps = [{"card": world["card"].number, "counter": 1, "amount": 200, "at": "2026-12-01T08:00:00+08:00"}]
    body = {"terminal": "T1", "batch": 1, "taps": taps, "mac": services.tap_batch_mac(key, "T1", 1, taps)}
    answer = call("/tap-batches", body, world["pay"])
    assert (answer.status_code, answer.json()["booked"]) == (201, 1)
    problem(call("/tap-batches", {**body, "batch": 3}, world["pay"]), 422, "tap-batch-refused")
    published = Client().get(API + "/keys").json()
    assert published["algorithm"] == "SM2"
    person = make_person()
    holder = resident("holder", person=person)
    card = services.virtual_card_open(user=holder)
    client = Client()
    client.force_login(holder)
    mine = client.get(API + "/cards/mine")
    assert [(c["number"], c["reference"]) for c in mine.json()] == [(card.number, card.reference)]
    problem(client.post(f"{API}/cards/{card.number}/qr"), 404, "card-not-found")  # a number is not a reference
    other = services.virtual_card_open(user=resident("other", person=make_person()))
    problem(client.post(f"{API}/cards/{other.reference}/qr"), 404, "card-not-found")  # another's card: as if none
    code = client.post(f"{API}/cards/{card.reference}/qr").json()["code"]
    services.card_top_up(number=card.number, amount=500, channel="online", actor=account("ch", "add_transfer"), key="t")
    paid = call("/qr-payments", {"code": code, "merchant": "SHOP", "amount": 100}, world["pay"], key="q1")
    assert paid.status_code == 201, paid.content.decode()
    problem(call("/qr-payments", {"code": code, "merchant": "SHOP", "amount": 100}, world["pay"], key="q2"), 422,
            "qr-code-refused")  # fmt: skip
    assert balance(card) == 400
