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

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from rongcheng.accounts.models import Department
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


def grants_load(user: Any) -> Grants:
    """Two queries: the account's own and legacy-group permissions, then its active assignments' permissions."""
    if user.is_superuser:
        every = frozenset(_name(a, c) for a, c in Permission.objects.values_list("content_type__app_label", "codename"))
        return Grants(city=every)
    legacy = frozenset(
        _name(a, c)
        for a, c in Permission.objects.filter(Q(user=user) | Q(group__user=user, group__staff_role__isnull=True))
        .values_list("content_type__app_label", "codename")
        .distinct()
    )
    city: set[str] = set()
    departments: dict[int, set[str]] = {}
    if user.department_id is None:
        city |= legacy
    else:
        departments[user.department_id] = set(legacy)
    rows = RoleAssignment.objects.filter(
        user_id=user.pk, revoked_at__isnull=True, role__group__permissions__isnull=False
    ).values_list(
        "department_id", "role__group__permissions__content_type__app_label", "role__group__permissions__codename"
    )
    for department_id, app_label, codename in rows:
        target = city if department_id is None else departments.setdefault(department_id, set())
        target.add(_name(app_label, codename))
    return Grants(city=frozenset(city), departments={k: frozenset(v) for k, v in departments.items()})


def grants_for(user: Any) -> Grants:
    """The account's grants: memoised on the user object for the request, cached in the process cache briefly."""
    memo: Grants | None = getattr(user, "_staff_grants", None)
    if memo is not None:
        return memo
    key = _CACHE_KEY.format(user.pk)
    grants: Grants | None = cache.get(key)
    if grants is None:
        grants = grants_load(user)
        cache.set(key, grants, PERMISSION_CACHE_SECONDS)
    user._staff_grants = grants
    return grants


def grants_invalidate(*user_ids: int) -> None:
    """Drop the cached grants now and again after commit (a concurrent reader may cache the old rows meanwhile)."""
    keys = [k for pk in user_ids for k in (_CACHE_KEY.format(pk), _API_CACHE_KEY.format(pk))]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def has_perm_in_department(user: Any, perm: str, department: Department | int | None) -> bool:
    """Whether the account may use `perm` for the business of `department` (None: for the whole city)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    department_id = department.pk if isinstance(department, Department) else department
    return perm in grants_for(user).in_department(department_id)


def role_permissions_check(duty: str, permissions: Iterable[str]) -> list[str]:
    """The permissions a role of `duty` may not carry: another duty's administrator rights."""
    return sorted(p for p in permissions if ADMINISTRATOR_PERMISSIONS.get(p, duty) != duty)


def may_manage_staff(user: Any) -> bool:
    return bool(user.has_perm(MANAGE_STAFF_ACCOUNTS))


def may_assign_roles(user: Any) -> bool:
    return bool(user.has_perm(ASSIGN_ROLE))


def may_view_staff(user: Any) -> bool:
    """The staff list serves the system administrator (accounts) and the security administrator (assignments)."""
    return bool(user.has_perm(VIEW_STAFF))


def departments_with(user: Any, perm: str) -> list[int] | None:
    """The departments where the account holds `perm`; None when it holds it for the whole city."""
    grants = grants_for(user)
    if perm in grants.city:
        return None
    return sorted(pk for pk, perms in grants.departments.items() if perm in perms)
