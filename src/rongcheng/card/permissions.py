"""Who may do what with the city card. Services enforce these; templates use them to hide buttons.

Residents act on their own cards (bound by the blind index of their ID number, or opened by their account). Counter
staff holding `card.add_card` issue cards and `card.change_card` change their status; departments holding
`card.add_bill` issue bills in their own department; finance staff holding `card.add_clearingrun` run the clearing
and reconciliation and read the ledger. A merchant's account (a person or a department system's API client) acts for
its merchants only. Channels (banks, online payment) top up and pay bills with `card.add_transfer`.

OAuth scopes of the API (client credentials): `card:pay` for merchants and their terminals (payments, refunds,
offline taps, QR codes), `card:topup` for banks and channels (top-ups, bills paid by channel), `card:bills` for
department systems issuing bills.
"""

from __future__ import annotations

from typing import TypeGuard

from rongcheng.accounts.models import User
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.audit.services import Actor
from rongcheng.card.models import Card, Merchant
from rongcheng.kernel.context import Account

# Who acts on the card's services: a signed-in account, the platform itself (an audit `Actor`: the demo's seeding, a
# job), or nobody (None, refused by every predicate).
Acting = Account | Actor | None

ISSUE_CARD = "card.add_card"
CHANGE_CARD = "card.change_card"
ISSUE_BILL = "card.add_bill"
FINANCE = "card.add_clearingrun"
CHANNEL = "card.add_transfer"

SCOPE_PAY = "card:pay"
SCOPE_TOPUP = "card:topup"
SCOPE_BILLS = "card:bills"
SCOPES = {
    SCOPE_PAY: "City card: merchants' payments and refunds, terminals' offline taps, QR codes",
    SCOPE_TOPUP: "City card: top-ups and bills paid by a bank or an online channel",
    SCOPE_BILLS: "City card: issue government bills (unified payment) for the department",
}


def _active(user: Acting) -> TypeGuard[User]:
    return is_signed_in(user) and bool(user.is_active)


def has(user: Acting, permission: str) -> TypeGuard[User]:
    return _active(user) and bool(user.has_perm(permission))


def owns_card(user: Acting, card: Card) -> bool:
    if not _active(user):
        return False
    if card.owner_id is not None and card.owner_id == user.pk:
        return True
    index = user.id_number_index
    return bool(index and card.holder_index == index)


def may_act_for_merchants(user: Acting) -> TypeGuard[User]:
    """Whether the account can act for a merchant at all (active and signed in); which merchant: its owner."""
    return _active(user)


def acts_for_merchant(user: Acting, merchant: Merchant) -> bool:
    return _active(user) and merchant.owner_id is not None and merchant.owner_id == user.pk


def may_issue_bill(user: Acting, department_id: int) -> bool:
    return _active(user) and user.has_perm(ISSUE_BILL) and user.department_id == department_id
