"""Card test data built through the services: accounts with the card's permissions, cards, merchants."""

from __future__ import annotations

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.card import services
from rongcheng.card.models import Card, LedgerAccount, Merchant

SYSTEM = Actor.system("card tests")


def account(username: str, *perms: str, kind: str = AccountKind.STAFF, department: Department | None = None) -> User:
    if department is None and kind == AccountKind.STAFF:
        department = Department.objects.get_or_create(code="FZ-SMK", defaults={"name": "福州市民卡公司"})[0]
    user = User.objects.create_user(
        username=username, password=None, kind=kind, department=department, is_staff=kind == AccountKind.STAFF
    )
    if perms:
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="card", codename__in=perms))
    return User.objects.get(pk=user.pk)


def merchant(code: str = "BUS1", kind: str = "bus", *, owner: User | None = None, fee_rate: int = 0) -> Merchant:
    owner = owner or account(f"m-{code.lower()}", kind=AccountKind.API_CLIENT)
    return services.merchant_register(code=code, name=f"商户{code}", kind=kind, fee_rate=fee_rate, owner=owner,
                                      actor=SYSTEM)  # fmt: skip


def card_with(balance: int = 0, *, owner: User | None = None, card_type: str = "ordinary", holder: str = "") -> Card:
    card = services.card_issue(actor=SYSTEM, card_type=card_type, owner=owner, holder_index=holder)
    if balance:
        channel = account(f"chan-{card.number}", "add_transfer", kind=AccountKind.API_CLIENT)
        services.card_top_up(number=card.number, amount=balance, channel="bank", actor=channel, key=f"t-{card.number}")
    return Card.objects.select_related("purse").get(pk=card.pk)


def balance(card_or_account: Card | LedgerAccount | str) -> int:
    if isinstance(card_or_account, Card):
        return LedgerAccount.objects.get(pk=card_or_account.purse_id).balance
    if isinstance(card_or_account, str):
        return LedgerAccount.objects.get(code=card_or_account).balance
    return LedgerAccount.objects.get(pk=card_or_account.pk).balance


def ledger_snapshot() -> dict[str, tuple[int, int, int]]:
    return {a.code: (a.balance, a.pending_debits, a.pending_credits) for a in LedgerAccount.objects.all()}
