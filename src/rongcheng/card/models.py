"""The city card (市民卡一卡通): a double-entry ledger in integer fen, the cards whose purses live in it, merchants and
their terminals, offline taps, phone QR codes, government bills with their receipts, and the daily clearing.

The ledger (ADR 0012) has three tables. `LedgerAccount` holds the running balance and the amounts reserved by
pending two-phase transfers; it is the only ledger row ever updated, always under a row lock taken in ascending id
order. `Transfer` and `Entry` are append-only (on PostgreSQL, triggers refuse UPDATE and DELETE): a pending transfer
is posted or voided by a second transfer naming it (`pending`, unique), a reversal is a new transfer naming the
original (`reverses`). Every posted transfer writes exactly two entries, one per side, each with the account's
balance before and after, so an account's balance at any moment is the `balance_after` of its latest entry before it.

Sign convention: a debit subtracts from an account's balance and a credit adds to it, so the balances of all accounts
always sum to zero. A purse (a liability of the platform to the cardholder) therefore has a positive balance when the
holder has money; a bank clearing account (an asset) goes negative as money comes in.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

CURRENCY = "CNY"


class AccountKind(models.TextChoices):
    PURSE = "purse", _("卡内余额")
    MERCHANT = "merchant", _("商户应付")
    OPERATOR = "operator", _("运营方应付")
    TREASURY = "treasury", _("非税收入待缴")
    BANK = "bank", _("银行清算")
    CHANNEL = "channel", _("渠道清算")
    CASH = "cash", _("柜面现金")
    FEE = "fee", _("手续费收入")
    SUSPENSE = "suspense", _("待查")


class LedgerAccount(models.Model):
    """One account of the ledger. `balance` is posted money; `pending_debits` and `pending_credits` are reserved by
    pending transfers. A debit must leave `balance - pending_debits` at or above `lower_limit` (None: no limit), a
    credit must leave `balance + pending_credits` at or below `upper_limit` (None: no limit)."""

    id = models.BigAutoField(primary_key=True)
    code = models.CharField(_("account code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=AccountKind.choices)
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY)
    balance = models.BigIntegerField(_("balance (fen)"), default=0)
    pending_debits = models.BigIntegerField(_("pending debits (fen)"), default=0)
    pending_credits = models.BigIntegerField(_("pending credits (fen)"), default=0)
    lower_limit = models.BigIntegerField(_("lower limit (fen)"), null=True, blank=True)
    upper_limit = models.BigIntegerField(_("upper limit (fen)"), null=True, blank=True)
    posted_until = models.DateTimeField(_("last entry at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(pending_debits__gte=0) & Q(pending_credits__gte=0), name="card_account_pending_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Phase(models.TextChoices):
    SINGLE = "single", _("即时")
    PENDING = "pending", _("预授权")
    POST = "post", _("确认")
    VOID = "void", _("撤销预授权")


class TransferKind(models.TextChoices):
    TOP_UP = "top_up", _("充值")
    PAYMENT = "payment", _("消费")
    FEE = "fee", _("手续费")
    REFUND = "refund", _("退款")
    TAP = "tap", _("刷卡乘车")
    BILL = "bill", _("缴费")
    CARD_MOVE = "card_move", _("换卡转余额")
    CARD_REFUND = "card_refund", _("退卡退款")
    SETTLEMENT = "settlement", _("结算")
    ADJUSTMENT = "adjustment", _("调账")
    PREAUTH = "preauth", _("预授权")
    SWEEP = "sweep", _("终端应付归集")


class Transfer(models.Model):
    """An immutable movement of `amount` fen from `debit` to `credit`. `key` is the client's id of the transfer
    (TigerBeetle's user-supplied id): a second transfer with the same key is the same transfer."""

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(_("client key"), max_length=100)  # unique by the constraint below (no LIKE index)
    kind = models.CharField(_("kind"), max_length=12, choices=TransferKind.choices)
    phase = models.CharField(_("phase"), max_length=8, choices=Phase.choices, default=Phase.SINGLE)
    amount = models.BigIntegerField(_("amount (fen)"))
    # no index of their own: (debit, created_at) and (credit, created_at) below serve them, and every index is
    # written once per transfer (a tap batch writes thousands)
    # db_constraint=False on every reference of the append-only tables (transfer, entry, tap): the database checks
    # them once per statement instead of once per row (migration 0011, ADR 0012 "References checked per statement")
    debit = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", verbose_name=_("debit"), db_index=False,
        db_constraint=False,
    )  # fmt: skip
    credit = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+", verbose_name=_("credit"), db_index=False,
        db_constraint=False,
    )  # fmt: skip
    # resolved once: unique among the transfers that name one (a partial index, not a NULL for every transfer;
    # migration 0013)
    pending = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resolutions",
        verbose_name=_("pending transfer posted or voided"), db_index=False, db_constraint=False,
    )  # fmt: skip
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals", verbose_name=_("reverses"),
        db_index=False, db_constraint=False,
    )  # fmt: skip
    linked_group = models.CharField(_("linked group"), max_length=36, blank=True)
    # an offline tap's transfer is the tap (ADR 0012, "Taps folded into their transfers"): its batch here (the
    # terminal is the batch's), its card the purse's, its fare the amount, its tap time `business_at`, its card and
    # counter the key `tap:<card>:<counter>`, unique; NULL for every other transfer. A BRIN index on PostgreSQL
    # (migration 0015): transfers are appended batch after batch and only a batch's deletion guard reads by it
    batch = models.ForeignKey(
        "TapBatch", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers",
        verbose_name=_("tap batch"), db_index=False, db_constraint=False,
    )  # fmt: skip
    timeout_at = models.DateTimeField(_("pending until"), null=True, blank=True)
    overdraft = models.BooleanField(_("booked over the lower limit"), default=False)
    memo = models.CharField(_("memo"), max_length=120, blank=True)
    # created_at and business_at: block-range (BRIN) indexes on PostgreSQL, plain ones on SQLite, created by
    # migration 0013 outside Django's state (SQLite has no BRIN): both grow with the table's physical order, and a
    # B-tree entry per transfer was two of a tap's eighteen index entries
    created_at = models.DateTimeField(_("posted at"))
    business_at = models.DateTimeField(_("business time"))

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_transfer_amount_positive"),
            models.CheckConstraint(condition=~Q(debit=models.F("credit")), name="card_transfer_two_accounts"),
            # a plain unique index: Django's unique=True adds a second, varchar_pattern_ops index for LIKE queries
            # nobody makes, written once per transfer
            models.UniqueConstraint(fields=["key"], name="card_transfer_key_unique"),
            models.UniqueConstraint(
                fields=["pending"], name="card_transfer_pending_unique", condition=Q(pending__isnull=False)
            ),
        ]
        indexes = [
            # refunds are few: index only the transfers that reverse one, not a NULL for every tap
            models.Index(fields=["reverses"], name="card_transfer_reverses", condition=Q(reverses__isnull=False)),
            models.Index(fields=["debit", "created_at"], name="card_transfer_debit"),
            models.Index(fields=["credit", "created_at"], name="card_transfer_credit"),
        ]

    def __str__(self) -> str:
        return self.key


class Entry(models.Model):
    """One side of a posted transfer on one account: the signed amount and the balance before and after."""

    id = models.BigAutoField(primary_key=True)
    # references checked per statement by the database (migration 0011), not per row; a BRIN index on PostgreSQL
    # (migration 0013): entries are appended in their transfers' order and only the ledger check reads them by it
    transfer = models.ForeignKey(
        Transfer, on_delete=models.PROTECT, related_name="entries", db_index=False, db_constraint=False
    )
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False, db_constraint=False
    )  # (account, at, id) below serves it
    amount = models.BigIntegerField(_("amount (fen)"))
    balance_before = models.BigIntegerField(_("balance before"))
    balance_after = models.BigIntegerField(_("balance after"))
    at = models.DateTimeField(_("posted at"))

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        indexes = [models.Index(fields=["account", "at", "id"], name="card_entry_account_at")]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_after=models.F("balance_before") + models.F("amount")), name="card_entry_adds_up"
            ),
        ]

    def __str__(self) -> str:
        return str(f"{self.account_id}:{self.amount}")


class IdempotencyRecord(models.Model):
    """The outcome of one money-moving request under its `Idempotency-Key`, written in the request's transaction.
    `fingerprint` is the SM3 digest of the canonical request body; `status` and `body` are what was answered."""

    scope = models.CharField(_("caller"), max_length=80)
    key = models.CharField(_("idempotency key"), max_length=64)
    fingerprint = models.CharField(_("request digest"), max_length=64)
    status = models.PositiveSmallIntegerField(_("status"))
    body = models.JSONField(_("answer"))
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="card_idempotency_unique")]

    # --- cards -------------------------------------------------------------------------------------------------------

    def __str__(self) -> str:
        return str(self.key)


class CardType(models.TextChoices):
    ORDINARY = "ordinary", _("普通卡")
    STUDENT = "student", _("学生卡")
    SENIOR = "senior", _("老年卡")


class CardForm(models.TextChoices):
    PHYSICAL = "physical", _("实体卡")
    VIRTUAL = "virtual", _("手机虚拟卡")


class CardStatus(models.TextChoices):
    ACTIVE = "active", _("正常使用")
    LOST = "lost", _("已挂失")
    FROZEN = "frozen", _("已冻结")
    REPLACED = "replaced", _("已补换")
    CANCELLED = "cancelled", _("已退卡")


def card_reference() -> str:
    """A card's name in addresses (pages, API paths): random, so that a card number never travels in a URL, where
    proxies, browsers and the server's log would keep it."""
    return secrets.token_urlsafe(12)


class Card(models.Model):
    """A city card: 16 digits ending in a Luhn check digit, its purse in the ledger, and its holder (by the blind
    index of the ID number, empty for an anonymous card)."""

    number = models.CharField(_("card number"), max_length=16, unique=True)
    reference = models.CharField(_("reference"), max_length=16, unique=True, default=card_reference, editable=False)
    card_type = models.CharField(_("card type"), max_length=8, choices=CardType.choices, default=CardType.ORDINARY)
    form = models.CharField(_("form"), max_length=8, choices=CardForm.choices, default=CardForm.PHYSICAL)
    status = models.CharField(_("status"), max_length=9, choices=CardStatus.choices, default=CardStatus.ACTIVE)
    purse = models.OneToOneField(LedgerAccount, on_delete=models.PROTECT, related_name="card")
    holder_index = models.CharField(_("holder"), max_length=64, blank=True, db_index=True)
    owner = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("account")
    )
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces", verbose_name=_("replaced by")
    )
    issued_at = models.DateTimeField(_("issued at"))
    # the highest transaction counter of the card's offline taps booked so far, raised by each tap batch under the
    # card's row lock: gaps are found against it without reading the card's history of taps
    tap_counter = models.PositiveIntegerField(_("highest tap counter booked"), default=0)

    class Meta:
        verbose_name = _("city card")
        verbose_name_plural = _("city cards")

    def __str__(self) -> str:
        return self.number


class CardStatusChange(models.Model):
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="status_changes")
    action = models.CharField(_("action"), max_length=16)
    from_status = models.CharField(_("from"), max_length=9)
    to_status = models.CharField(_("to"), max_length=9)
    at = models.DateTimeField(_("at"))
    actor = models.CharField(_("by"), max_length=80)

    def __str__(self) -> str:
        return str(f"{self.card_id}:{self.action}")


class MerchantKind(models.TextChoices):
    BUS = "bus", _("公交")
    METRO = "metro", _("地铁")
    PARKING = "parking", _("路内停车")
    BIKE = "bike", _("公共自行车")
    SHOP = "shop", _("小额消费")
    UTILITY = "utility", _("水电燃气")
    GOVERNMENT = "government", _("非税收入")


class Merchant(models.Model):
    """A participant paid through the card: a transit operator, a car park, a shop. `fee_rate` is in basis points
    of the gross, taken at clearing. Its `owner` account (if any) acts for it: takes its payments, uploads its
    terminals' taps and sees its transactions and settlements (card.permissions.acts_for_merchant)."""

    code = models.CharField(_("merchant code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=80)
    kind = models.CharField(_("kind"), max_length=10, choices=MerchantKind.choices)
    payable = models.OneToOneField(LedgerAccount, on_delete=models.PROTECT, related_name="merchant")
    fee_rate = models.PositiveIntegerField(_("fee (basis points)"), default=0)
    owner = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("account")
    )

    def __str__(self) -> str:
        return self.name


class Terminal(models.Model):
    """A card reader on a bus, at a gate or a parking meter. Batches it uploads carry an HMAC-SM3 under its key
    (stored encrypted) and a batch number one above the last accepted."""

    code = models.CharField(_("terminal code"), max_length=20, unique=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="terminals")
    key_cipher = models.TextField(_("key (encrypted)"))
    last_batch = models.PositiveIntegerField(_("last batch"), default=0)
    active = models.BooleanField(_("active"), default=True)
    # The terminal's part of its merchant's payable (ADR 0012, "An operator's payable split by terminal"): its taps
    # are credited here, so that batches of different terminals lock different accounts; the clearing counts it as
    # the merchant's and moves its balance to the merchant's payable (`TransferKind.SWEEP`). Nullable only so that
    # adding it rebuilds no table on SQLite (whose ledger triggers name this one); every terminal has one (migration
    # 0016, `terminal_register`, and the upload opens it under the terminal's lock if it is missing).
    payable = models.ForeignKey(
        LedgerAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="terminals",
        verbose_name=_("payable sub-account"),
    )  # fmt: skip

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["payable"], name="card_terminal_payable_unique", condition=Q(payable__isnull=False)
            )
        ]

    def __str__(self) -> str:
        return str(self.code)


class TapBatch(models.Model):
    """A terminal's upload of offline taps. Its taps are its transfers (`transfers`, kind tap, ADR 0012 "Taps folded
    into their transfers"): each the tap of one card (the purse debited) and counter (the key), at its tap time."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="batches")
    number = models.PositiveIntegerField(_("batch number"))
    uploaded_at = models.DateTimeField(_("uploaded at"))
    taps = models.PositiveIntegerField(_("taps"), default=0)
    booked = models.PositiveIntegerField(_("booked"), default=0)
    duplicates = models.PositiveIntegerField(_("duplicates"), default=0)
    gaps = models.JSONField(_("counter gaps"), default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["terminal", "number"], name="card_batch_unique")]
        # the terminals' permission (scope card:pay), the tap model's own until taps became transfers (migration 0015)
        permissions = [("add_tap", _("Can add tap"))]

    def __str__(self) -> str:
        return str(f"{self.terminal_id}:{self.number}")


class QrUse(models.Model):
    """A phone QR code that has paid: its nonce may pay once."""

    nonce = models.CharField(_("nonce"), max_length=32, unique=True)
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="+")
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="+")
    used_at = models.DateTimeField(_("used at"))

    def __str__(self) -> str:
        return str(self.nonce)


class BillStatus(models.TextChoices):
    UNPAID = "unpaid", _("待缴")
    PAID = "paid", _("已缴")
    CANCELLED = "cancelled", _("已作废")


class Bill(models.Model):
    """A government bill (非税收入缴款通知): a 20-digit payment code (赋码) with a Luhn check digit, paid once into
    the department's treasury account."""

    payment_code = models.CharField(_("payment code"), max_length=20, unique=True)
    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="+")
    treasury = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="+")
    item = models.CharField(_("item"), max_length=80)
    payer_name = models.CharField(_("payer"), max_length=80)
    payer_index = models.CharField(_("payer index"), max_length=64, blank=True, db_index=True)
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    amount = models.BigIntegerField(_("amount (fen)"))
    status = models.CharField(_("status"), max_length=9, choices=BillStatus.choices, default=BillStatus.UNPAID)
    issued_at = models.DateTimeField(_("issued at"))
    transfer = models.OneToOneField(Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="bill")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="card_bill_amount_positive")]

    def __str__(self) -> str:
        return str(self.payment_code)


class Receipt(models.Model):
    """An electronic receipt (电子票据) for a paid bill: canonical JSON content signed with the platform's SM2 key."""

    number = models.CharField(_("receipt number"), max_length=24, unique=True)
    bill = models.OneToOneField(Bill, on_delete=models.PROTECT, related_name="receipt")
    content = models.TextField(_("signed content"))
    signature = models.TextField(_("signature"))
    key_id = models.CharField(_("key id"), max_length=16)
    issued_at = models.DateTimeField(_("issued at"))

    def __str__(self) -> str:
        return str(self.number)


class ClearingRun(models.Model):
    """One clearing of a business day (清分): the transfers of that day posted up to `cutoff`; a later run of the
    same day clears only what was posted after the previous run's cut-off (late uploads)."""

    business_date = models.DateField(_("business date"))
    sequence = models.PositiveSmallIntegerField(_("run"))
    cutoff = models.DateTimeField(_("cut-off"))
    previous_cutoff = models.DateTimeField(_("previous cut-off"), null=True, blank=True)
    ran_at = models.DateTimeField(_("ran at"))
    actor = models.CharField(_("by"), max_length=80)
    settlement_file = models.TextField(_("settlement file"), blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["business_date", "sequence"], name="card_clearing_unique")]

    def __str__(self) -> str:
        return str(f"{self.business_date}:{self.sequence}")


class ClearingLine(models.Model):
    run = models.ForeignKey(ClearingRun, on_delete=models.PROTECT, related_name="lines")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="clearing_lines")
    count = models.PositiveIntegerField(_("transactions"))
    gross = models.BigIntegerField(_("gross (fen)"))
    refunds = models.BigIntegerField(_("refunds (fen)"))
    fees = models.BigIntegerField(_("fees (fen)"))
    net = models.BigIntegerField(_("net (fen)"))
    settlement = models.OneToOneField(Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return str(f"{self.run_id}:{self.merchant_id}")
