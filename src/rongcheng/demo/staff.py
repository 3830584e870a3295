"""The demo city's roles and their grants, written through the staff services (idempotent).

Three administrators with one duty each (三员分立): `sysadmin` (系统管理员), `secadmin` (安全管理员) and `auditor`
(审计管理员), each for the whole city; the business roles of the demo officers, each for the officer's own department.
An `admin` superuser left by an older demo is retired: nobody works as a superuser day to day.
"""

from __future__ import annotations

from django.db import transaction

from rongcheng.accounts.models import User
from rongcheng.audit.services import Actor
from rongcheng.oidc.permissions import MANAGE_CLIENT
from rongcheng.operations.permissions import MANAGE_SECURITY_EVENTS, VIEW_OPERATIONS
from rongcheng.staff.models import Duty, Role, RoleAssignment
from rongcheng.staff.permissions import (
    ASSIGN_ROLE,
    MANAGE_STAFF_ACCOUNTS,
    VIEW_AUDIT_TRAIL,
    VIEW_DUTY_OVERVIEW,
    VIEW_ROLE,
    VIEW_STAFF,
)
from rongcheng.staff.services import role_define, role_grant_by_system, staff_superuser_retire

SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")

# name: (duty, city-wide, description, permissions)
ADMINISTRATOR_ROLES: dict[str, tuple[str, bool, str, tuple[str, ...]]] = {
    "系统管理员": (
        Duty.SYSTEM, True, "管理工作人员账号、部门和系统设置；不能授予角色，不能查看审计日志。",
        (MANAGE_STAFF_ACCOUNTS, VIEW_STAFF, VIEW_ROLE, VIEW_DUTY_OVERVIEW, "accounts.add_department",
         "accounts.change_department", "accounts.view_department", VIEW_OPERATIONS),
    ),
    "安全管理员": (
        Duty.SECURITY, True, "管理角色、授权、安全策略和 OpenID Connect 客户端；不能创建账号，不能查看审计日志。",
        (ASSIGN_ROLE, VIEW_STAFF, VIEW_ROLE, VIEW_DUTY_OVERVIEW, "registries.view_fieldentitlement", MANAGE_CLIENT,
         MANAGE_SECURITY_EVENTS),
    ),
    "审计管理员": (
        Duty.AUDIT, True, "查阅和导出审计日志；不能管理账号，不能授予角色。",
        (VIEW_AUDIT_TRAIL, VIEW_ROLE, VIEW_DUTY_OVERVIEW),
    ),
}  # fmt: skip
BUSINESS_DESCRIPTIONS = {
    "窗口工作人员": "政务服务中心窗口：查看人口和法人信息（脱敏）。",
    "户籍民警": "公安户籍：查看、登记和更正人口信息，为公安用途查看明文。",
    "审批人员": "部门审批：受理、审查和决定本部门事项的申请，签发本部门的电子证照。",
}
# The officer who decides each department's applications in the hall (username, department code).
DEPARTMENT_OFFICERS = (
    ("market", "FZ-GSJ"), ("civil", "FZ-MZJ"), ("labour", "FZ-RSJ"), ("fund", "FZ-GJJ"), ("health", "FZ-WJW"),
    ("urban", "FZ-CGW"), ("tourism", "FZ-LYJ"),
)  # fmt: skip
# username: (role, department code of the grant; None for the whole city)
DEMO_GRANTS: dict[str, tuple[str, str | None]] = {
    "sysadmin": ("系统管理员", None),
    "secadmin": ("安全管理员", None),
    "auditor": ("审计管理员", None),
    "officer": ("窗口工作人员", "FZ-FWZX"),
    "police": ("户籍民警", "FZ-GAJ"),
    **{username: ("审批人员", code) for username, code in DEPARTMENT_OFFICERS},
}


def _rights(role_name: str) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in Role.objects.filter(group__name=role_name).values_list(
            "group__permissions__content_type__app_label", "group__permissions__codename"
        )
        if codename
    }


def demo_staff_seed(*, business_roles: dict[str, tuple[str, ...]]) -> int:
    """Define the roles that are missing and make the grants that are missing; returns the grants made.
    `business_roles` maps the demo's business roles to their registry permission codenames."""
    specs = dict(ADMINISTRATOR_ROLES)
    for name, codenames in business_roles.items():
        if name not in specs:
            permissions = tuple(f"registries.{codename}" for codename in codenames)
            specs[name] = (Duty.BUSINESS, False, BUSINESS_DESCRIPTIONS.get(name, ""), permissions)
    defined = set(Role.objects.values_list("group__name", flat=True))
    for name, (duty, city_wide, description, permissions) in specs.items():
        # A role an older demo defined with other rights (the security administrator once lacked the OpenID Connect
        # clients) is redefined; one that matches is left alone, so seeding twice writes nothing.
        if name not in defined or (name in ADMINISTRATOR_ROLES and _rights(name) != set(permissions)):
            role_define(
                name=name, duty=duty, description=description, permissions=permissions, city_wide=city_wide,
                actor=SYSTEM,
            )  # fmt: skip
    for user_id in User.objects.filter(username="admin", is_superuser=True).values_list("pk", flat=True):
        staff_superuser_retire(user_id=user_id, actor=SYSTEM)
    granted = 0
    for username, (role_name, department_code) in DEMO_GRANTS.items():
        user = User.objects.select_related("department").filter(username=username).first()
        role = Role.objects.select_related("group").filter(group__name=role_name).first()
        if user is None or role is None:
            continue
        department = user.department if department_code else None
        if department_code and (department is None or department.code != department_code):
            continue
        if RoleAssignment.objects.filter(user=user, role=role, revoked_at__isnull=True).exists():
            continue
        with transaction.atomic():
            role_grant_by_system(user=user, role=role, department=department, actor=SYSTEM)
        granted += 1
    return granted
