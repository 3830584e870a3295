"""Who may do what, and where: permissions derived from active role assignments, scoped to departments.

An assignment of a role for department D gives the role's permissions for D's business only; an assignment for the
whole city (department None, city-wide roles only) gives them everywhere. Permissions granted the older way, directly
to an account or through a group that is not a `Role`, count for the account's own department (everywhere for an
account without one, such as an API client). `user.has_perm(p)` answers "anywhere"; `has_perm_in_department(user,
p, d)` answers "for d".

Each account's grants are kept in the process cache for PERMISSION_CACHE_SECONDS and dropped when an assignment of
the account changes (on commit), so a revoked role stops working at once in this process and within the cache
lifetime in the others.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection, transaction

from rongcheng.accounts.models import Department, User
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.kernel.context import Account
from rongcheng.staff.models import Duty, RoleAssignment

PERMISSION_CACHE_SECONDS = 60
_CACHE_KEY = "staff.grants.{}"
# rongcheng.accounts.api_auth keeps each account's permission set for API calls under this key.
_API_CACHE_KEY = "accounts.permissions.{}"

MANAGE_STAFF_ACCOUNTS = "staff.manage_staff_accounts"
ASSIGN_ROLE = "staff.assign_role"
VIEW_ROLE = "staff.view_role"
VIEW_STAFF = "accounts.view_user"
VIEW_DUTY_OVERVIEW = "staff.view_duty_overview"
VIEW_AUDIT_TRAIL = "audit.view_auditrecord"

# The rights that make an administrator, each belonging to exactly one duty. A role of one duty carries none of
# another's; a business role carries none of them. Holding two duties is what 三员分立 forbids.
DUTY_PERMISSIONS: dict[str, frozenset[str]] = {
    Duty.SYSTEM: frozenset(
        {
            MANAGE_STAFF_ACCOUNTS,
            "accounts.add_user",
            "accounts.change_user",
            "accounts.delete_user",
            "accounts.add_department",
            "accounts.change_department",
            "accounts.delete_department",
        }
    ),
    Duty.SECURITY: frozenset(
        {
            ASSIGN_ROLE,
            "staff.add_role",
            "staff.change_role",
            "staff.delete_role",
            "staff.add_roleassignment",
            "staff.change_roleassignment",
            "staff.delete_roleassignment",
            "auth.add_group",
            "auth.change_group",
            "auth.delete_group",
            "auth.add_permission",
            "auth.change_permission",
            "auth.delete_permission",
            "registries.add_fieldentitlement",
            "registries.change_fieldentitlement",
            "registries.delete_fieldentitlement",
            "oidc.manage_client",  # which systems may sign people in is a security decision (README, ADR 0008)
            "operations.manage_securityevent",  # acknowledging and closing security events (rongcheng.operations)
        }
    ),
    Duty.AUDIT: frozenset({VIEW_AUDIT_TRAIL}),
}
ADMINISTRATOR_PERMISSIONS: dict[str, str] = {p: duty for duty, perms in DUTY_PERMISSIONS.items() for p in perms}


@dataclass(frozen=True)
class Grants:
    """An account's permissions: those valid everywhere, and those valid in one department (by id)."""

    city: frozenset[str] = frozenset()
    departments: dict[int, frozenset[str]] = field(default_factory=dict)

    def everywhere(self) -> frozenset[str]:
        return self.city.union(*self.departments.values())

    def in_department(self, department_id: int | None) -> frozenset[str]:
        if department_id is None:
            return self.city
        return self.city | self.departments.get(department_id, frozenset())


def _name(app_label: str, codename: str) -> str:
    return f"{app_label}.{codename}"


_GRANTS_SQL = """
SELECT 0, CAST(NULL AS BIGINT), ct.{app_label}, p.{codename} FROM {permission} p
  JOIN {content_type} ct ON ct.id = p.{content_type_id}
  JOIN {own} o ON o.{own_permission} = p.id WHERE o.{own_user} = %s
UNION ALL
SELECT 0, CAST(NULL AS BIGINT), ct.{app_label}, p.{codename} FROM {permission} p
  JOIN {content_type} ct ON ct.id = p.{content_type_id}
  JOIN {granted} g ON g.{granted_permission} = p.id JOIN {member} m ON m.{member_group} = g.{granted_group}
  LEFT JOIN {role} r ON r.{role_group} = m.{member_group} WHERE m.{member_user} = %s AND r.id IS NULL
UNION ALL
SELECT 1, a.{department}, ct.{app_label}, p.{codename} FROM {permission} p
  JOIN {content_type} ct ON ct.id = p.{content_type_id} JOIN {granted} g ON g.{granted_permission} = p.id
  JOIN {role} r ON r.{role_group} = g.{granted_group} JOIN {assignment} a ON a.{assignment_role} = r.id
  WHERE a.{assignment_user} = %s AND a.{revoked_at} IS NULL
"""


@functools.cache
def _grants_sql() -> str:
    """One statement for an account's three sources of permissions: its own, its groups that are not roles, and its
    active assignments. Names come from the models, quoted; the only parameters are the account id, bound. The ORM
    would compile three joined querysets on every cold check (bench/staff_permissions.py)."""
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    from rongcheng.staff.models import Role

    own, member = User.user_permissions.through._meta, User.groups.through._meta
    granted = Group.permissions.through._meta

    def column(meta: Any, name: str) -> str:
        return str(meta.get_field(name).column)

    names = {
        "permission": Permission._meta.db_table, "content_type": ContentType._meta.db_table,
        "app_label": "app_label", "codename": "codename", "content_type_id": "content_type_id",
        "own": own.db_table, "own_permission": column(own, "permission"), "own_user": column(own, "user"),
        "member": member.db_table, "member_group": column(member, "group"), "member_user": column(member, "user"),
        "granted": granted.db_table, "granted_group": column(granted, "group"),
        "granted_permission": column(granted, "permission"),
        "role": Role._meta.db_table, "role_group": column(Role._meta, "group"),
        "assignment": RoleAssignment._meta.db_table, "department": column(RoleAssignment._meta, "department"),
        "assignment_role": column(RoleAssignment._meta, "role"),
        "assignment_user": column(RoleAssignment._meta, "user"),
        "revoked_at": column(RoleAssignment._meta, "revoked_at"),
    }  # fmt: skip
    return _GRANTS_SQL.format(**{key: connection.ops.quote_name(value) for key, value in names.items()})


def grants_load(user: User) -> Grants:
    """One query: the account's own and legacy-group permissions (for its own department), and its active
    assignments' permissions (for their department, or everywhere)."""
    if user.is_superuser:
        every = frozenset(_name(a, c) for a, c in Permission.objects.values_list("content_type__app_label", "codename"))
        return Grants(city=every)
    city: set[str] = set()
    departments: dict[int, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_grants_sql(), [user.pk, user.pk, user.pk])
        rows = cursor.fetchall()
    for from_assignment, department_id, app_label, codename in rows:
        if not from_assignment:
            department_id = user.department_id
        target = city if department_id is None else departments.setdefault(department_id, set())
        target.add(_name(app_label, codename))
    return Grants(city=frozenset(city), departments={k: frozenset(v) for k, v in departments.items()})


def grants_for(user: User) -> Grants:
    """The account's grants: memoised on the user object for the request, cached in the process cache briefly."""
    memo: Grants | None = getattr(user, "_staff_grants", None)
    if memo is not None:
        return memo
    key = _CACHE_KEY.format(user.pk)
    grants: Grants | None = cache.get(key)
    if grants is None:
        grants = grants_load(user)
        cache.set(key, grants, PERMISSION_CACHE_SECONDS)
    user.__setattr__("_staff_grants", grants)  # an attribute User does not declare; through request.user's wrapper
    return grants


def grants_invalidate(*user_ids: int) -> None:
    """Drop the cached grants now and again after commit (a concurrent reader may cache the old rows meanwhile)."""
    keys = [k for pk in user_ids for k in (_CACHE_KEY.format(pk), _API_CACHE_KEY.format(pk))]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def has_perm_in_department(user: Account | None, perm: str, department: Department | int | None) -> bool:
    """Whether the account may use `perm` for the business of `department` (None: for the whole city)."""
    if not is_signed_in(user) or not user.is_active:
        return False
    department_id = department.pk if isinstance(department, Department) else department
    return perm in grants_for(user).in_department(department_id)


def role_permissions_check(duty: str, permissions: Iterable[str]) -> list[str]:
    """The permissions a role of `duty` may not carry: another duty's administrator rights."""
    return sorted(p for p in permissions if ADMINISTRATOR_PERMISSIONS.get(p, duty) != duty)


def may_manage_staff(user: Account) -> bool:
    return bool(user.has_perm(MANAGE_STAFF_ACCOUNTS))


def may_assign_roles(user: Account) -> bool:
    return bool(user.has_perm(ASSIGN_ROLE))


def may_view_staff(user: Account) -> bool:
    """The staff list serves the system administrator (accounts) and the security administrator (assignments)."""
    return bool(user.has_perm(VIEW_STAFF))


def departments_with(user: Account, perm: str) -> list[int] | None:
    """The departments where the account holds `perm`; None when it holds it for the whole city."""
    if not is_signed_in(user):
        return []
    grants = grants_for(user)
    if perm in grants.city:
        return None
    return sorted(pk for pk, perms in grants.departments.items() if perm in perms)
