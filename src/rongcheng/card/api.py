"""The city card over HTTP: /api/v1/card/.

Merchants and their terminals (scope `card:pay`): payments, refunds, QR payments, offline tap batches, the deny
list, their transactions. Banks and online channels (scope `card:topup`, permission `card.add_transfer`): top-ups
and bills paid by channel. Department systems (scope `card:bills`, permission `card.add_bill`): bills. Residents
signed in: their cards and a fresh QR code. Anybody: the platform's public key and the verification of a receipt.

Every money-moving call carries an `Idempotency-Key` header (1 to 64 printable characters), unique per caller. The
first answer is stored with the request's digest in the same transaction as the money moved: a retry with the same
key and body gets that answer again (the same status and body); with another body it is refused (422
`idempotency-key-reused`); while the first is still running it is refused (409 `request-in-flight`, retry later).
Refusals decided by the ledger or the card's state (422 `balance-limit-exceeded`, 409 `card-not-usable`,
404 `card-not-found`, 409 `bill-not-payable`, 422 `reversal-exceeds-original`, 422 `qr-code-refused`, …) are stored
and replayed too; not stored (so a corrected retry may reuse the key): schema and input errors (422
`validation-failed`, `ledger-input-invalid`, `card-input-invalid`), authentication and authorization (401, 403),
rate limits (429) and 409 `request-in-flight` itself. Tap batches are idempotent by their terminal and batch number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Path, Router, Schema, Status
from pydantic import StrictInt

from rongcheng.accounts.api_auth import api_auth
from rongcheng.accounts.models import User
from rongcheng.card import selectors, services
from rongcheng.card.errors import CardNotFound, LedgerInputInvalid, MerchantNotFound
from rongcheng.card.keys import platform_key
from rongcheng.card.models import Bill, Card
from rongcheng.card.permissions import SCOPE_BILLS, SCOPE_PAY, SCOPE_TOPUP, acts_for_merchant
from rongcheng.kernel.ratelimit import OPENAPI_RATE_LIMITED, rate_limit_request

router = Router(tags=["card"])

PAY_AUTH = api_auth("card.pay", scope=SCOPE_PAY)
TOPUP_AUTH = api_auth("card.top_up", scope=SCOPE_TOPUP, permission="card.add_transfer")
BILLS_AUTH = api_auth("card.bill.issue", scope=SCOPE_BILLS, permission="card.add_bill")
MINE_AUTH = api_auth("card.mine", scope=SCOPE_PAY)

CardNumber = Annotated[str, Field(pattern=r"^[0-9]{16}$", description="16 digits, the last a Luhn check digit")]
CardReferencePath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{16}$", description="a card's reference, from GET /cards/mine")
]
PaymentCodePath = Annotated[str, Path(pattern=r"^[0-9]{20}$", description="20 digits, the last a Luhn check digit")]
Fen = Annotated[StrictInt, Field(gt=0, le=10**12, description="a whole number of fen (分)")]
ReceiptNumber = Annotated[str, Path(pattern=r"^R[0-9]{23}$", description="R and 23 digits")]
MerchantCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,20}$")]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=1, max_length=64, description="the caller's key of this request")
]


def _user(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return user


def _once(request: HttpRequest, key: str, body: dict[str, Any], run: Callable[[], dict[str, Any]]) -> Status[Any]:
    outcome = services.idempotent(scope=f"user:{_user(request).pk}", key=key, body=body, run=run)
    return Status(outcome.status, outcome.body)


def _transfer_key(request: HttpRequest, key: str) -> str:
    """The ledger's key of the transfer: the caller's Idempotency-Key, in the caller's own namespace."""
    return f"u{_user(request).pk}:{key}"


class TransferOut(Schema):
    key: str
    kind: str
    phase: str
    amount: int
    debit: str
    credit: str
    reverses: str | None
    posted_at: str
    business_at: str
    memo: str


class PaymentIn(Schema):
    card: CardNumber
    merchant: str = Field(max_length=20)
    amount: Fen | None = None
    base_fare: Fen | None = Field(None, description="bus or metro: the base fare; concession and transfer applied")
    minutes: Annotated[StrictInt, Field(ge=1, le=1440)] | None = Field(None, description="meter parking: the stay")
    at: dt.datetime | None = Field(None, description="when the payment happened (default now)")


@router.post("/payments", response={201: TransferOut}, auth=PAY_AUTH, summary="Pay at a merchant by card")
def payment(request: HttpRequest, payload: PaymentIn, idempotency_key: IdempotencyKey) -> Status[Any]:
    if sum(x is not None for x in (payload.amount, payload.base_fare, payload.minutes)) != 1:
        raise LedgerInputInvalid("Give exactly one of amount, base_fare and minutes.")
    run = lambda: services.transfer_view(  # noqa: E731
        services.card_pay(
            number=payload.card, merchant_code=payload.merchant, actor=_user(request),
            key=_transfer_key(request, idempotency_key),
            amount=payload.amount, base_fare=payload.base_fare, minutes=payload.minutes, at=payload.at,
        )
    )  # fmt: skip
    return _once(request, idempotency_key, payload.model_dump(mode="json"), run)


class RefundIn(Schema):
    payment: str = Field(max_length=100, description="the key of the payment refunded")
    amount: Fen


@router.post("/refunds", response={201: TransferOut}, auth=PAY_AUTH, summary="Refund part or all of a payment")
def refund(request: HttpRequest, payload: RefundIn, idempotency_key: IdempotencyKey) -> Status[Any]:
    run = lambda: services.transfer_view(  # noqa: E731
        services.payment_refund(
            transfer_key=payload.payment,
            amount=payload.amount,
            actor=_user(request),
            key=_transfer_key(request, idempotency_key),
        )
    )
    return _once(request, idempotency_key, payload.model_dump(mode="json"), run)


class QrPaymentIn(Schema):
    code: str = Field(max_length=400)
    merchant: str = Field(max_length=20)
    amount: Fen


@router.post("/qr-payments", response={201: TransferOut}, auth=PAY_AUTH, summary="Take a payment by a phone's code")
def qr_payment(request: HttpRequest, payload: QrPaymentIn, idempotency_key: IdempotencyKey) -> Status[Any]:
    run = lambda: services.transfer_view(  # noqa: E731
        services.qr_code_pay(
            code=payload.code, merchant_code=payload.merchant, amount=payload.amount, actor=_user(request),
            key=_transfer_key(request, idempotency_key),
        )
    )  # fmt: skip
    return _once(request, idempotency_key, payload.model_dump(mode="json"), run)


class TapIn(Schema):
    card: CardNumber
    counter: Annotated[StrictInt, Field(ge=1, lt=2**31)]
    amount: Fen
    at: str = Field(max_length=40, description="ISO 8601 with offset: when the tap was made")


class TapBatchIn(Schema):
    terminal: str = Field(max_length=20)
    batch: Annotated[StrictInt, Field(ge=1)]
    taps: list[TapIn] = Field(min_length=1, max_length=10_000)
    mac: str = Field(max_length=64, description="HMAC-SM3 (hex) under the terminal's key of the canonical batch")


class TapBatchOut(Schema):
    terminal: str
    batch: int
    booked: int
    duplicates: list[dict[str, Any]]
    unknown_cards: list[str]
    gaps: list[dict[str, Any]]
    replayed: bool


@router.post("/tap-batches", response={201: TapBatchOut}, auth=PAY_AUTH, summary="Upload a terminal's offline taps")
def tap_batch(request: HttpRequest, payload: TapBatchIn) -> Status[dict[str, Any]]:
    result = services.tap_batch_upload(
        terminal_code=payload.terminal, batch_number=payload.batch, mac=payload.mac, actor=_user(request),
        taps=[t.model_dump() for t in payload.taps],
    )  # fmt: skip
    return Status(201, {
        "terminal": payload.terminal, "batch": result.batch.number, "booked": result.booked,
        "duplicates": result.duplicates, "unknown_cards": result.unknown_cards, "gaps": result.gaps,
        "replayed": result.replayed,
    })  # fmt: skip


class DenyOut(Schema):
    card: str
    reason: Literal["lost", "frozen", "replaced", "cancelled", "debt"]


@router.get("/deny-list", response=list[DenyOut], auth=PAY_AUTH, summary="Cards terminals must refuse")
def deny_list(request: HttpRequest) -> list[dict[str, str]]:
    return selectors.deny_list()


@router.get(
    "/merchants/{code}/transactions", response=list[TransferOut], auth=PAY_AUTH, summary="A merchant's transactions"
)
def merchant_transactions(request: HttpRequest, code: MerchantCode) -> list[dict[str, Any]]:
    merchant = services.merchant_for(code[:20])
    if not acts_for_merchant(_user(request), merchant):
        raise MerchantNotFound("No merchant has this code.")  # not even whether it exists
    rows = selectors.merchant_transactions(merchant).select_related("debit", "credit", "reverses")
    return [services.transfer_view(t) for t in rows]


class TopUpIn(Schema):
    card: CardNumber
    amount: Fen
    channel: Literal["bank", "online"]
    reference: str = Field("", max_length=64, description="the channel's own reference, for reconciliation")


@router.post("/top-ups", response={201: TransferOut}, auth=TOPUP_AUTH, summary="Top up a card from a channel")
def top_up(request: HttpRequest, payload: TopUpIn, idempotency_key: IdempotencyKey) -> Status[Any]:
    run = lambda: services.transfer_view(  # noqa: E731
        services.card_top_up(
            number=payload.card, amount=payload.amount, channel=payload.channel, actor=_user(request),
            key=_transfer_key(request, idempotency_key), reference=payload.reference,
        )
    )  # fmt: skip
    return _once(request, idempotency_key, payload.model_dump(mode="json"), run)


class BillIn(Schema):
    item: str = Field(min_length=1, max_length=80)
    payer_name: str = Field(min_length=1, max_length=80)
    amount: Fen
    reference: str = Field("", max_length=64, description="the issuer's reference (an application's number)")


class BillOut(Schema):
    payment_code: str
    item: str
    amount: int
    status: str
    department: str
    reference: str
    receipt: str | None


@router.post("/bills", response={201: BillOut}, auth=BILLS_AUTH, summary="Issue a government bill (赋码)")
def bill_issue(request: HttpRequest, payload: BillIn) -> Status[dict[str, Any]]:
    user = _user(request)
    bill = services.bill_issue(
        department_id=user.department_id or 0, item=payload.item, payer_name=payload.payer_name,
        amount=payload.amount, actor=user, reference=payload.reference,
    )  # fmt: skip
    return Status(201, _bill_body(bill))


def _bill_body(bill: Bill) -> dict[str, Any]:
    return {
        "payment_code": bill.payment_code, "item": bill.item, "amount": bill.amount, "status": bill.status,
        "department": bill.department.code, "reference": bill.reference,
        "receipt": bill.receipt.number if hasattr(bill, "receipt") else None,
    }  # fmt: skip


class BillPaymentIn(Schema):
    channel: Literal["bank", "online"]


@router.post(
    "/bills/{payment_code}/payments", response={201: BillOut}, auth=TOPUP_AUTH, summary="Pay a bill by channel"
)
def bill_pay(
    request: HttpRequest, payment_code: PaymentCodePath, payload: BillPaymentIn, idempotency_key: IdempotencyKey
) -> Status[Any]:
    run = lambda: _bill_body(  # noqa: E731
        services.bill_pay_by_channel(
            payment_code=payment_code,
            channel=payload.channel,
            actor=_user(request),
            key=_transfer_key(request, idempotency_key),
        )
    )
    return _once(request, idempotency_key, {"bill": payment_code, **payload.model_dump(mode="json")}, run)


class CardOut(Schema):
    number: str
    reference: str = Field(description="the card's name in API paths (a card number never goes in a URL)")
    card_type: str
    form: str
    status: str
    balance: int = Field(description="fen")

    @staticmethod
    def resolve_balance(obj: Card) -> int:
        return obj.purse.balance


@router.get("/cards/mine", response=list[CardOut], auth=MINE_AUTH, summary="The signed-in resident's cards")
def my_cards(request: HttpRequest) -> list[Card]:
    return selectors.cards_of(_user(request))


class QrOut(Schema):
    code: str
    expires_in: int


@router.post("/cards/{reference}/qr", response={201: QrOut}, auth=MINE_AUTH, summary="A fresh QR payment code (60 s)")
def qr_issue(request: HttpRequest, reference: CardReferencePath) -> Status[dict[str, Any]]:
    card = selectors.card_for_holder(_user(request), reference)
    if card is None:  # another's card and no card look the same
        raise CardNotFound("No card of yours has this reference.")
    return Status(201, {"code": services.qr_code_issue(number=card.number, user=_user(request)),
                        "expires_in": services.QR_LIFETIME})  # fmt: skip


class CardKeyOut(Schema):
    key_id: str
    algorithm: str = "SM2"
    signer_id: str = "1234567812345678"
    public_key_pem: str


@router.get("/keys", response=CardKeyOut, auth=None, summary="The platform's public key (QR codes, receipts)")
def keys(request: HttpRequest) -> dict[str, Any]:
    public = platform_key().public_key
    return {"key_id": public.key_id(), "public_key_pem": public.to_pem()}


class ReceiptOut(Schema):
    number: str
    authentic: bool
    content: dict[str, Any]
    signature: str
    key_id: str


@router.get(
    "/receipts/{number}", response=ReceiptOut, auth=None, summary="Verify an electronic receipt (public)",
    openapi_extra=OPENAPI_RATE_LIMITED,
)  # fmt: skip
def receipt(request: HttpRequest, number: ReceiptNumber) -> dict[str, Any]:
    rate_limit_request("card.verify", request)
    found, authentic = services.receipt_verify(number)
    import json

    return {"number": found.number, "authentic": authentic, "content": json.loads(found.content),
            "signature": found.signature, "key_id": found.key_id}  # fmt: skip
