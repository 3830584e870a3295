"""Identity test data, built through the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.services import resident_register, step_up_confirm, step_up_start, totp_provision
from rongcheng.identity.sms import outbox_read
from rongcheng.registries.models import Person
from rongcheng.registries.tests.factories import make_id_number, make_person

SYSTEM = Actor(kind="system", id="tests", label="test setup")
PASSWORD = "Rc-test-2017!"


def department() -> Department:
    return Department.objects.get_or_create(code="FZ-SZB", defaults={"name": "福州市数字办", "short_name": "市数字办"})[
        0
    ]


def staff(
    username: str = "officer", *, with_totp: bool = True, perms: tuple[str, ...] = (), **fields: Any
) -> tuple[User, bytes]:
    user = User.objects.create_user(
        username=username, password=PASSWORD, kind=AccountKind.STAFF, department=department(), is_staff=True, **fields
    )
    if perms:
        user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    secret = totp_provision(user=user, actor=SYSTEM) if with_totp else b""
    return user, secret


def current_code(secret: bytes, *, offset: int = 0) -> str:
    return totp.totp(secret, clock.now() + dt.timedelta(seconds=30 * offset))


def resident(username: str = "resident", *, id_number: str | None = None, name: str = "林则徐",
             phone: str = "13812345678") -> User:  # fmt: skip
    return resident_register(
        username=username, password=PASSWORD, name=name, id_number=id_number or make_id_number(), phone=phone,
    )  # fmt: skip


def last_code() -> str:
    return str(outbox_read()[-1]["text"]).split("验证码 ")[1][:6]


def verified_resident(
    username: str = "resident", *, person: Person | None = None, phone: str = "13812345678"
) -> tuple[User, Person]:
    """A resident raised to L2 through the step-up services (registry match and SMS code)."""
    person = person or make_person(id_number=make_id_number(), name="林则徐", phone=phone)
    id_number = _clear_id_number(person)
    user = resident(username, id_number=id_number, phone=phone)
    step_up_start(user=user, name=person.name, id_number=id_number, phone=phone)
    step_up_confirm(user=user, code=last_code())
    clock.advance(dt.timedelta(seconds=61))  # past the resend interval of the phone
    user.refresh_from_db()
    return user, person


def _clear_id_number(person: Person) -> str:
    from rongcheng.registries.protection import reveal

    return reveal("person.id_number", person.id_number_cipher)
