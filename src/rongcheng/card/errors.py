"""The card's domain errors; each maps once to a problem document (config.api)."""

from __future__ import annotations

from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class LedgerInputInvalid(ValidationFailed):
    """An amount that is not a positive whole number of fen, one account on both sides, an unknown kind."""

    type_slug = "ledger-input-invalid"
    title = "Ledger input invalid"


class LedgerAccountNotFound(NotFound):
    type_slug = "ledger-account-not-found"
    title = "Ledger account not found"


class TransferNotFound(NotFound):
    type_slug = "transfer-not-found"
    title = "Transfer not found"


class BalanceLimitExceeded(ValidationFailed):
    """The debit would take an account below its lower limit (a purse below zero) or a credit above its upper."""

    type_slug = "balance-limit-exceeded"
    title = "Balance limit exceeded"


class TransferKeyReused(ValidationFailed):
    """A client key (transfer id or Idempotency-Key) already names a transfer or request with other contents."""

    type_slug = "idempotency-key-reused"
    title = "Idempotency key reused with another request"


class RequestInFlight(Conflict):
    """A request with the same Idempotency-Key is still being processed; retry after it has finished."""

    type_slug = "request-in-flight"
    title = "Request with this key in flight"


class PendingNotOpen(Conflict):
    """The pending transfer was already posted or voided, or its timeout has passed."""

    type_slug = "pending-not-open"
    title = "Pending transfer not open"


class ReversalExceedsOriginal(ValidationFailed):
    type_slug = "reversal-exceeds-original"
    title = "Refund exceeds what is left of the original"


class CardNotFound(NotFound):
    type_slug = "card-not-found"
    title = "Card not found"


class CardNotUsable(Conflict):
    """The card is lost, frozen, replaced or cancelled."""

    type_slug = "card-not-usable"
    title = "Card not usable"


class CardTransitionNotAllowed(Conflict):
    type_slug = "card-transition-not-allowed"
    title = "Card status change not allowed"


class CardInputInvalid(ValidationFailed):
    type_slug = "card-input-invalid"
    title = "Card input invalid"


class MerchantNotFound(NotFound):
    type_slug = "merchant-not-found"
    title = "Merchant not found"


class TapBatchRefused(ValidationFailed):
    """A batch from an unknown or forged terminal, with a bad MAC, or whose number leaves a gap."""

    type_slug = "tap-batch-refused"
    title = "Tap batch refused"


class QrCodeRefused(ValidationFailed):
    """A QR payment code that is malformed, not signed by the platform, expired or already used."""

    type_slug = "qr-code-refused"
    title = "QR code refused"


class BillNotFound(NotFound):
    type_slug = "bill-not-found"
    title = "Bill not found"


class BillNotPayable(Conflict):
    """The bill is already paid or was cancelled."""

    type_slug = "bill-not-payable"
    title = "Bill not payable"


class ReceiptNotFound(NotFound):
    type_slug = "receipt-not-found"
    title = "Receipt not found"


class ClearingRefused(Conflict):
    type_slug = "clearing-refused"
    title = "Clearing refused"


class StatementInvalid(ValidationFailed):
    type_slug = "statement-invalid"
    title = "Statement file invalid"


class CardActionDenied(PermissionDenied):
    pass
