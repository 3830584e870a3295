"""Reading staff accounts, roles and the state of the administrator duties."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.db.models import Prefetch, Q, QuerySet

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.services import actor_from_user, audit_record
from rongcheng.kernel.context import current_address
from rongcheng.kernel.pagination import Page, paginate
from rongcheng.staff.errors import RoleNotFound, StaffAccountNotFound, StaffActionDenied
from rongcheng.staff.models import ADMINISTRATOR_DUTIES, Role, RoleAssignment
from rongcheng.staff.permissions import (
    ADMINISTRATOR_PERMISSIONS,
    VIEW_STAFF,
    departments_with,
    has_perm_in_department,
    may_view_staff,
    role_permissions_check,
)


def _active_assignments() -> QuerySet[RoleAssignment]:
    return RoleAssignment.objects.filter(revoked_at__isnull=True).select_related("role__group", "department")


def staff_list(
    *,
    viewer: User,
    department_id: int | None = None,
    query: str = "",
    cursor: str | None = None,
    limit: int = 20,
) -> Page[User]:
    """Staff accounts by id, of the departments where the viewer may see staff, with their department and active
    assignments (two queries for any page size, and the audit record of the read)."""
    if not may_view_staff(viewer):
        audit_record(
            action="staff.account.list",
            actor=actor_from_user(viewer),
            outcome="denied",
            target_type="accounts.user",
            source_address=current_address(),
        )
        raise StaffActionDenied(f"This account lacks the permission {VIEW_STAFF}.", permission=VIEW_STAFF)
    accounts = User.objects.filter(kind=AccountKind.STAFF).select_related("department")
    visible = departments_with(viewer, VIEW_STAFF)
    if visible is not None:
        accounts = accounts.filter(department_id__in=visible)
    if department_id is not None:
        accounts = accounts.filter(department_id=department_id)
    query = query.strip()
    if query:
        accounts = accounts.filter(Q(username__icontains=query) | Q(display_name__icontains=query))
    accounts = accounts.prefetch_related(
        Prefetch("role_assignments", queryset=_active_assignments(), to_attr="active_assignments")
    )
    page = paginate(accounts, cursor=cursor, limit=limit)
    audit_record(
        action="staff.account.list",
        actor=actor_from_user(viewer),
        target_type="accounts.user",
        source_address=current_address(),
        detail={"department_id": department_id, "query": query[:50], "ids": [u.pk for u in page.items]},
    )
    return page


def staff_get(*, viewer: User, user_id: int) -> User:
    """One staff account with all its assignments, past ones included; audited. An account outside the viewer's
    departments is refused as if it did not exist."""
    if not may_view_staff(viewer):
        audit_record(
            action="staff.account.read",
            actor=actor_from_user(viewer),
            outcome="denied",
            target_type="accounts.user",
            target_id=user_id,
            source_address=current_address(),
        )
        raise StaffActionDenied(f"This account lacks the permission {VIEW_STAFF}.", permission=VIEW_STAFF)
    account = (
        User.objects.filter(pk=user_id, kind=AccountKind.STAFF)
        .select_related("department")
        .prefetch_related(
            Prefetch(
                "role_assignments",
                queryset=RoleAssignment.objects.select_related("role__group", "department").order_by("-id"),
                to_attr="all_assignments",
            )
        )
        .first()
    )
    if account is None or not has_perm_in_department(viewer, VIEW_STAFF, account.department_id):
        audit_record(
            action="staff.account.read",
            actor=actor_from_user(viewer),
            outcome="denied",
            target_type="accounts.user",
            target_id=user_id,
            source_address=current_address(),
        )
        raise StaffAccountNotFound(f"No staff account with id {user_id}.")
    audit_record(
        action="staff.account.read",
        actor=actor_from_user(viewer),
        target_type="accounts.user",
        target_id=user_id,
        source_address=current_address(),
    )
    return account


def role_list() -> list[Role]:
    return list(
        Role.objects.select_related("group")
        .prefetch_related(Prefetch("group__permissions", queryset=Permission.objects.select_related("content_type")))
        .order_by("duty", "group__name")
    )


def role_get(role_id: int) -> Role:
    role = (
        Role.objects.select_related("group")
        .prefetch_related(
            Prefetch("group__permissions", queryset=Permission.objects.select_related("content_type")),
            Prefetch(
                "assignments", queryset=_active_assignments().select_related("user"), to_attr="active_assignments"
            ),
        )
        .filter(pk=role_id)
        .first()
    )
    if role is None:
        raise RoleNotFound(f"No role with id {role_id}.")
    return role


def permission_name(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


@dataclass(frozen=True)
class DutyHolder:
    user_id: int
    username: str
    display_name: str
    department: str
    duties: tuple[str, ...]
    active: bool


@dataclass(frozen=True)
class Violation:
    """One breach of the separation of duties; `code` is stable for scripts, `message` says what to fix."""

    code: str
    subject: str
    message: str


def duty_holders() -> list[DutyHolder]:
    """Every account with an active administrator assignment, and the duties it holds."""
    duties: dict[int, set[str]] = defaultdict(set)
    users: dict[int, User] = {}
    for assignment in _active_assignments().filter(role__duty__in=ADMINISTRATOR_DUTIES).select_related("user"):
        duties[assignment.user_id].add(assignment.role.duty)
        users[assignment.user_id] = assignment.user
    order: dict[str, int] = {str(duty): i for i, duty in enumerate(ADMINISTRATOR_DUTIES)}
    return [
        DutyHolder(
            user_id=pk,
            username=users[pk].username,
            display_name=users[pk].display_name,
            department=str(users[pk].department_id or ""),
            duties=tuple(sorted(held, key=order.__getitem__)),
            active=users[pk].is_active,
        )
        for pk, held in sorted(duties.items())
    ]


def duty_violations() -> list[Violation]:
    """What breaks 三员分立: an active account with two administrator duties, an active superuser (every duty), an
    administrator right granted outside the roles (directly, or by a group that is not a role), a role carrying
    another duty's rights, and a role's group holding members without an assignment."""
    found: list[Violation] = []
    for holder in duty_holders():
        if holder.active and len(holder.duties) > 1:
            found.append(
                Violation(
                    "duties.combined",
                    holder.username,
                    f"holds {len(holder.duties)} administrator duties: {', '.join(holder.duties)}",
                )
            )
    for username in User.objects.filter(is_superuser=True, is_active=True).values_list("username", flat=True):
        found.append(
            Violation(
                "duties.superuser", username, "active superuser: holds every duty; disable it outside an emergency"
            )
        )
    admin_q = Q()
    for name in ADMINISTRATOR_PERMISSIONS:
        app_label, _, codename = name.partition(".")
        admin_q |= Q(content_type__app_label=app_label, codename=codename)
    direct = (
        Permission.objects.filter(admin_q, user__is_active=True)
        .values_list("user__username", "content_type__app_label", "codename")
        .order_by("user__username", "codename")
    )
    for username, app_label, codename in direct:
        found.append(Violation("duties.direct_permission", username, f"holds {app_label}.{codename} outside any role"))
    legacy = (
        Permission.objects.filter(admin_q, group__staff_role__isnull=True, group__user__isnull=False)
        .values_list("group__name", "content_type__app_label", "codename")
        .distinct()
        .order_by("group__name", "codename")
    )
    for group_name, app_label, codename in legacy:
        found.append(
            Violation(
                "duties.group_permission", group_name, f"group (not a role) with members carries {app_label}.{codename}"
            )
        )
    for role in Role.objects.select_related("group").prefetch_related("group__permissions__content_type"):
        crossing = role_permissions_check(role.duty, [permission_name(p) for p in role.group.permissions.all()])
        if crossing:
            found.append(
                Violation("duties.role_crossing", role.name, f"{role.duty} role carries {', '.join(crossing)}")
            )
    assigned = set(_active_assignments().values_list("user_id", "role__group_id"))
    members = User.groups.through.objects.filter(group__staff_role__isnull=False, user__is_active=True).values_list(
        "user_id", "group_id", "user__username", "group__name"
    )
    for user_id, group_id, username, group_name in members.order_by("user__username", "group__name"):
        if (user_id, group_id) not in assigned:
            found.append(
                Violation(
                    "duties.unassigned_member", username, f"member of the role group {group_name} without an assignment"
                )
            )
    return found
