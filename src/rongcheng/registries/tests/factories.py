"""Registry test data built through the services (valid ID numbers with real check digits)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.contrib.auth.models import Group, Permission

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.kernel.identifiers import credit_code_make, id_number_make
from rongcheng.registries.models import FieldEntitlement, LegalEntity, Person
from rongcheng.registries.services import legal_entity_register, person_register

SYSTEM = Actor(kind="system", id="tests", label="test setup")
_sequence = itertools.count(1)


def make_id_number(
    *, division: str = "350102", birth: dt.date = dt.date(1985, 3, 12), sequence: int | None = None
) -> str:
    return id_number_make(
        division_code=division, birth_date=birth, sequence=next(_sequence) % 1000 if sequence is None else sequence
    )


def make_person(**fields: Any) -> Person:
    data = {"id_number": make_id_number(), "name": "林则徐", "phone": "13812345678", "ethnicity": "01",
            "address": "福州市鼓楼区三坊七巷1号"}  # fmt: skip
    data.update(fields)
    return person_register(data=data, actor=SYSTEM)


def make_credit_code(*, division: str = "350102") -> str:
    serial = next(_sequence)
    body = "MA" + f"{serial:06d}"
    return credit_code_make(registration_department="9", category="1", division_code=division, organization_body=body)


def make_entity(**fields: Any) -> LegalEntity:
    data = {"credit_code": make_credit_code(), "name": "福州榕城科技有限公司", "established_on": dt.date(2010, 5, 1)}
    data.update(fields)
    return legal_entity_register(data=data, actor=SYSTEM)


def department() -> Department:
    return Department.objects.get_or_create(code="FZ-GAJ", defaults={"name": "福州市公安局", "short_name": "市公安局"})[
        0
    ]


def staff(username: str = "officer", *, can_read: bool = True, role: Group | None = None) -> User:
    user = User.objects.create_user(
        username=username, password="Rc-test-2017!", kind=AccountKind.STAFF, department=department(), is_staff=True
    )
    if can_read:
        user.user_permissions.add(
            Permission.objects.get(codename="view_person"), Permission.objects.get(codename="view_legalentity")
        )
    if role is not None:
        user.groups.add(role)
    return user


def api_client(username: str = "gaj-system", *, can_read: bool = True) -> User:
    user = User.objects.create_user(username=username, kind=AccountKind.API_CLIENT)
    if can_read:
        user.user_permissions.add(
            Permission.objects.get(codename="view_person"), Permission.objects.get(codename="view_legalentity")
        )
    return user


def resident(username: str = "resident", *, person: Person | None = None) -> User:
    user = User.objects.create_user(username=username, password="Rc-test-2017!", kind=AccountKind.RESIDENT)
    if person is not None:
        user.id_number_index = person.id_number_index
        user.save(update_fields=["id_number_index"])
    return user


def entitle(*, role: Group | None = None, client: User | None = None, fields: tuple[str, ...], purpose: str) -> None:
    for field in fields:
        FieldEntitlement.objects.create(
            registry="persons", field=field, purpose=purpose, role=role, client=client, granted_by="tests"
        )
