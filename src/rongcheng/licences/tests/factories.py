"""Licence test data built through the services: departments with credit codes and keys, types, licences."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.kernel.identifiers import credit_code_make
from rongcheng.licences.keys import department_key_rotate
from rongcheng.licences.models import Licence, LicenceType
from rongcheng.licences.services import licence_issue, licence_type_define
from rongcheng.registries.tests.factories import SYSTEM, make_entity, make_person, resident

MARRIAGE_SCHEMA = [
    {"name": "spouse_name", "label": "配偶姓名", "type": "string", "required": True, "personal": True},
    {"name": "registered_on", "label": "登记日期", "type": "date", "required": True, "public": True},
    {
        "name": "certificate_kind",
        "label": "证书类别",
        "type": "enum",
        "required": True,
        "choices": ["结婚证", "离婚证"],
        "public": True,
    },
    {"name": "copies", "label": "份数", "type": "integer", "required": False},
    {"name": "reissued", "label": "补发", "type": "boolean", "required": False},
]
FOOD_SCHEMA = [
    {"name": "business_scope", "label": "经营项目", "type": "string", "required": True, "public": True},
    {"name": "premises", "label": "经营场所", "type": "string", "required": True, "public": True},
]
MARRIAGE_TYPE_CODE = "11100000000013338W050"
FOOD_TYPE_CODE = "11100000000013338W051"


def department(code: str = "FZ-MZJ", name: str = "福州市民政局", serial: int = 1) -> Department:
    credit_code = credit_code_make(
        registration_department="1", category="1", division_code="350100", organization_body=f"00{serial:06d}"
    )
    return Department.objects.get_or_create(
        code=code, defaults={"name": name, "short_name": name[2:], "credit_code": credit_code}
    )[0]


def with_key(dept: Department, **kwargs: Any) -> Department:
    department_key_rotate(department=dept, actor=SYSTEM, **kwargs)
    return dept


def marriage_type(dept: Department | None = None) -> LicenceType:
    dept = dept or department()
    return licence_type_define(
        code=MARRIAGE_TYPE_CODE, name="结婚证", department_id=dept.pk, holder_kind="person",
        face_schema=MARRIAGE_SCHEMA, validity_years=None, actor=SYSTEM,
    )  # fmt: skip


def food_type(dept: Department) -> LicenceType:
    return licence_type_define(
        code=FOOD_TYPE_CODE, name="食品经营许可证", department_id=dept.pk, holder_kind="entity",
        face_schema=FOOD_SCHEMA, validity_years=5, actor=SYSTEM,
    )  # fmt: skip


def officer(dept: Department, username: str = "clerk", *, perms: tuple[str, ...] = ("add_licence", "change_licence",
            "view_licence"), kind: str = AccountKind.STAFF) -> User:  # fmt: skip
    user = User.objects.create_user(
        username=username, password="Rc-test-2017!", kind=kind, department=dept, is_staff=kind == AccountKind.STAFF
    )
    if perms:
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="licences", codename__in=perms))
    return User.objects.get(pk=user.pk)  # fresh permission cache


MARRIAGE_FACE = {"spouse_name": "沈葆桢", "registered_on": "2016-10-01", "certificate_kind": "结婚证", "copies": 2}


def issue_marriage(actor: User, person=None, **kwargs: Any) -> Licence:
    licence_type = LicenceType.objects.get(code=MARRIAGE_TYPE_CODE)
    return licence_issue(
        licence_type=licence_type, holder=person or make_person(), face=kwargs.pop("face", MARRIAGE_FACE),
        actor=actor, **kwargs,
    )  # fmt: skip


__all__ = ["SYSTEM", "dt", "make_entity", "make_person", "resident"]
