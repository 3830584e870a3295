"""Demo city card: the card company, four merchants (bus, metro, meter parking, a shop) and a bus terminal (the bus
operator and the shop act through sign-in accounts, `busop` and `shop`, who see their transactions and settlements
on /card/merchant/; metro and parking through their systems' accounts), an online payment channel, the demo
resident's card with a balance and a history (top-up, bus and metro rides with the transfer discount, parking, two
purchases at the shop, a paid government bill with its signed receipt, offline taps from yesterday), and yesterday
cleared by the finance officer (`finance`). All through the card's services. Idempotent: once the resident has a
card, a second run adds nothing."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import Permission
from django.utils import timezone

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.card import services
from rongcheng.card.models import Card
from rongcheng.staff.models import Role, RoleAssignment
from rongcheng.staff.services import role_define, role_grant_by_system

SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")
EXTRA_DEPARTMENTS = (("FZ-SMK", "福州市民卡股份有限公司", "市民卡公司"),)
FINANCE_ROLE = "市民卡清算员"
MERCHANTS = (
    ("FZ-BUS", "福州公交集团", "bus", 60),
    ("FZ-METRO", "福州地铁", "metro", 60),
    ("FZ-PARK", "福州路内停车", "parking", 100),
    ("FZ-SHOP-0001", "榕城便利店（东街口店）", "shop", 50),
)
# The merchants whose demo sign-in account (demo.services.DEMO_ACCOUNTS) acts for them; the others act through a
# system account of their own.
SIGN_IN_OWNERS = {"FZ-BUS": "busop", "FZ-SHOP-0001": "shop"}


def _system_account(username: str, display: str, *codenames: str, department: Department | None = None) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"kind": AccountKind.API_CLIENT, "display_name": display, "department": department},
    )
    if created:
        user.set_unusable_password()
        user.save()
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="card", codename__in=codenames))
    return User.objects.get(pk=user.pk)


def _finance_role() -> None:
    officer = User.objects.filter(username="finance").select_related("department").first()
    if officer is None:
        return
    role = Role.objects.filter(group__name=FINANCE_ROLE).first()
    if role is None:
        role = role_define(
            name=FINANCE_ROLE, duty="business", description="清分结算与对账", city_wide=False, actor=SYSTEM,
            permissions=("card.add_clearingrun", "card.view_transfer"),
        )  # fmt: skip
    if not RoleAssignment.objects.filter(user=officer, role=role, revoked_at__isnull=True).exists():
        role_grant_by_system(user=officer, role=role, department=officer.department, actor=SYSTEM)


def demo_card_seed() -> None:
    _finance_role()
    resident = User.objects.filter(username="resident", kind=AccountKind.RESIDENT).first()
    if resident is None or not resident.id_number_index:
        return
    if Card.objects.filter(holder_index=resident.id_number_index).exists():
        return
    owners = {
        code: User.objects.filter(username=SIGN_IN_OWNERS.get(code, "")).first()
        or _system_account(f"card-{code.lower()}", name, "add_tap")
        for code, name, _k, _f in MERCHANTS
    }
    for code, name, kind, fee in MERCHANTS:
        services.merchant_register(code=code, name=name, kind=kind, fee_rate=fee, owner=owners[code], actor=SYSTEM)
    channel = _system_account("card-channel", "线上支付渠道", "add_transfer")
    card = services.card_issue(actor=SYSTEM, holder_index=resident.id_number_index, owner=resident)
    now = timezone.now()
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    morning = dt.datetime.combine(yesterday, dt.time(8, 5), tzinfo=services.CITY_ZONE)
    services.card_top_up(number=card.number, amount=10_000, channel="online", actor=channel, key="demo-topup-1",
                         reference="DEMO-ONLINE-0001")  # fmt: skip
    bus, metro, park = owners["FZ-BUS"], owners["FZ-METRO"], owners["FZ-PARK"]
    terminal, key = services.terminal_register(merchant=services.merchant_for("FZ-BUS"), code="BUS-1-001", actor=SYSTEM)
    taps = [
        {"card": card.number, "counter": 1, "amount": 200, "at": morning.isoformat()},
        {"card": card.number, "counter": 2, "amount": 200, "at": (morning + dt.timedelta(hours=9)).isoformat()},
    ]
    services.tap_batch_upload(terminal_code=terminal.code, batch_number=1, taps=taps, actor=bus,
                              mac=services.tap_batch_mac(key, terminal.code, 1, taps))  # fmt: skip
    services.card_pay(number=card.number, merchant_code="FZ-METRO", actor=metro, key="demo-metro-1", base_fare=300,
                      at=morning + dt.timedelta(minutes=40))  # fmt: skip
    services.card_pay(number=card.number, merchant_code="FZ-BUS", actor=bus, key="demo-bus-1", base_fare=200,
                      at=now - dt.timedelta(hours=1))  # fmt: skip
    services.card_pay(number=card.number, merchant_code="FZ-PARK", actor=park, key="demo-park-1", minutes=75,
                      at=now - dt.timedelta(minutes=30))  # fmt: skip
    shop = owners["FZ-SHOP-0001"]
    services.card_pay(number=card.number, merchant_code="FZ-SHOP-0001", actor=shop, key="demo-shop-1", amount=850,
                      at=morning + dt.timedelta(minutes=20), memo="早餐")  # fmt: skip
    services.card_pay(number=card.number, merchant_code="FZ-SHOP-0001", actor=shop, key="demo-shop-2", amount=350,
                      at=now - dt.timedelta(minutes=10), memo="饮料")  # fmt: skip
    police = Department.objects.filter(code="FZ-GAJ").first()
    if police is not None:
        bill = services.bill_issue(department_id=police.pk, item="居民身份证工本费", payer_name="市民", amount=2000,
                                   actor=SYSTEM, reference="DEMO-FEE-1",
                                   payer_index=resident.id_number_index)  # fmt: skip
        services.bill_pay_by_card(payment_code=bill.payment_code, number=card.number, user=resident, key="demo-bill-1")
        # left unpaid for the story: the resident pays it with the card on /card/ and gets the signed receipt. The
        # first residence permit is free (《居住证暂行条例》第十八条), so the bill is for a replacement.
        services.bill_issue(department_id=police.pk, item="居住证补领工本费", payer_name="市民", amount=2000,
                            actor=SYSTEM, reference="DEMO-FEE-2", payer_index=resident.id_number_index)  # fmt: skip
    services.clearing_run(business_date=yesterday, actor=SYSTEM)
