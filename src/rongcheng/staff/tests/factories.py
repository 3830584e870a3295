"""Staff test data built through the services: roles by `role_define`, grants by the services, accounts by
`staff_account_create` once a system administrator exists."""

from __future__ import annotations

import itertools
from typing import Any

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.staff.models import Duty, Role
from rongcheng.staff.permissions import (
    ASSIGN_ROLE,
    MANAGE_STAFF_ACCOUNTS,
    VIEW_AUDIT_TRAIL,
    VIEW_DUTY_OVERVIEW,
    VIEW_ROLE,
    VIEW_STAFF,
)
from rongcheng.staff.services import role_define, role_grant_by_system, staff_account_create

SYSTEM = Actor(kind="system", id="tests", label="test setup")
PASSWORD = "Rc-test-2017!"
_sequence = itertools.count(1)


def department(code: str = "FZ-GAJ", name: str = "福州市公安局") -> Department:
    return Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": name[:6]})[0]


def other_department() -> Department:
    return department("FZ-FWZX", "福州市行政服务中心")


def _defined(name: str) -> Role | None:
    return Role.objects.select_related("group").filter(group__name=name).first()


def system_role() -> Role:
    return _defined("系统管理员") or role_define(
        name="系统管理员", duty=Duty.SYSTEM, description="accounts", city_wide=True, actor=SYSTEM,
        permissions=(MANAGE_STAFF_ACCOUNTS, VIEW_STAFF, VIEW_ROLE, VIEW_DUTY_OVERVIEW),
    )  # fmt: skip


def security_role() -> Role:
    return _defined("安全管理员") or role_define(
        name="安全管理员", duty=Duty.SECURITY, description="roles", city_wide=True, actor=SYSTEM,
        permissions=(ASSIGN_ROLE, VIEW_STAFF, VIEW_ROLE, VIEW_DUTY_OVERVIEW),
    )  # fmt: skip


def audit_role() -> Role:
    return _defined("审计管理员") or role_define(
        name="审计管理员", duty=Duty.AUDIT, description="trail", city_wide=True, actor=SYSTEM,
        permissions=(VIEW_AUDIT_TRAIL, VIEW_ROLE, VIEW_DUTY_OVERVIEW),
    )  # fmt: skip


def police_role() -> Role:
    return _defined("户籍民警") or role_define(
        name="户籍民警", duty=Duty.BUSINESS, description="registry", city_wide=False, actor=SYSTEM,
        permissions=("registries.view_person", "registries.change_person"),
    )  # fmt: skip


def bare_staff(username: str | None = None, *, dept: Department | None = None, **fields: Any) -> User:
    """A staff account without any role (the state right after `staff_account_create`)."""
    return User.objects.create_user(
        username=username or f"staff{next(_sequence)}", password=PASSWORD, kind=AccountKind.STAFF,
        department=dept or department(), is_staff=True, **fields,
    )  # fmt: skip


def administrator(duty: str, username: str | None = None, *, dept: Department | None = None) -> User:
    """An administrator of one duty, granted for the whole city by the installation path."""
    role = {Duty.SYSTEM: system_role, Duty.SECURITY: security_role, Duty.AUDIT: audit_role}[Duty(duty)]()
    user = bare_staff(username or f"{duty}admin", dept=dept or department("FZ-SZB", "福州市数字福州建设领导小组办公室"))
    role_grant_by_system(user=user, role=role, department=None, actor=SYSTEM)
    return user


def created_staff(by: User, username: str, *, dept: Department | None = None) -> User:
    user, _ = staff_account_create(
        username=username, display_name="林工", department_id=(dept or department()).pk, actor=by
    )
    return user


def resident(username: str = "resident") -> User:
    return User.objects.create_user(username=username, password=PASSWORD, kind=AccountKind.RESIDENT)
