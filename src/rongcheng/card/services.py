"""Write use-cases of the city card. Each owns its transaction, checks the actor's right inside, and moves money only
through the ledger engine (`card.ledger.book`), which is all-or-nothing; a refusal changes nothing and an
authorization refusal leaves a `denied` audit record.

For higher tiers (the hall issues bills for its fees):

``bill_issue(*, department_id, item, payer_name, amount, actor, reference="", payer_index="") -> Bill``
    A government bill with a unique 20-digit payment code (Luhn check digit); the actor is staff (or a department
    system) of that department holding ``card.add_bill``. When it is paid, `events.BillPaid` is published with the
    `reference` given here.

Idempotency (ADR 0012): `idempotent(scope=, key=, body=, run=)` runs a money-moving request once per (caller, key):
the request's digest and its answer are stored in the request's own transaction; a replay returns the stored answer,
the same key with another body is refused (422), a request with that key still running is refused (409).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from rongcheng.accounts.models import Department
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.card import ledger
from rongcheng.card.errors import (
    BillNotFound,
    BillNotPayable,
    CardActionDenied,
    CardInputInvalid,
    CardNotFound,
    CardNotUsable,
    CardTransitionNotAllowed,
    ClearingRefused,
    LedgerInputInvalid,
    MerchantNotFound,
    QrCodeRefused,
    ReceiptNotFound,
    RequestInFlight,
    StatementInvalid,
    TapBatchRefused,
    TransferKeyReused,
    TransferNotFound,
)
from rongcheng.card.events import BillPaid
from rongcheng.card.keys import platform_key
from rongcheng.card.ledger import TransferSpec, amount_check, key_check
from rongcheng.card.lifecycle import TRANSITIONS, USABLE_STATES, CardChange
from rongcheng.card.models import (
    AccountKind,
    Bill,
    BillStatus,
    Card,
    CardForm,
    CardStatus,
    CardStatusChange,
    CardType,
    ClearingLine,
    ClearingRun,
    IdempotencyRecord,
    LedgerAccount,
    Merchant,
    MerchantKind,
    Phase,
    QrUse,
    Receipt,
    TapBatch,
    Terminal,
    Transfer,
    TransferKind,
)
from rongcheng.card.permissions import (
    CHANGE_CARD,
    CHANNEL,
    FINANCE,
    ISSUE_CARD,
    Acting,
    acts_for_merchant,
    has,
    may_act_for_merchants,
    may_issue_bill,
    owns_card,
)
from rongcheng.kernel.crypto import Sm2PublicKey, constant_time_equal, data_keyring, hmac_sm3, sm3_digest
from rongcheng.kernel.errors import DomainError, NotAuthenticated, PermissionDenied, RateLimited
from rongcheng.kernel.events import publish
from rongcheng.kernel.masking import mask_name

CITY_ZONE = ZoneInfo("Asia/Shanghai")
PURSE_UPPER_NAMED = 500_000  # 5,000 yuan on a named card
PURSE_UPPER_ANONYMOUS = 100_000  # 1,000 yuan on an anonymous card
TRANSIT_OVERDRAFT = 0  # fen a purse may go below zero on a transit tap booked online (offline taps always book)
QR_LIFETIME = 60
TRANSFER_WINDOW = dt.timedelta(minutes=90)
CONCESSION_BP: dict[str, int] = {CardType.ORDINARY: 10_000, CardType.STUDENT: 5_000, CardType.SENIOR: 5_000}

BANK = "bank:clearing"
CASH = "cash:counter"
FEE_INCOME = "fee:income"
SUSPENSE = "suspense"
CHANNELS = {"bank": "bank:clearing", "online": "channel:online", "cash": CASH}


# --- common ---------------------------------------------------------------------------------------------------


def _actor(user: Acting) -> Actor:
    return user if isinstance(user, Actor) else actor_from_user(user)


@contextmanager
def _refusal_audited(action: str, user: Acting, *, target_type: str, target_id: Any = "") -> Iterator[None]:
    """An authorization refusal leaves a `denied` record, written outside the atomic block that rolled back."""
    try:
        yield
    except PermissionDenied as exc:
        audit_record(
            action=action, actor=_actor(user), outcome="denied", target_type=target_type,
            target_id=str(target_id)[:64], detail={"problem": exc.type_slug, "reason": exc.detail},
        )  # fmt: skip
        raise


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CardActionDenied(message)


def system_account(code: str) -> LedgerAccount:
    kinds = {
        BANK: AccountKind.BANK, CASH: AccountKind.CASH, FEE_INCOME: AccountKind.FEE, SUSPENSE: AccountKind.SUSPENSE,
        "channel:online": AccountKind.CHANNEL,
    }  # fmt: skip
    kind = kinds.get(code) or (AccountKind.TREASURY if code.startswith("treasury:") else AccountKind.CHANNEL)
    return ledger.account_open(code=code, kind=kind, name=code)


_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")  # a digit doubled, less 9 when over 9: one digit again


def luhn_digit(payload: str) -> str:
    """The Luhn (ISO/IEC 7812-1, mod 10) check digit of a string of digits. ASCII digits, every card number and
    payment code, take the short way: the doubled digits (every other one from the right) are mapped to their
    doubled value by one `translate` and all of them summed from their bytes, a sixth of the loop's time, which a
    tap batch with a new card in every tap paid per tap (bench/README.md, "Offline taps, seventh pass")."""
    if payload.isascii() and payload.isdigit():
        backwards = payload[::-1]
        digits = backwards[0::2].translate(_LUHN_DOUBLED) + backwards[1::2]
        return str(-(sum(digits.encode()) - 48 * len(digits)) % 10)
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_digit(number[:-1]) == number[-1]


def _number(prefix: str, length: int) -> str:
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + luhn_digit(body)


def _card_for(number: str, *, lock: bool = False) -> Card:
    if not isinstance(number, str) or not luhn_valid(number) or len(number) != 16:
        raise CardNotFound("No card has this number (16 digits with a Luhn check digit).")
    query = Card.objects.select_related("purse")
    if lock:
        query = query.select_for_update(of=("self",))
    card = query.filter(number=number).first()
    if card is None:
        raise CardNotFound("No card has this number.")
    return card


def _usable(card: Card) -> None:
    if card.status not in USABLE_STATES:
        raise CardNotUsable(f"The card is {card.get_status_display()}; it cannot pay or be topped up.")


def transfer_view(transfer: Transfer) -> dict[str, Any]:
    return {
        "key": transfer.key, "kind": transfer.kind, "phase": transfer.phase, "amount": transfer.amount,
        "debit": transfer.debit.code, "credit": transfer.credit.code,
        "reverses": transfer.reverses.key if transfer.reverses is not None else None,
        "posted_at": transfer.created_at.isoformat(), "business_at": transfer.business_at.isoformat(),
        "memo": transfer.memo,
    }  # fmt: skip


# --- idempotency ------------------------------------------------------------------------------------------------

NOT_REPLAYED = (PermissionDenied, NotAuthenticated, RateLimited, RequestInFlight, LedgerInputInvalid, CardInputInvalid)


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool


class ReplayedRefusal(DomainError):
    """The stored refusal of the first request with this key, raised again with its own status and type."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(str(problem.get("detail", "")), **dict(problem.get("extra") or {}))
        self.status = status
        self.type_slug = str(problem.get("type_slug", "bad-request"))
        self.title = str(problem.get("title", "Bad request"))
        self.errors = list(problem.get("errors") or [])


def request_fingerprint(body: Mapping[str, Any]) -> str:
    return sm3_digest(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hex()


def idempotent(*, scope: str, key: str, body: Mapping[str, Any], run: Callable[[], dict[str, Any]]) -> Outcome:
    """Run `run` once for (scope, key); see the module docstring. Refusals other than NOT_REPLAYED are stored and
    replayed too, so a retry of a refused payment does not succeed later behind the client's back."""
    key_check(key)
    fingerprint = request_fingerprint(body)
    refusal: DomainError | None = None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 7))", [f"{scope}\x1f{key}"])
                if not cursor.fetchone()[0]:
                    raise RequestInFlight("A request with this Idempotency-Key is still being processed.")
        record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if record is not None:
            if record.fingerprint != fingerprint:
                raise TransferKeyReused("This Idempotency-Key was used for a request with another body.", key=key)
            if record.status >= 400:
                raise ReplayedRefusal(record.status, record.body)
            return Outcome(record.status, record.body, True)
        try:
            with transaction.atomic():
                answer = run()
            status = 201
        except NOT_REPLAYED:
            raise
        except DomainError as exc:
            refusal = exc
            status = exc.status
            answer = {
                "type_slug": exc.type_slug, "title": exc.title, "detail": exc.detail, "errors": exc.errors,
                "extra": {k: v for k, v in exc.extra.items() if isinstance(v, str | int | bool | None)},
            }  # fmt: skip
        IdempotencyRecord.objects.create(
            scope=scope, key=key, fingerprint=fingerprint, status=status, body=answer, created_at=timezone.now()
        )
    if refusal is not None:
        raise refusal
    return Outcome(status, answer, False)


IDEMPOTENCY_RETENTION = dt.timedelta(days=7)
IDEMPOTENCY_DELETE_BATCH = 5_000


def idempotency_records_expire(*, now: dt.datetime | None = None) -> int:
    """Delete the stored answers of requests older than `IDEMPOTENCY_RETENTION` (the clean-up job, every 15
    minutes; at most `IDEMPOTENCY_DELETE_BATCH` a run, so the delete stays short); returns how many. A retry after
    that runs again, and the ledger's transfer key (the caller's key in the caller's namespace, kept forever) returns
    the transfer booked the first time: money never moves twice, only a stored refusal is forgotten (ADR 0012)."""
    horizon = (now or timezone.now()) - IDEMPOTENCY_RETENTION
    old = list(
        IdempotencyRecord.objects.filter(created_at__lt=horizon)
        .order_by("id")
        .values_list("id", flat=True)[:IDEMPOTENCY_DELETE_BATCH]
    )
    if not old:
        return 0
    deleted, _ = IdempotencyRecord.objects.filter(id__in=old).delete()
    return int(deleted)


# --- ledger, for department systems and tests ---------------------------------------------------------------------


def transfer_book(specs: Sequence[TransferSpec], *, now: dt.datetime | None = None) -> list[Transfer]:
    """Book specs all-or-nothing (a linked group); the services below are the only callers outside tests."""
    return ledger.book(specs, now=now)


# --- cards ------------------------------------------------------------------------------------------------------


def _card_create(
    *, card_type: str, form: str, holder_index: str, owner: Any | None, actor: Actor, moment: dt.datetime
) -> Card:
    if card_type not in CardType.values:
        raise CardInputInvalid(f"Unknown card type {card_type!r}.")
    for _attempt in range(5):
        number = _number("3501", 16)
        if not Card.objects.filter(number=number).exists():
            break
    purse = LedgerAccount.objects.create(
        code=f"purse:{number}", kind=AccountKind.PURSE, lower_limit=0, created_at=moment,
        upper_limit=PURSE_UPPER_NAMED if holder_index else PURSE_UPPER_ANONYMOUS,
    )  # fmt: skip
    card = Card.objects.create(
        number=number, card_type=card_type, form=form, purse=purse, holder_index=holder_index,
        owner=owner, issued_at=moment,
    )  # fmt: skip
    audit_record(
        action="card.card.issue", actor=actor, target_type="card.card", target_id=card.pk,
        detail={"card_type": card_type, "form": form, "named": bool(holder_index)},
    )  # fmt: skip
    return card


def card_issue(
    *, actor: Acting, card_type: str = CardType.ORDINARY, holder_index: str = "", owner: Any | None = None
) -> Card:
    """A counter issues a physical card: to a person (the blind index of their ID number, from
    `registries.services.person_index_for` after the counter's audited read) or anonymous."""
    with _refusal_audited("card.card.issue", actor, target_type="card.card"):
        _require(isinstance(actor, Actor) or has(actor, ISSUE_CARD), "Issuing cards needs card.add_card.")
        with transaction.atomic():
            return _card_create(
                card_type=card_type, form=CardForm.PHYSICAL, holder_index=holder_index, owner=owner,
                actor=_actor(actor), moment=timezone.now(),
            )  # fmt: skip


def card_issue_for_person(
    *,
    actor: Acting,
    id_number: str,
    card_type: str = CardType.ORDINARY,
    purpose: str = "service_hall",
) -> tuple[Card, str]:
    """A counter issues a named card to a person of the population registry, found by their ID number through the
    registries' audited read (masked unless the counter's role is entitled); returns the card and the holder's name
    as the counter may see it. An unknown person or a refused read raises the registries' error; nothing is issued."""
    from rongcheng.registries.permissions import reader_for
    from rongcheng.registries.selectors import person_read_by_id_number
    from rongcheng.registries.services import person_index_for

    with _refusal_audited("card.card.issue", actor, target_type="card.card"):
        if not has(actor, ISSUE_CARD):
            raise CardActionDenied("Issuing cards needs card.add_card.")
    view = person_read_by_id_number(reader=reader_for(actor), id_number=id_number, purpose=purpose)
    card = card_issue(actor=actor, card_type=card_type, holder_index=person_index_for(id_number))
    return card, view.name


def virtual_card_open(*, user: Acting, card_type: str = CardType.ORDINARY) -> Card:
    """A resident bound to the population registry opens the virtual card on their phone (one per resident)."""
    from rongcheng.registries.selectors import person_for_resident

    with _refusal_audited("card.card.issue", user, target_type="card.card"):
        if not is_signed_in(user):
            raise CardActionDenied("Sign in to open a virtual card.")
        try:
            person = person_for_resident(user=user)
        except DomainError as exc:
            raise CardActionDenied("Only a resident bound to the population registry opens a virtual card.") from exc
        with transaction.atomic():
            existing = Card.objects.filter(
                owner=user, form=CardForm.VIRTUAL, status__in=(CardStatus.ACTIVE, CardStatus.LOST, CardStatus.FROZEN)
            ).first()
            if existing is not None:
                return existing
            return _card_create(
                card_type=card_type, form=CardForm.VIRTUAL, holder_index=person.id_number_index, owner=user,
                actor=_actor(user), moment=timezone.now(),
            )  # fmt: skip


def card_transition(*, number: str, action: str, actor: Acting, key: str = "") -> Card:
    """Change a card's status by the lifecycle table. A holder may report their own card lost; every other change
    (and a report by someone else) needs `card.change_card`. Replacing moves the balance to a new card; cancelling
    refunds it in cash at the counter."""
    with (
        _refusal_audited(f"card.card.{action}", actor, target_type="card.card", target_id=number),
        transaction.atomic(),
    ):
        card = _card_for(number, lock=True)
        may = has(actor, CHANGE_CARD) or (action == "report_loss" and owns_card(actor, card))
        _require(may, "Changing a card's status needs card.change_card.")
        transition = TRANSITIONS.get(action, card.status)
        if transition is None:
            raise CardTransitionNotAllowed(
                f"The card is {card.get_status_display()}; {action} is not possible now.", action=action
            )
        change = CardChange(card=card, action=action, actor=actor, prepared={"key": key})
        transition.check(change)
        previous = card.status
        card.status = transition.target
        card.save(update_fields=["status"])
        if action == "replace":
            _replace(change)
        elif action == "cancel":
            _refund_balance(change)
        CardStatusChange.objects.create(
                card=card, action=action, from_status=previous, to_status=card.status, at=timezone.now(),
                actor=_actor(actor).label[:80],
            )  # fmt: skip
        audit_record(
                action=f"card.card.{action}", actor=_actor(actor), target_type="card.card", target_id=card.pk,
                detail={"from": previous, "to": card.status},
            )  # fmt: skip
        return card


def _replace(change: CardChange) -> None:
    old = change.card
    new = _card_create(
        card_type=old.card_type, form=old.form, holder_index=old.holder_index, owner=old.owner,
        actor=_actor(change.actor), moment=timezone.now(),
    )  # fmt: skip
    old.replaced_by = new
    old.save(update_fields=["replaced_by"])
    purse = LedgerAccount.objects.get(pk=old.purse_id)
    key = change.prepared.get("key") or f"replace:{old.number}"
    if purse.balance > 0:
        ledger.book([TransferSpec(purse.id, new.purse_id, purse.balance, TransferKind.CARD_MOVE, key=key)])
    elif purse.balance < 0:  # a debt from offline taps follows the holder to the new card
        ledger.book(
            [TransferSpec(new.purse_id, purse.id, -purse.balance, TransferKind.CARD_MOVE, key=key, overdraft=True)]
        )
    change.prepared["new_card"] = new


def _refund_balance(change: CardChange) -> None:
    purse = LedgerAccount.objects.get(pk=change.card.purse_id)
    if purse.balance < 0:
        raise CardTransitionNotAllowed("The card owes fares from offline taps; top it up before cancelling it.")
    if purse.balance > 0:
        key = change.prepared.get("key") or f"cancel:{change.card.number}"
        ledger.book([TransferSpec(purse.id, system_account(CASH).id, purse.balance, TransferKind.CARD_REFUND, key=key)])


# --- top-ups, payments, refunds ---------------------------------------------------------------------------------


def card_top_up(*, number: str, amount: int, channel: str, actor: Acting, key: str, reference: str = "") -> Transfer:
    """Top up from a bank, an online channel (`card.add_transfer`) or cash at a counter (`card.add_card`). A purse in
    debt from offline taps is paid back first, simply by its balance rising."""
    amount_check(amount)
    if channel not in CHANNELS:
        raise LedgerInputInvalid(f"Unknown channel {channel!r}; use bank, online or cash.")
    with _refusal_audited("card.top_up", actor, target_type="card.card", target_id=number):
        _require(has(actor, ISSUE_CARD if channel == "cash" else CHANNEL), "This account may not top up cards.")
        card = _card_for(number)
        _usable(card)
        source = system_account(CHANNELS[channel])
        spec = TransferSpec(source.id, card.purse_id, amount, TransferKind.TOP_UP, key=key, memo=reference[:120])
        return ledger.book([spec])[0]


def merchant_for(code: str) -> Merchant:
    merchant = Merchant.objects.select_related("payable").filter(code=code).first()
    if merchant is None:
        raise MerchantNotFound("No merchant has this code.")
    return merchant


def merchant_of_account(account_id: int) -> Merchant | None:
    """The merchant whose payable `account_id` is, or a part of (a terminal's, where its taps are credited)."""
    return Merchant.objects.filter(Q(payable_id=account_id) | Q(terminals__payable_id=account_id)).first()


def merchant_register(
    *, code: str, name: str, kind: str, fee_rate: int = 0, owner: Any | None = None, actor: Acting
) -> Merchant:
    with _refusal_audited("card.merchant.register", actor, target_type="card.merchant", target_id=code):
        _require(isinstance(actor, Actor) or has(actor, FINANCE), "Registering merchants needs finance rights.")
        if kind not in MerchantKind.values or not 0 <= fee_rate <= 1000:
            raise CardInputInvalid("A merchant has a known kind and a fee of 0 to 1000 basis points.")
        with transaction.atomic():
            existing = Merchant.objects.filter(code=code).first()
            if existing is not None:
                return existing
            payable = ledger.account_open(code=f"merchant:{code}", kind=AccountKind.MERCHANT, name=name)
            merchant = Merchant.objects.create(
                code=code, name=name, kind=kind, payable=payable, fee_rate=fee_rate, owner=owner
            )
            audit_record(
                action="card.merchant.register", actor=_actor(actor), target_type="card.merchant",
                target_id=merchant.pk, detail={"code": code, "kind": kind, "fee_rate": fee_rate},
            )  # fmt: skip
            return merchant


def transit_fare(*, base: int, card_type: str, transfer: bool) -> int:
    """The fare of one ride: the base fare reduced by the card type's concession (student and senior half), then
    halved again (rounded down, at least 1 fen) for a transfer within 90 minutes of the previous boarding."""
    fare = base * CONCESSION_BP.get(card_type, 10_000) // 10_000
    if transfer:
        fare //= 2
    return max(fare, 1)


def parking_fee(*, minutes: int) -> int:
    """Meter parking (路内停车): 150 fen per started half hour, at most 3,000 fen per stay of up to a day."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 24 * 60:
        raise LedgerInputInvalid("A stay lasts 1 minute to 24 hours.")
    return min(-(-minutes // 30) * 150, 3000)


def _previous_boarding(card: Card, at: dt.datetime) -> bool:
    transit = (MerchantKind.BUS, MerchantKind.METRO)
    return Transfer.objects.filter(
        Q(credit__merchant__kind__in=transit) | Q(credit__terminals__merchant__kind__in=transit),
        debit_id=card.purse_id, kind__in=(TransferKind.TAP, TransferKind.PAYMENT),
        business_at__gte=at - TRANSFER_WINDOW, business_at__lt=at,
    ).exists()  # fmt: skip


_PAY_LOOKUP = (
    "SELECT m.id, m.code, m.name, m.kind, m.payable_id, m.fee_rate, m.owner_id, "  # noqa: S608 (the models' own tables)
    "c.id, c.number, c.card_type, c.form, c.status, c.purse_id, c.holder_index, c.owner_id, c.replaced_by_id "
    f"FROM {Merchant._meta.db_table} m LEFT JOIN {Card._meta.db_table} c ON c.number = %s "
    "WHERE m.code = %s"
)


def _merchant_and_card(merchant_code: str, number: str) -> tuple[Merchant, Card | None]:
    """The merchant and the card of a payment in one query (a payment is on the hot path: every round trip counts).
    No merchant: MerchantNotFound; no card (or a malformed number): None."""
    valid = isinstance(number, str) and len(number) == 16 and luhn_valid(number)
    with connection.cursor() as cursor:
        cursor.execute(_PAY_LOOKUP, [number if valid else "", merchant_code if isinstance(merchant_code, str) else ""])
        row = cursor.fetchone()
    if row is None:
        raise MerchantNotFound("No merchant has this code.")
    merchant = Merchant.from_db(connection.alias, ["id", "code", "name", "kind", "payable_id", "fee_rate", "owner_id"],
                                row[:7])  # fmt: skip
    if row[7] is None:
        return merchant, None
    card_fields = ["id", "number", "card_type", "form", "status", "purse_id", "holder_index", "owner_id",
                   "replaced_by_id"]  # fmt: skip
    return merchant, Card.from_db(connection.alias, card_fields, row[7:])  # issued_at deferred


_PAY_CALL = (
    "SELECT ids, replay, overdrafts, debit, credit, debit_code, credit_code "
    "FROM card_pay(%s, %s, %s, %s::text[], %s, %s, %s, %s, %s)"
)
_USABLE = ledger.pg_texts(sorted(USABLE_STATES))


def _pay_in_one_statement(
    number: str, merchant_code: str, actor: Acting, key: str, amount: Any, business: dt.datetime, memo: str
) -> Transfer:
    """PostgreSQL: a payment of a given amount in one statement, `card_pay(...)` (migration 0007): the merchant and
    the card found, the actor and the card's state checked, the payment booked through `card_book`, committed by
    itself outside a transaction. Its refusals come back as the domain errors of the two-statement path, in the same
    order (merchant, actor, card, state, then the ledger's)."""
    amount = amount_check(amount)
    key = key_check(key) if key else secrets.token_hex(16)
    valid = isinstance(number, str) and len(number) == 16 and luhn_valid(number)
    code = merchant_code if isinstance(merchant_code, str) else ""
    actor_id = actor.pk if may_act_for_merchants(actor) else 0
    moment = timezone.now()
    params = [code, number if valid else "", actor_id, _USABLE, amount, key, business, memo, moment]
    try:
        if connection.in_atomic_block:  # a savepoint, so that a caller who catches a refusal may go on
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_PAY_CALL, params)
                ids, replay, overdrafts, debit, credit, debit_code, credit_code = cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute(_PAY_CALL, params)
                ids, replay, overdrafts, debit, credit, debit_code, credit_code = cursor.fetchone()
    except DatabaseError as exc:
        _pay_refusal(exc, number)
        ledger.function_refusal(exc)
        if isinstance(exc, IntegrityError):  # two requests raced with one key on different accounts
            raise TransferKeyReused(f"The key {key} names another transfer.", key=key) from exc
        raise
    if replay:
        return Transfer.objects.get(pk=ids[0])
    transfer = Transfer(
        id=ids[0], key=key, kind=TransferKind.PAYMENT, phase=Phase.SINGLE, amount=amount, linked_group="",
        overdraft=overdrafts[0], memo=memo, created_at=moment, business_at=business,
        # the accounts with their codes, which the answer shows (`transfer_view`), without a query each; any other
        # field is deferred, read from the database if asked for
        debit=LedgerAccount.from_db(connection.alias, ["id", "code"], [debit, debit_code]),
        credit=LedgerAccount.from_db(connection.alias, ["id", "code"], [credit, credit_code]),
    )  # fmt: skip
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer


def _pay_refusal(exc: DatabaseError, number: str) -> None:
    """The domain error a refusal of `card_pay` stands for, before the booking (SQLSTATE RCMER, RCACT, RCCRD,
    RCUSE); the booking's own refusals are `ledger.function_refusal`'s."""
    cause = exc.__cause__
    state = getattr(cause, "sqlstate", None)
    if state == "RCMER":
        raise MerchantNotFound("No merchant has this code.") from None
    if state == "RCACT":
        raise CardActionDenied("This account does not act for the merchant.") from None
    if state == "RCCRD":
        _card_for(number)  # raises CardNotFound with the reason
        raise CardNotFound("No card has this number.") from None
    if state == "RCUSE":
        detail = json.loads(getattr(getattr(cause, "diag", None), "message_detail", None) or "{}")
        label = CardStatus(detail.get("status", CardStatus.FROZEN)).label
        raise CardNotUsable(f"The card is {label}; it cannot pay or be topped up.") from None


def card_pay(
    *,
    number: str,
    merchant_code: str,
    actor: Acting,
    key: str,
    amount: int | None = None,
    base_fare: int | None = None,
    minutes: int | None = None,
    at: dt.datetime | None = None,
    memo: str = "",
) -> Transfer:
    """A payment at a merchant by card: an `amount`, or a bus or metro ride from its `base_fare` (concession,
    transfer discount), or meter parking by `minutes`. The merchant's account (or terminal system) acts."""
    moment = at or timezone.now()
    with _refusal_audited("card.pay", actor, target_type="card.merchant", target_id=merchant_code):
        if base_fare is None and minutes is None and connection.vendor == "postgresql":
            return _pay_in_one_statement(number, merchant_code, actor, key, amount, moment, memo[:120])
        merchant, card = _merchant_and_card(merchant_code, number)
        _require(acts_for_merchant(actor, merchant), "This account does not act for the merchant.")
        if card is None:
            _card_for(number)  # raises CardNotFound with the reason
            raise CardNotFound("No card has this number.")
        _usable(card)
        if base_fare is not None:
            amount_check(base_fare, field_name="base_fare")
            transfer = merchant.kind in (MerchantKind.BUS, MerchantKind.METRO) and _previous_boarding(card, moment)
            amount = transit_fare(base=base_fare, card_type=card.card_type, transfer=transfer)
            memo = memo or ("换乘优惠" if transfer else "")
        elif minutes is not None:
            amount = parking_fee(minutes=minutes)
        amount = amount_check(amount)
        spec = TransferSpec(
            card.purse_id, merchant.payable_id, amount, TransferKind.PAYMENT, key=key, business_at=moment,
            memo=memo[:120],
        )  # fmt: skip
        return ledger.book([spec])[0]


def payment_refund(*, transfer_key: str, amount: int, actor: Acting, key: str) -> Transfer:
    """Refund part or all of a payment to the card it came from; never more than is left of it."""
    amount_check(amount)
    original = Transfer.objects.select_related("credit").filter(key=transfer_key).first()
    if original is None or original.kind not in (TransferKind.PAYMENT, TransferKind.TAP):
        raise TransferNotFound("No card payment has this key.")
    merchant = merchant_of_account(original.credit_id)
    with _refusal_audited("card.refund", actor, target_type="card.transfer", target_id=transfer_key):
        _require(merchant is not None and acts_for_merchant(actor, merchant), "Only the merchant paid refunds.")
        spec = TransferSpec(
            original.credit_id, original.debit_id, amount, TransferKind.REFUND, key=key, reverses_id=original.id
        )
        return ledger.book([spec])[0]


def card_preauthorize(
    *, number: str, merchant_code: str, amount: int, actor: Acting, key: str, timeout: int
) -> Transfer:
    """Reserve `amount` on the card for the merchant (a car park's entry, a charging session) until `timeout`
    seconds; `preauth_complete` posts up to that amount or voids it."""
    amount_check(amount)
    with _refusal_audited("card.preauth", actor, target_type="card.merchant", target_id=merchant_code):
        merchant = merchant_for(merchant_code)
        _require(acts_for_merchant(actor, merchant), "This account does not act for the merchant.")
        card = _card_for(number)
        _usable(card)
        spec = TransferSpec(
            card.purse_id, merchant.payable_id, amount, TransferKind.PREAUTH, key=key, phase=Phase.PENDING,
            timeout_seconds=timeout,
        )  # fmt: skip
        return ledger.book([spec])[0]


def preauthorizations_expire() -> int:
    """Void the pre-authorisations whose timeout has passed (the clean-up job); returns how many."""
    return ledger.pending_expire()


def preauth_complete(*, pending_key: str, amount: int | None, actor: Acting, key: str) -> Transfer:
    """Post `amount` (at most what was reserved) of a pre-authorization, or void it when `amount` is None."""
    pending = Transfer.objects.filter(key=pending_key, phase=Phase.PENDING).first()
    if pending is None:
        raise TransferNotFound("No pre-authorization has this key.")
    merchant = Merchant.objects.filter(payable_id=pending.credit_id).first()
    with _refusal_audited("card.preauth", actor, target_type="card.transfer", target_id=pending_key):
        _require(merchant is not None and acts_for_merchant(actor, merchant), "Only the merchant completes it.")
        if amount is None:
            spec = TransferSpec(
                pending.debit_id, pending.credit_id, pending.amount, TransferKind.PAYMENT, key=key,
                phase=Phase.VOID, pending_id=pending.id,
            )  # fmt: skip
        else:
            spec = TransferSpec(
                pending.debit_id, pending.credit_id, amount_check(amount), TransferKind.PAYMENT, key=key,
                phase=Phase.POST, pending_id=pending.id,
            )  # fmt: skip
        return ledger.book([spec])[0]


# --- offline taps -------------------------------------------------------------------------------------------------


def terminal_register(*, merchant: Merchant, code: str, actor: Acting) -> tuple[Terminal, bytes]:
    """A terminal of the merchant with a new 16-byte MAC key, returned once (loaded into the device)."""
    with _refusal_audited("card.terminal.register", actor, target_type="card.terminal", target_id=code):
        _require(
            isinstance(actor, Actor) or has(actor, FINANCE) or acts_for_merchant(actor, merchant),
            "Only finance staff or the merchant register terminals.",
        )
        secret = secrets.token_bytes(16)
        with transaction.atomic():
            terminal = Terminal.objects.create(
                code=code, merchant=merchant, payable=_terminal_payable_open(code, merchant),
                key_cipher=data_keyring().encrypt_text(secret.hex(), associated_data=f"card.terminal:{code}".encode()),
            )  # fmt: skip
            audit_record(
                action="card.terminal.register", actor=_actor(actor), target_type="card.terminal",
                target_id=terminal.pk, detail={"code": code, "merchant": merchant.code},
            )  # fmt: skip
        return terminal, secret


def _terminal_payable_open(terminal_code: str, merchant: Merchant) -> LedgerAccount:
    """The terminal's part of its merchant's payable (ADR 0012, "An operator's payable split by terminal"), where its
    taps are credited: an account of the merchant's kind, without limits, summed with the merchant's payable by the
    clearing and the merchant's pages."""
    return ledger.account_open(code=f"terminal:{terminal_code}", kind=AccountKind.MERCHANT, name=merchant.name)


def _terminal_payable(terminal: Terminal) -> int:
    """The id of the terminal's payable sub-account, opened now (under the terminal's row lock, which the upload
    holds) for a terminal registered before terminals had one and not yet given one by migration 0016."""
    if terminal.payable_id is None:
        terminal.payable = _terminal_payable_open(terminal.code, terminal.merchant)
        terminal.save(update_fields=["payable"])
    return terminal.payable_id  # type: ignore[return-value]


def _terminal_key(terminal: Terminal) -> bytes:
    return bytes.fromhex(
        data_keyring().decrypt_text(terminal.key_cipher, associated_data=f"card.terminal:{terminal.code}".encode())
    )


def tap_batch_mac(key: bytes, terminal_code: str, batch_number: int, taps: Sequence[Mapping[str, Any]]) -> str:
    """HMAC-SM3 over the batch as canonical JSON (sorted keys, no spaces): what the terminal computes."""
    message = json.dumps(
        {"terminal": terminal_code, "batch": batch_number, "taps": list(taps)},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )  # fmt: skip
    return hmac_sm3(key, message.encode()).hex()


@dataclass(frozen=True)
class BatchResult:
    batch: TapBatch
    booked: int
    duplicates: list[dict[str, Any]]
    unknown_cards: list[str]
    gaps: list[dict[str, Any]]
    replayed: bool = False


_TapParsed = tuple[str, int, int, dt.datetime, str]  # card number, counter, fare, tap time, its ISO 8601 text
# The shape `datetime.isoformat` gives an aware time (seconds, optional microseconds, a whole-minute offset): a tap's
# time sent so, and read by `fromisoformat`, goes to PostgreSQL as it came, which reads it as the same instant; any
# other form Python accepts (week dates, basic format, offsets with seconds) is written out again by `isoformat`.
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?[+-][0-9]{2}:[0-9]{2}")


def _tap_refused(position: int, rule: str, msg: str) -> TapBatchRefused:
    return TapBatchRefused(f"Tap {position}: {msg}", errors=[{"loc": ["taps", position], "rule": rule, "msg": msg}])


def _taps_parse(taps: Sequence[Mapping[str, Any]]) -> list[_TapParsed]:
    """Every tap of a batch checked in one loop (no call per tap; a card's Luhn check once per batch, since a card
    taps many times in one): the first wrong one refuses the batch."""
    valid_cards: dict[str, bool] = {}
    parsed: list[_TapParsed] = []
    append, iso_time, from_text = parsed.append, _ISO_TIME.fullmatch, dt.datetime.fromisoformat
    for position, raw in enumerate(taps):
        card, counter, amount, at = raw.get("card"), raw.get("counter"), raw.get("amount"), raw.get("at")
        valid = valid_cards.get(card) if isinstance(card, str) else False
        if valid is None:
            valid = valid_cards[card] = len(card) == 16 and luhn_valid(card)  # type: ignore[index,arg-type]
        if not valid:
            raise _tap_refused(position, "tap.card", "the card number is not 16 digits with a Luhn check digit")
        if isinstance(counter, bool) or not isinstance(counter, int) or not 0 < counter < 2**31:
            raise _tap_refused(position, "tap.counter", "the card's transaction counter is a positive whole number")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= ledger.MAX_AMOUNT:
            raise _tap_refused(position, "tap.amount", "the fare is a positive whole number of fen")
        text = at if isinstance(at, str) else str(at)
        try:
            moment = from_text(text)
        except ValueError:
            msg = "the tap time is an ISO 8601 date and time with its offset"
            raise _tap_refused(position, "tap.at", msg) from None
        if moment.tzinfo is None:
            raise _tap_refused(position, "tap.at", "the tap time carries its UTC offset")
        append((card, counter, amount, moment, text if iso_time(text) else moment.isoformat()))  # type: ignore[arg-type]
    return parsed


def tap_batch_upload(
    *, terminal_code: str, batch_number: int, taps: Sequence[Mapping[str, Any]], mac: str, actor: Acting
) -> BatchResult:
    """Book a terminal's offline taps at their tap times. The batch is refused whole (nothing booked) from an
    unknown terminal, with a wrong MAC, or numbered past the next one (a missing batch must come first); a batch
    already accepted is answered again. Inside an accepted batch, taps already booked (same card and counter) are
    reported as duplicates, taps of unknown cards are reported and not booked, and missing counters of a card are
    reported as gaps. Taps book even below a purse's limit (they were made offline): the purse goes into debt and
    the card onto the deny list until a top-up recovers it."""
    with _refusal_audited("card.taps.upload", actor, target_type="card.terminal", target_id=terminal_code):
        if isinstance(batch_number, bool) or not isinstance(batch_number, int) or batch_number < 1:
            raise TapBatchRefused("The batch number is a positive whole number.")
        if not 1 <= len(taps) <= 10_000:
            raise TapBatchRefused("A batch holds 1 to 10,000 taps.")
        with transaction.atomic():
            terminal = (
                Terminal.objects.select_for_update(of=("self",))
                .select_related("merchant")
                .filter(code=terminal_code, active=True)
                .first()
            )
            if terminal is None:
                raise TapBatchRefused("No active terminal has this code.")
            _require(acts_for_merchant(actor, terminal.merchant), "This account does not act for the terminal.")
            expected = tap_batch_mac(_terminal_key(terminal), terminal_code, batch_number, taps)
            if not isinstance(mac, str) or not constant_time_equal(expected.encode(), mac.lower().encode()):
                raise TapBatchRefused("The batch's MAC does not verify under the terminal's key.")
            if batch_number <= terminal.last_batch:
                batch = TapBatch.objects.get(terminal=terminal, number=batch_number)
                return BatchResult(batch, batch.booked, [], [], batch.gaps, replayed=True)
            if batch_number != terminal.last_batch + 1:
                raise TapBatchRefused(
                    f"Batch {terminal.last_batch + 1} is missing; upload it before batch {batch_number}.",
                    expected=terminal.last_batch + 1,
                )  # fmt: skip
            return _taps_book(terminal, batch_number, _taps_parse(taps))


_TAP_CARDS_LOCK = (
    f"SELECT number, id, purse_id, tap_counter FROM {Card._meta.db_table} "  # noqa: S608 (the model's own table)
    "WHERE number = ANY(%s::text[]) ORDER BY id FOR NO KEY UPDATE"
)
_TAPS_BOOKED = (
    f"SELECT key, kind, debit_id FROM {Transfer._meta.db_table} "  # noqa: S608 (the model's own table)
    "WHERE key = ANY(%s::text[])"
)


def tap_key(card_id: int, counter: int) -> str:
    """The ledger key of a tap's transfer: the tap is unique by card and the card's transaction counter, and its
    transfer is the tap (ADR 0012, "Taps folded into their transfers"), so the transfers' unique key keeps it so."""
    return f"tap:{card_id}:{counter}"


_TapCard = tuple[int, int, int]  # card id, purse id, highest tap counter booked before this batch


def _tap_cards_locked(numbers: set[str]) -> dict[str, _TapCard]:
    """The batch's cards, their rows locked in ascending id order (before any ledger account, as `card_transition`
    does: card rows, then accounts), so that two batches with taps of one card are serialised and each sees the
    other's taps and counter."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_TAP_CARDS_LOCK, [ledger.pg_texts(sorted(numbers))])
            return {number: (card_id, purse, top) for number, card_id, purse, top in cursor.fetchall()}
    rows = (
        Card.objects.filter(number__in=numbers)
        .order_by("id")
        .select_for_update(no_key=True)
        .values_list("number", "id", "purse_id", "tap_counter")
    )
    return {number: (card_id, purse, top) for number, card_id, purse, top in rows}


def _taps_booked(candidates: list[tuple[int, int, int]]) -> set[tuple[int, int]]:
    """Which (card, counter) pairs of `candidates` (card, purse, counter) are booked already: by their transfers'
    unique key. A key held by anything but that card's tap (no service books one) refuses the batch."""
    if not candidates:
        return set()
    wanted = {tap_key(card_id, counter): (card_id, purse_id, counter) for card_id, purse_id, counter in candidates}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_TAPS_BOOKED, [ledger.pg_texts(wanted)])
            rows = cursor.fetchall()
    else:
        rows = list(Transfer.objects.filter(key__in=list(wanted)).values_list("key", "kind", "debit_id"))
    found: set[tuple[int, int]] = set()
    for key, kind, debit_id in rows:
        card_id, purse_id, counter = wanted[key]
        if kind != TransferKind.TAP or debit_id != purse_id:
            raise TransferKeyReused(f"The key {key} names a transfer that is not this tap.", key=key)
        found.add((card_id, counter))
    return found


def _taps_book(terminal: Terminal, batch_number: int, parsed: list[_TapParsed]) -> BatchResult:
    """Book an accepted batch set-wise (ADR 0012): the cards locked and read once, the counters already booked
    found by the (card, counter) key in one query (only counters at or below the card's highest booked can be),
    gaps found against the highest counter kept on the card row, then the transfers, entries, balances and taps in a
    fixed handful of statements whatever the batch's size (on SQLite, the ledger engine's Python path)."""
    moment = timezone.now()
    cards = _tap_cards_locked({p[0] for p in parsed})
    unknown = sorted({p[0] for p in parsed if p[0] not in cards})
    seen = _taps_booked(
        [(card[0], card[1], counter) for number, counter, *_rest in parsed if (card := cards.get(number))
         and counter <= card[2]]
    )  # fmt: skip
    duplicates: list[dict[str, Any]] = []
    fresh: list[tuple[_TapCard, int, int, dt.datetime, str]] = []
    # per card with counters above its highest booked: the highest of them, and how many (each counter is in
    # `fresh` once, so a card's missing counters number top - highest booked - how many)
    tops: dict[int, int] = {}
    above: dict[int, int] = {}
    for number, counter, amount, at, at_text in parsed:
        card = cards.get(number)
        if card is None:
            continue
        card_id = card[0]
        if (card_id, counter) in seen:
            duplicates.append({"card": number, "counter": counter})
            continue
        seen.add((card_id, counter))
        fresh.append((card, counter, amount, at, at_text))
        if counter > card[2]:
            above[card_id] = above.get(card_id, 0) + 1
            if counter > tops.get(card_id, 0):
                tops[card_id] = counter
    previous = {card[0]: card[2] for card in cards.values()}
    gapped = {card_id: top for card_id, top in tops.items() if top - previous[card_id] > above[card_id]}
    gaps = []
    if gapped:
        numbers = {card[0]: number for number, card in cards.items()}
        counters_by_card: dict[int, set[int]] = defaultdict(set)
        for card, counter, *_rest in fresh:
            if card[0] in gapped:
                counters_by_card[card[0]].add(counter)
        for card_id in sorted(gapped):
            start, top, counters = previous[card_id] + 1, gapped[card_id], counters_by_card[card_id]
            missing = list(itertools.islice((n for n in range(start, top) if n not in counters), 100))
            gaps.append({"card": numbers[card_id], "missing": missing, "count": top - start + 1 - above[card_id]})
    raised = dict(sorted(tops.items()))
    # The batch's row is written whole and the terminal's last batch raised before the ledger's accounts are locked
    # (all in the upload's transaction), so that the accounts are held for the booking and the commit only.
    batch = TapBatch.objects.create(
        terminal=terminal, number=batch_number, uploaded_at=moment, taps=len(parsed), booked=len(fresh),
        duplicates=len(duplicates), gaps=gaps,
    )  # fmt: skip
    terminal.last_batch = batch_number
    terminal.save(update_fields=["last_batch"])
    if fresh:
        keys = [tap_key(card[0], counter) for card, counter, *_rest in fresh]
        # the terminal's own part of the operator's payable: batches of other terminals lock other accounts
        payable = _terminal_payable(terminal)
        if connection.vendor == "postgresql":
            if raised:  # the cards' rows are locked already; raised before the accounts are locked
                with connection.cursor() as cursor:
                    cursor.execute(_TAP_COUNTERS_RAISE, [ledger.pg_ints(raised), ledger.pg_ints(raised.values())])
            ledger.book_to_one(
                debits=[tap[0][1] for tap in fresh], credit_id=payable, amounts=[tap[2] for tap in fresh],
                keys=keys, business=[tap[4] for tap in fresh], kind=TransferKind.TAP, batch_id=batch.pk,
            )  # fmt: skip
        else:
            specs = [
                TransferSpec(card[1], payable, amount, TransferKind.TAP, key=key, overdraft=True, business_at=at,
                             batch_id=batch.pk)
                for (card, _counter, amount, at, _text), key in zip(fresh, keys, strict=True)
            ]  # fmt: skip
            ledger.book(specs)
            for card_id, top in raised.items():
                Card.objects.filter(pk=card_id).update(tap_counter=top)
    return BatchResult(batch, len(fresh), duplicates, unknown, gaps)


_TAP_COUNTERS_RAISE = (
    f"UPDATE {Card._meta.db_table} AS card SET tap_counter = r.top "  # noqa: S608 (the model's own table)
    "FROM unnest(%s::bigint[], %s::integer[]) AS r(id, top) WHERE card.id = r.id"
)


# --- phone QR codes -----------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def qr_code_issue(*, number: str, user: Acting, now: float | None = None) -> str:
    """A payment code for the holder's own usable card, valid 60 seconds: `<payload>.<signature>`, both base64url;
    the payload is JSON {v, card, nonce, iat, exp}; the signature is SM2 (SM3, default signer id) by the platform."""
    with _refusal_audited("card.qr.issue", user, target_type="card.card", target_id=number):
        card = _card_for(number)
        _require(owns_card(user, card), "Only the card's holder shows its payment code.")
        _usable(card)
        issued = int(now if now is not None else time.time())
        payload = json.dumps(
            {"v": 1, "card": card.number, "nonce": secrets.token_hex(12), "iat": issued, "exp": issued + QR_LIFETIME},
            sort_keys=True, separators=(",", ":"),
        ).encode()  # fmt: skip
        return f"{_b64(payload)}.{_b64(platform_key().sign(payload))}"


def qr_code_verify(code: str, *, public_key: Sm2PublicKey, now: float | None = None) -> dict[str, Any]:
    """What a scanner does offline with the published key: the payload of a genuine, unexpired code."""
    try:
        payload_text, signature_text = code.split(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (ValueError, AttributeError):
        raise QrCodeRefused("The code is not a city card payment code.") from None
    if not public_key.verify(payload, signature):
        raise QrCodeRefused("The code is not signed by the platform.")
    claims = json.loads(payload)
    moment = now if now is not None else time.time()
    if not isinstance(claims, dict) or claims.get("v") != 1:
        raise QrCodeRefused("The code's version is unknown.")
    if not claims["iat"] - 5 <= moment <= claims["exp"]:
        raise QrCodeRefused("The code has expired; refresh it on the phone.")
    return claims


def qr_code_pay(
    *, code: str, merchant_code: str, amount: int, actor: Acting, key: str, now: float | None = None
) -> Transfer:
    """A merchant's scanner takes a payment by a phone's code: genuine, unexpired and never used before."""
    amount_check(amount)
    with _refusal_audited("card.qr.pay", actor, target_type="card.merchant", target_id=merchant_code):
        merchant = merchant_for(merchant_code)
        _require(acts_for_merchant(actor, merchant), "This account does not act for the merchant.")
        claims = qr_code_verify(code, public_key=platform_key().public_key, now=now)
        card = _card_for(str(claims["card"]))
        _usable(card)
        try:
            with transaction.atomic():
                transfer = ledger.book(
                    [TransferSpec(card.purse_id, merchant.payable_id, amount, TransferKind.PAYMENT, key=key)]
                )[0]
                QrUse.objects.create(
                    nonce=str(claims["nonce"])[:32], card=card, transfer=transfer, used_at=timezone.now()
                )
        except IntegrityError:
            raise QrCodeRefused("The code was already used; show a fresh one.") from None
        return transfer


# --- government bills -------------------------------------------------------------------------------------------


def bill_issue(
    *,
    department_id: int,
    item: str,
    payer_name: str,
    amount: int,
    actor: Acting,
    reference: str = "",
    payer_index: str = "",
) -> Bill:
    amount_check(amount)
    item, payer_name = item.strip(), payer_name.strip()
    if not 1 <= len(item) <= 80 or not 1 <= len(payer_name) <= 80 or len(reference) > 64:
        raise CardInputInvalid("A bill names its item and payer (1 to 80 characters each).")
    with _refusal_audited("card.bill.issue", actor, target_type="card.bill"):
        _require(isinstance(actor, Actor) or may_issue_bill(actor, department_id), "This account may not issue bills.")
        department = Department.objects.filter(pk=department_id).first()
        if department is None:
            raise CardInputInvalid("No such department.")
        with transaction.atomic():
            treasury = system_account(f"treasury:{department.code}")
            for _attempt in range(5):
                code = _number("35", 20)
                if not Bill.objects.filter(payment_code=code).exists():
                    break
            bill = Bill.objects.create(
                payment_code=code, department=department, treasury=treasury, item=item, payer_name=payer_name,
                payer_index=payer_index, reference=reference, amount=amount, issued_at=timezone.now(),
            )  # fmt: skip
            audit_record(
                action="card.bill.issue", actor=_actor(actor), target_type="card.bill", target_id=bill.pk,
                detail={"department": department.code, "amount": amount, "reference": reference},
            )  # fmt: skip
            return bill


def _bill_locked(payment_code: str) -> Bill:
    if not isinstance(payment_code, str) or len(payment_code) != 20 or not luhn_valid(payment_code):
        raise BillNotFound("No bill has this payment code (20 digits with a Luhn check digit).")
    bill = (
        Bill.objects.select_for_update(of=("self",))
        .select_related("department")
        .filter(payment_code=payment_code)
        .first()
    )
    if bill is None:
        raise BillNotFound("No bill has this payment code.")
    if bill.status != BillStatus.UNPAID:
        raise BillNotPayable(f"The bill is {bill.get_status_display()}; it cannot be paid again.")
    return bill


def receipt_content(bill: Bill, receipt_number: str, paid_at: dt.datetime) -> bytes:
    """The signed bytes of a receipt, rebuilt from the bill at each verification."""
    content = {
        "receipt": receipt_number, "payment_code": bill.payment_code, "department": bill.department.code,
        "department_name": bill.department.name, "item": bill.item, "payer": mask_name(bill.payer_name),
        "amount_fen": bill.amount, "paid_at": paid_at.astimezone(dt.UTC).isoformat(),
        "transfer": bill.transfer.key if bill.transfer else "",
    }  # fmt: skip
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _bill_settle(bill: Bill, source_id: int, key: str) -> Bill:
    transfer = ledger.book([TransferSpec(source_id, bill.treasury_id, bill.amount, TransferKind.BILL, key=key)])[0]
    bill.status = BillStatus.PAID
    bill.transfer = transfer
    bill.save(update_fields=["status", "transfer"])
    number = "R" + bill.payment_code[:19] + f"{secrets.randbelow(10_000):04d}"
    content = receipt_content(bill, number, transfer.created_at)
    private = platform_key()
    receipt = Receipt.objects.create(
        number=number, bill=bill, content=content.decode(), signature=_b64(private.sign(content)),
        key_id=private.public_key.key_id(), issued_at=transfer.created_at,
    )  # fmt: skip
    publish(
        BillPaid(
            bill_id=bill.pk, payment_code=bill.payment_code, department_id=bill.department_id,
            reference=bill.reference, amount=bill.amount, receipt_number=receipt.number,
        )
    )  # fmt: skip
    return bill


def bill_pay_by_card(*, payment_code: str, number: str, user: Acting, key: str) -> Bill:
    with (
        _refusal_audited("card.bill.pay", user, target_type="card.bill", target_id=payment_code),
        transaction.atomic(),
    ):
        bill = _bill_locked(payment_code)
        card = _card_for(number)
        _require(owns_card(user, card), "Only the card's holder pays with it.")
        _usable(card)
        return _bill_settle(bill, card.purse_id, key)


def bill_pay_by_channel(*, payment_code: str, channel: str, actor: Acting, key: str) -> Bill:
    if channel not in ("bank", "online"):
        raise LedgerInputInvalid("A bill is paid by bank or online channel.")
    with _refusal_audited("card.bill.pay", actor, target_type="card.bill", target_id=payment_code):
        _require(has(actor, CHANNEL), "This account is not a payment channel.")
        with transaction.atomic():
            bill = _bill_locked(payment_code)
            return _bill_settle(bill, system_account(CHANNELS[channel]).id, key)


def receipt_verify(number: str) -> tuple[Receipt, bool]:
    """The receipt and whether its signature holds over the content rebuilt from the bill's row now."""
    receipt = Receipt.objects.select_related("bill__department", "bill__transfer").filter(number=number[:24]).first()
    if receipt is None:
        raise ReceiptNotFound("No receipt has this number.")
    rebuilt = receipt_content(receipt.bill, receipt.number, receipt.issued_at)
    public = platform_key().public_key
    try:
        signature = _unb64(receipt.signature)
    except ValueError:
        return receipt, False
    valid = rebuilt == receipt.content.encode() and public.key_id() == receipt.key_id
    return receipt, valid and public.verify(rebuilt, signature)


# --- clearing and settlement --------------------------------------------------------------------------------------


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=CITY_ZONE)
    return start, start + dt.timedelta(days=1)


def clearing_run(*, business_date: dt.date, actor: Acting, cutoff: dt.datetime | None = None) -> ClearingRun:
    """Clear a business day (清分结算): per merchant the gross of payments and taps made that day, refunds, the fee
    (its basis points of the gross, rounded down) and the net; one fee transfer and one settlement transfer (net to
    the bank) per merchant, linked. A later run of the same day takes only what was posted after the previous
    run's cut-off (late uploads) and lists those transfers in its file: the difference, explained."""
    moment = cutoff or timezone.now()
    with _refusal_audited("card.clearing.run", actor, target_type="card.clearing", target_id=str(business_date)):
        _require(isinstance(actor, Actor) or has(actor, FINANCE), "Clearing needs card.add_clearingrun.")
        start, end = _day_bounds(business_date)
        if moment < end:
            raise ClearingRefused("A day is cleared after it has ended.")
        with transaction.atomic():
            previous = (
                ClearingRun.objects.select_for_update()
                .filter(business_date=business_date)
                .order_by("-sequence")
                .first()
            )
            sequence = previous.sequence + 1 if previous else 1
            window = Q(business_at__gte=start, business_at__lt=end, created_at__lte=moment) & Q(
                phase__in=(Phase.SINGLE, Phase.POST)
            )
            if previous is not None:
                window &= Q(created_at__gt=previous.cutoff)
            run = ClearingRun.objects.create(
                business_date=business_date, sequence=sequence, cutoff=moment,
                previous_cutoff=previous.cutoff if previous else None, ran_at=timezone.now(),
                actor=_actor(actor).label[:80],
            )  # fmt: skip
            lines = _clear(run, window)
            run.settlement_file = _settlement_file(run, lines, window)
            run.save(update_fields=["settlement_file"])
            audit_record(
                action="card.clearing.run", actor=_actor(actor), target_type="card.clearing", target_id=run.pk,
                detail={"date": business_date.isoformat(), "sequence": sequence, "merchants": len(lines)},
            )  # fmt: skip
            return run


def _merchant_accounts() -> tuple[dict[int, Merchant], list[tuple[int, str, int]]]:
    """Every merchant's payable accounts, its own and its terminals' parts (ADR 0012, "An operator's payable split
    by terminal"), each to its merchant; and the parts as (account id, terminal code, merchant's payable id)."""
    merchants = {m.id: m for m in Merchant.objects.select_related("payable")}
    owners = {m.payable_id: m for m in merchants.values()}
    parts = []
    for account_id, code, merchant_id in Terminal.objects.filter(payable__isnull=False).values_list(
        "payable_id", "code", "merchant_id"
    ):
        owners[account_id] = merchants[merchant_id]
        parts.append((account_id, code, merchants[merchant_id].payable_id))
    return owners, parts


def _clear(run: ClearingRun, window: Q) -> list[ClearingLine]:
    """Per merchant, over all its payable accounts: the gross and count of its payments and taps, its refunds, fee
    and net; booked with the sweeps of its terminals' parts into its payable, all linked (one `book`)."""
    owners, parts = _merchant_accounts()
    income: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    refunds: dict[int, int] = defaultdict(int)
    for credit_id, total, count in _sums(window & Q(kind__in=(TransferKind.PAYMENT, TransferKind.TAP)), "credit_id"):
        if (owner := owners.get(credit_id)) is not None:
            income[owner.payable_id][0] += total
            income[owner.payable_id][1] += count
    for debit_id, total, _count in _sums(window & Q(kind=TransferKind.REFUND), "debit_id"):
        if (owner := owners.get(debit_id)) is not None:
            refunds[owner.payable_id] += total
    fee_account = system_account(FEE_INCOME)
    bank = system_account(BANK)
    lines, specs = [], []
    prefix = f"clear:{run.business_date.isoformat()}:{run.sequence}"
    # each terminal's part moves what it holds to its merchant's payable, which the fee and the settlement debit;
    # taps booked after this read stay in the part for the next run's sweep (credits only raise it)
    held = dict(LedgerAccount.objects.filter(id__in=[p[0] for p in parts]).values_list("id", "balance"))
    for account_id, code, payable_id in parts:
        if held.get(account_id, 0) > 0:
            specs.append(TransferSpec(account_id, payable_id, held[account_id], TransferKind.SWEEP,
                                      key=f"{prefix}:{code}:sweep"))  # fmt: skip
    for payable_id in sorted(set(income) | set(refunds)):
        merchant = owners[payable_id]
        gross, count = income[payable_id]
        refunded = refunds.get(payable_id, 0)
        fees = gross * merchant.fee_rate // 10_000
        net = gross - refunded - fees
        line = ClearingLine(run=run, merchant=merchant, count=count, gross=gross, refunds=refunded, fees=fees, net=net)
        if fees > 0:
            specs.append(
                TransferSpec(payable_id, fee_account.id, fees, TransferKind.FEE, key=f"{prefix}:{merchant.code}:fee")
            )
        if net > 0:
            specs.append(
                TransferSpec(payable_id, bank.id, net, TransferKind.SETTLEMENT, key=f"{prefix}:{merchant.code}")
            )
        lines.append(line)
    transfers = {t.key: t for t in ledger.book(specs)} if specs else {}
    for line in lines:
        line.settlement = transfers.get(f"{prefix}:{line.merchant.code}")
    ClearingLine.objects.bulk_create(lines)
    return lines


def _sums(condition: Q, side: str) -> list[tuple[int, int, int]]:
    from django.db.models import Count

    rows = Transfer.objects.filter(condition).values(side).annotate(total=Sum("amount"), n=Count("id"))
    return [(r[side], int(r["total"]), int(r["n"])) for r in rows.order_by(side)]


def _settlement_file(run: ClearingRun, lines: list[ClearingLine], window: Q) -> str:
    out = [
        f"# settlement {run.business_date.isoformat()} run {run.sequence} cutoff {run.cutoff.isoformat()}",
        "merchant,count,gross,refunds,fees,net,settlement",
    ]
    for line in sorted(lines, key=lambda x: x.merchant.code):
        out.append(
            f"{line.merchant.code},{line.count},{line.gross},{line.refunds},{line.fees},{line.net},"
            f"{line.settlement.key if line.settlement else ''}"
        )
    if run.sequence > 1:
        out.append(f"# late since {run.previous_cutoff.isoformat() if run.previous_cutoff else ''}")
        out.append("transfer,kind,merchant_account,amount,business_at,posted_at")
        late = (
            Transfer.objects.filter(window & Q(kind__in=(TransferKind.PAYMENT, TransferKind.TAP, TransferKind.REFUND)))
            .select_related("debit", "credit")
            .order_by("created_at", "id")
        )
        owners, _parts = _merchant_accounts()
        for t in late:
            side = t.debit if t.kind == TransferKind.REFUND else t.credit
            owner = owners.get(side.id)
            account = owner.payable.code if owner is not None else side.code  # a terminal's part: its merchant's
            out.append(f"{t.key},{t.kind},{account},{t.amount},{t.business_at.isoformat()},{t.created_at.isoformat()}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Reconciliation:
    business_date: dt.date
    channel: str
    matched: int
    ours_only: list[dict[str, Any]]
    theirs_only: list[dict[str, Any]]
    amount_differs: list[dict[str, Any]]

    @property
    def balanced(self) -> bool:
        return not (self.ours_only or self.theirs_only or self.amount_differs)


def reconcile(*, business_date: dt.date, channel: str, statement: str, actor: Acting) -> Reconciliation:
    """Match the channel's statement file (lines `reference,amount_fen`; `#` comments) against the day's top-ups
    and bills from that channel, by reference (the top-up's reference, the bill's payment code): every item found on
    one side only or with another amount is listed."""
    with _refusal_audited("card.reconcile", actor, target_type="card.clearing", target_id=str(business_date)):
        _require(isinstance(actor, Actor) or has(actor, FINANCE), "Reconciliation needs card.add_clearingrun.")
        if channel not in ("bank", "online"):
            raise StatementInvalid("The channel is bank or online.")
        theirs: dict[str, int] = {}
        for position, raw in enumerate(statement.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#") or line.lower().startswith("reference"):
                continue
            reference, _sep, amount_text = line.partition(",")
            if not amount_text.strip().isdigit() or not reference.strip() or reference.strip() in theirs:
                raise StatementInvalid(f"Line {position} is not 'reference,amount in fen' with a new reference.")
            theirs[reference.strip()] = int(amount_text.strip())
        start, end = _day_bounds(business_date)
        source = system_account(CHANNELS[channel])
        ours: dict[str, int] = {}
        rows = Transfer.objects.filter(debit=source, business_at__gte=start, business_at__lt=end).select_related("bill")
        for transfer in rows:
            reference = transfer.memo
            if transfer.kind == TransferKind.BILL:
                bill = Bill.objects.filter(transfer=transfer).first()
                reference = bill.payment_code if bill else transfer.key
            ours[reference or transfer.key] = ours.get(reference or transfer.key, 0) + transfer.amount
        report = Reconciliation(
            business_date=business_date, channel=channel,
            matched=sum(1 for r in ours if r in theirs and theirs[r] == ours[r]),
            ours_only=[{"reference": r, "amount": a} for r, a in sorted(ours.items()) if r not in theirs],
            theirs_only=[{"reference": r, "amount": a} for r, a in sorted(theirs.items()) if r not in ours],
            amount_differs=[
                {"reference": r, "ours": ours[r], "theirs": theirs[r]}
                for r in sorted(ours) if r in theirs and theirs[r] != ours[r]
            ],
        )  # fmt: skip
        audit_record(
            action="card.reconcile", actor=_actor(actor), target_type="card.clearing",
            target_id=business_date.isoformat(),
            detail={"channel": channel, "matched": report.matched, "unmatched": len(report.ours_only)
                    + len(report.theirs_only) + len(report.amount_differs)},
        )  # fmt: skip
        return report
