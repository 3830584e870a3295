"""Reads of the city card: the ledger's invariants, balances as of a moment, a card's history, the deny list,
merchants' transactions and the clearing runs."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum

from rongcheng.accounts.selectors import is_signed_in
from rongcheng.card import ledger
from rongcheng.card.models import (
    Bill,
    BillStatus,
    Card,
    CardStatus,
    ClearingRun,
    Entry,
    LedgerAccount,
    Merchant,
    Phase,
    Receipt,
    Terminal,
    Transfer,
    TransferKind,
)
from rongcheng.card.permissions import owns_card
from rongcheng.kernel.context import Account


def balance_as_of(account_id: int, moment: dt.datetime) -> int:
    return ledger.balance_as_of(account_id, moment)


def ledger_check() -> list[str]:
    """Every invariant of the ledger, checked over the whole tables; the problems found (empty when sound).

    The sum of all balances is zero; each account's balance is the sum of its entries and the last entry's
    balance after; each entry starts from the previous one's balance; each posted transfer has one debit and one
    credit entry of its amount, a pending or void none; reserved amounts equal the open pending transfers; no
    account is below its lower limit except through a transfer booked as overdraft; no transfer is reversed beyond
    its amount; no pending transfer is resolved twice."""
    problems: list[str] = []
    total = LedgerAccount.objects.aggregate(s=Sum("balance"))["s"] or 0
    if total != 0:
        problems.append(f"balances sum to {total}, not 0")
    sums = dict(Entry.objects.values("account_id").annotate(s=Sum("amount")).values_list("account_id", "s"))
    chains: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for account_id, before, amount, after in Entry.objects.order_by("account_id", "at", "id").values_list(
        "account_id", "balance_before", "amount", "balance_after"
    ):
        chains[account_id].append((before, amount, after))
    open_debits: dict[int, int] = defaultdict(int)
    open_credits: dict[int, int] = defaultdict(int)
    for debit_id, credit_id, amount in Transfer.objects.filter(
        phase=Phase.PENDING, resolutions__isnull=True
    ).values_list("debit_id", "credit_id", "amount"):
        open_debits[debit_id] += amount
        open_credits[credit_id] += amount
    overdrawn = set(Transfer.objects.filter(overdraft=True).values_list("debit_id", flat=True))
    for account in LedgerAccount.objects.all():
        if sums.get(account.id, 0) != account.balance:
            problems.append(f"{account.code}: balance {account.balance} != entries {sums.get(account.id, 0)}")
        previous = 0
        for before, amount, after in chains.get(account.id, []):
            if before != previous or after != before + amount:
                problems.append(f"{account.code}: entry chain broken at {before}/{amount}/{after}")
                break
            previous = after
        if chains.get(account.id) and previous != account.balance:
            problems.append(f"{account.code}: last entry {previous} != balance {account.balance}")
        if account.pending_debits != open_debits[account.id] or account.pending_credits != open_credits[account.id]:
            problems.append(f"{account.code}: reserved amounts differ from the open pending transfers")
        if account.lower_limit is not None and account.balance < account.lower_limit and account.id not in overdrawn:
            problems.append(f"{account.code}: below its lower limit without an overdraft booking")
        if account.upper_limit is not None and account.balance > account.upper_limit:
            problems.append(f"{account.code}: above its upper limit")
    entry_counts = dict(Entry.objects.values("transfer_id").annotate(n=Count("id")).values_list("transfer_id", "n"))
    entry_sums = dict(Entry.objects.values("transfer_id").annotate(s=Sum("amount")).values_list("transfer_id", "s"))
    for transfer_id, phase in Transfer.objects.values_list("id", "phase"):
        wanted = 2 if phase in (Phase.SINGLE, Phase.POST) else 0
        if entry_counts.get(transfer_id, 0) != wanted or entry_sums.get(transfer_id, 0) != 0:
            problems.append(f"transfer {transfer_id}: {entry_counts.get(transfer_id, 0)} entries, unbalanced or wrong")
    over = (
        Transfer.objects.filter(reverses__isnull=False)
        .values("reverses_id", "reverses__amount")
        .annotate(s=Sum("amount"))
        .filter(s__gt=F("reverses__amount"))
    )
    problems.extend(f"transfer {row['reverses_id']} reversed beyond its amount" for row in over)
    return problems


def cards_of(user: Account) -> list[Card]:
    if user is None or not user.is_authenticated:
        return []
    index = getattr(user, "id_number_index", "")
    condition = Q(owner=user) | (Q(holder_index=index) if index else Q(pk__in=[]))
    return list(Card.objects.select_related("purse").filter(condition).order_by("-issued_at"))


def card_for_holder(user: Account, reference: str) -> Card | None:
    """The holder's own card by its reference (the name of a card in addresses); None for anyone else's."""
    card = Card.objects.select_related("purse").filter(reference=reference[:16]).first()
    return card if card is not None and owns_card(user, card) else None


@dataclass(frozen=True)
class HistoryLine:
    key: str
    kind: str
    kind_label: str
    amount: int  # signed, as the purse saw it
    balance_after: int
    business_at: dt.datetime
    counterparty: str
    memo: str


def card_history(card: Card, *, limit: int = 50) -> list[HistoryLine]:
    """The card's latest transactions, newest first by the time each took place (`Transfer.business_at`: a tap is
    shown at its tap time even when its terminal uploaded it days later), ties in the order they were posted. The
    balance after each line is the purse's as posted (a late tap's is later than its neighbours')."""
    entries = (
        Entry.objects.filter(account_id=card.purse_id)
        .select_related("transfer__debit", "transfer__credit")
        .order_by("-transfer__business_at", "-at", "-id")[:limit]
    )
    names = merchant_names()
    lines = []
    for entry in entries:
        transfer = entry.transfer
        other = transfer.credit if entry.amount < 0 else transfer.debit
        lines.append(
            HistoryLine(
                key=transfer.key, kind=transfer.kind, kind_label=str(transfer.get_kind_display()),
                amount=entry.amount, balance_after=entry.balance_after, business_at=transfer.business_at,
                counterparty=names.get(other.id, ""), memo=transfer.memo,
            )
        )  # fmt: skip
    return lines


def merchant_names() -> dict[int, str]:
    """The name of the merchant each payable account belongs to, its own and its terminals' parts (ADR 0012, "An
    operator's payable split by terminal"), so that a tap reads as paid to its operator."""
    names = {m.payable_id: m.name for m in Merchant.objects.all()}
    names.update(Terminal.objects.filter(payable__isnull=False).values_list("payable_id", "merchant__name"))
    return names


def merchant_account_ids(merchant: Merchant) -> list[int]:
    """The merchant's payable and its terminals' parts of it, where their taps are credited."""
    parts = Terminal.objects.filter(merchant=merchant, payable__isnull=False).values_list("payable_id", flat=True)
    return [merchant.payable_id, *sorted(parts)]


def merchant_balance_as_of(merchant: Merchant, moment: dt.datetime) -> int:
    """What the merchant was owed at `moment`: the balances as of then of its payable and its terminals' parts,
    summed in one query (per account its latest entry at or before `moment`, by the `(account, at, id)` index)."""
    latest = (
        Entry.objects.filter(account_id=OuterRef("pk"), at__lte=moment)
        .order_by("-at", "-id")
        .values("balance_after")[:1]
    )
    accounts = LedgerAccount.objects.filter(Q(merchant=merchant) | Q(terminals__merchant=merchant))
    total = accounts.annotate(then=Subquery(latest)).aggregate(s=Sum("then"))["s"]
    return int(total or 0)


def deny_list() -> list[dict[str, str]]:
    """Cards a terminal must refuse offline: lost, frozen, replaced or cancelled, or with a purse below zero."""
    rows = (
        Card.objects.filter(
            Q(status__in=(CardStatus.LOST, CardStatus.FROZEN, CardStatus.REPLACED, CardStatus.CANCELLED))
            | Q(purse__balance__lt=0)
        )
        .order_by("number")
        .values_list("number", "status", "purse__balance")
    )
    return [
        {"card": number, "reason": status if status != CardStatus.ACTIVE else "debt"}
        for number, status, balance in rows
    ]


def merchants_of(user: Account) -> list[Merchant]:
    if not is_signed_in(user):
        return []
    return list(Merchant.objects.filter(owner=user).order_by("code"))


def merchant_transactions(merchant: Merchant, *, limit: int = 100) -> QuerySet[Transfer]:
    """The merchant's transactions on its payable and its terminals' parts of it, newest first; the sweeps of a
    part into the payable at clearing move nothing in or out of the merchant's money and are not listed."""
    accounts = merchant_account_ids(merchant)
    return (
        Transfer.objects.filter(Q(credit_id__in=accounts) | Q(debit_id__in=accounts))
        .filter(phase__in=(Phase.SINGLE, Phase.POST))
        .exclude(kind=TransferKind.SWEEP)
        .order_by("-created_at", "-id")[:limit]
    )


def clearing_runs(*, limit: int = 30) -> QuerySet[ClearingRun]:
    return ClearingRun.objects.order_by("-business_date", "-sequence")[:limit]


def receipts_of(user: Account) -> list[Receipt]:
    index = getattr(user, "id_number_index", "") if user is not None and user.is_authenticated else ""
    if not index:
        return []
    return list(Receipt.objects.select_related("bill").filter(bill__payer_index=index).order_by("-issued_at"))


def bill_by_code(payment_code: str) -> Bill | None:
    return Bill.objects.select_related("department").filter(payment_code=payment_code[:20]).first()


def bill_by_reference(*, department_id: int, reference: str) -> Bill | None:
    """The latest bill a department issued with `reference` (the hall: its application's fee), paid or not."""
    if not reference:
        return None
    return (
        Bill.objects.select_related("department")
        .filter(department_id=department_id, reference=reference[:64])
        .order_by("-id")
        .first()
    )


def bills_unpaid_of(user: Account) -> list[Bill]:
    """The unpaid bills issued to the signed-in resident (by the blind index of their ID number), oldest first."""
    index = getattr(user, "id_number_index", "") if user is not None and user.is_authenticated else ""
    if not index:
        return []
    return list(
        Bill.objects.select_related("department")
        .filter(payer_index=index, status=BillStatus.UNPAID)
        .order_by("issued_at")
    )
