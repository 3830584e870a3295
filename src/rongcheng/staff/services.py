"""Staff administration use-cases: accounts (system administrator), roles and their grants (security administrator).

Each service checks the actor's right for the department concerned, writes its rows and its audit record in one
transaction; a refusal changes nothing and leaves a `denied` record naming the acting account and the problem.
Grants to one account are serialised by a lock on that account's row, so two concurrent grants cannot together give
it two administrator duties.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.kernel.context import current_address
from rongcheng.kernel.errors import DomainError
from rongcheng.staff.errors import (
    DepartmentNotFound,
    DutyConflict,
    RoleAlreadyAssigned,
    RoleAssignmentNotFound,
    RoleAssignmentRevoked,
    RoleDefinitionInvalid,
    RoleDepartmentMismatch,
    RoleGranteeInvalid,
    RoleNotFound,
    SelfAdministrationRefused,
    StaffAccountExists,
    StaffAccountNotFound,
    StaffAccountState,
    StaffActionDenied,
    StaffInputInvalid,
)
from rongcheng.staff.models import ADMINISTRATOR_DUTIES, Duty, Role, RoleAssignment
from rongcheng.staff.permissions import (
    ASSIGN_ROLE,
    MANAGE_STAFF_ACCOUNTS,
    grants_invalidate,
    has_perm_in_department,
    role_permissions_check,
)

INITIAL_PASSWORD_BYTES = 12  # 16 URL-safe characters, about 96 bits


def _initial_password() -> str:
    return secrets.token_urlsafe(INITIAL_PASSWORD_BYTES)


@contextmanager
def _refusal_audited(
    action: str,
    actor: User | Actor,
    *,
    target_type: str,
    target_id: Any = "",
    detail: dict[str, Any] | None = None,
) -> Iterator[None]:
    """Let a domain error through after recording it as denied, outside the atomic block that rolled back."""
    try:
        yield
    except DomainError as exc:
        audit_record(
            action=action,
            actor=actor if isinstance(actor, Actor) else actor_from_user(actor),
            outcome="denied",
            target_type=target_type,
            target_id=str(target_id)[:64],
            source_address=current_address(),
            detail={**(detail or {}), "problem": exc.type_slug, "reason": exc.detail},
        )
        raise


def _require_anywhere(actor: User, permission: str) -> None:
    if not actor.is_active or not actor.has_perm(permission):
        raise StaffActionDenied(f"This account lacks the permission {permission}.", permission=permission)


def _require_in(actor: User, permission: str, department: Department | None) -> None:
    if not has_perm_in_department(actor, permission, department):
        where = f"the department {department.code}" if department else "the whole city"
        raise StaffActionDenied(f"This account lacks the permission {permission} for {where}.", permission=permission)


def _department(department_id: int | None) -> Department | None:
    if department_id is None:
        return None
    department = Department.objects.filter(pk=department_id).first()
    if department is None:
        raise DepartmentNotFound(f"No department with id {department_id}.")
    return department


def _staff_account_locked(user_id: int) -> User:
    user = User.objects.select_for_update(of=("self",)).select_related("department").filter(pk=user_id).first()
    if user is None or user.kind != AccountKind.STAFF:
        raise StaffAccountNotFound(f"No staff account with id {user_id}.")
    return user


def _invalid(field: str, rule: str, message: str) -> StaffInputInvalid:
    return StaffInputInvalid(message, errors=[{"loc": [field], "rule": rule, "msg": message}])


# --- staff accounts (system administrator) -------------------------------------------------------------------------


def staff_account_create(*, username: str, display_name: str, department_id: int, actor: User) -> tuple[User, str]:
    """A staff account with a random initial password, returned once and never stored in clear or audited; it must
    be changed at the first sign-in."""
    with _refusal_audited(
        "staff.account.create",
        actor,
        target_type="accounts.user",
        detail={"username": username[:150], "department_id": department_id},
    ):
        _require_anywhere(actor, MANAGE_STAFF_ACCOUNTS)
        username, display_name = _account_input_validate(username, display_name)
        department = _department(department_id)
        _require_in(actor, MANAGE_STAFF_ACCOUNTS, department)
        return _account_insert(username, display_name, department, actor_from_user(actor))


def staff_account_create_by_system(
    *, username: str, display_name: str, department: Department, actor: Actor
) -> tuple[User, str]:
    """The same account made by the platform itself, which holds no permission to check: the installation of the
    three administrators (`manage staff_admin_create`). The caller owns the transaction."""
    username, display_name = _account_input_validate(username, display_name)
    return _account_insert(username, display_name, department, actor)


def _account_input_validate(username: str, display_name: str) -> tuple[str, str]:
    username = username.strip()
    display_name = display_name.strip()
    errors = []
    try:
        User.username_validator(username)
    except ValidationError:
        errors.append({"loc": ["username"], "rule": "username.format", "msg": "letters, digits and @.+-_ only"})
    if not 3 <= len(username) <= 150:
        errors.append({"loc": ["username"], "rule": "username.length", "msg": "3 to 150 characters"})
    if not 1 <= len(display_name) <= 100:
        errors.append({"loc": ["display_name"], "rule": "display_name.length", "msg": "1 to 100 characters"})
    if errors:
        raise StaffInputInvalid("The account details are invalid.", errors=errors)
    return username, display_name


def _account_insert(username: str, display_name: str, department: Department | None, actor: Actor) -> tuple[User, str]:
    password = _initial_password()
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise StaffAccountExists(f"The username {username} is taken.")
            user = User(
                username=username,
                display_name=display_name,
                kind=AccountKind.STAFF,
                department=department,
                is_staff=True,
                must_change_password=True,
                password_changed_at=timezone.now(),
            )
            user.set_password(password)
            user.save()
            audit_record(
                action="staff.account.create",
                actor=actor,
                target_type="accounts.user",
                target_id=user.pk,
                source_address=current_address(),
                detail={"username": username, "department": department.code if department else ""},
            )
    except IntegrityError as exc:  # the same username created concurrently
        raise StaffAccountExists(f"The username {username} is taken.") from exc
    return user, password


def _account_change(action: str, *, user_id: int, actor: User, change: Any) -> tuple[User, Any]:
    with _refusal_audited(action, actor, target_type="accounts.user", target_id=user_id):
        _require_anywhere(actor, MANAGE_STAFF_ACCOUNTS)
        with transaction.atomic():
            user = _staff_account_locked(user_id)
            _require_in(actor, MANAGE_STAFF_ACCOUNTS, user.department)
            if user.pk == actor.pk:
                raise SelfAdministrationRefused("Another administrator must do this for your own account.")
            result = change(user)
            audit_record(
                action=action,
                actor=actor_from_user(actor),
                target_type="accounts.user",
                target_id=user.pk,
                source_address=current_address(),
                detail={"username": user.username},
            )
    return user, result


def staff_account_disable(*, user_id: int, actor: User) -> User:
    """The account can no longer sign in; its sessions and tokens stop working (both check `is_active`)."""

    def disable(user: User) -> None:
        if not user.is_active:
            raise StaffAccountState("The account is already disabled.")
        user.is_active = False
        user.save(update_fields=["is_active"])
        grants_invalidate(user.pk)

    return _account_change("staff.account.disable", user_id=user_id, actor=actor, change=disable)[0]


def staff_account_enable(*, user_id: int, actor: User) -> User:
    def enable(user: User) -> None:
        if user.is_active:
            raise StaffAccountState("The account is already enabled.")
        user.is_active = True
        user.save(update_fields=["is_active"])
        grants_invalidate(user.pk)

    return _account_change("staff.account.enable", user_id=user_id, actor=actor, change=enable)[0]


def staff_password_reset(*, user_id: int, actor: User) -> tuple[User, str]:
    """A new random password, to be changed at the next sign-in; the account's sessions end (their hash changes)."""

    def reset(user: User) -> str:
        password = _initial_password()
        user.set_password(password)
        user.must_change_password = True
        user.password_changed_at = timezone.now()
        user.save(update_fields=["password", "must_change_password", "password_changed_at"])
        return password

    user, password = _account_change("staff.account.password_reset", user_id=user_id, actor=actor, change=reset)
    return user, str(password)


# --- roles and assignments (security administrator) ----------------------------------------------------------------


def _permission_objects(names: Iterable[str]) -> list[Permission]:
    wanted = set(names)
    found: list[Permission] = []
    query = Q()
    for name in wanted:
        app_label, _, codename = name.partition(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    if wanted:
        found = list(Permission.objects.filter(query).select_related("content_type"))
    missing = wanted - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise RoleDefinitionInvalid(
            "Unknown permissions.",
            errors=[{"loc": ["permissions"], "rule": "permission.exists", "msg": m} for m in sorted(missing)],
        )
    return found


def role_define(
    *, name: str, duty: str, description: str, permissions: Iterable[str], city_wide: bool, actor: Actor
) -> Role:
    """Create or redefine a role (installation and demo seeding; `actor` is the system). A role carries only the
    administrator rights of its own duty, so holding a role never bundles two duties."""
    permissions = tuple(permissions)
    with _refusal_audited("staff.role.define", actor, target_type="staff.role", detail={"name": name[:80]}):
        if duty not in Duty.values:
            raise RoleDefinitionInvalid(
                f"Unknown duty {duty}.", errors=[{"loc": ["duty"], "rule": "duty.choice", "msg": duty}]
            )
        crossing = role_permissions_check(duty, permissions)
        if crossing:
            raise RoleDefinitionInvalid(
                f"A {duty} role cannot carry {', '.join(crossing)}.",
                errors=[{"loc": ["permissions"], "rule": "permission.duty", "msg": p} for p in crossing],
            )
        found = _permission_objects(permissions)
        with transaction.atomic():
            group, _ = Group.objects.get_or_create(name=name)
            role, created = Role.objects.update_or_create(
                group=group, defaults={"duty": duty, "description": description, "city_wide": city_wide}
            )
            group.permissions.set(found)
            holders = RoleAssignment.objects.filter(role=role, revoked_at__isnull=True).values_list(
                "user_id", flat=True
            )
            grants_invalidate(*holders)
            audit_record(
                action="staff.role.define",
                actor=actor,
                target_type="staff.role",
                target_id=role.pk,
                detail={
                    "name": name,
                    "duty": duty,
                    "city_wide": city_wide,
                    "permissions": sorted(permissions),
                    "created": created,
                },
            )
    return role


def _grant(
    *, user_id: int, role_id: int, department: Department | None, granted_by: User | None, label: str
) -> RoleAssignment:
    role = Role.objects.select_related("group").filter(pk=role_id).first()
    if role is None:
        raise RoleNotFound(f"No role with id {role_id}.")
    grantee = _staff_account_locked(user_id)  # serialises grants to this account: the duty check below holds
    if granted_by is not None and grantee.pk == granted_by.pk:
        raise SelfAdministrationRefused("Nobody grants roles to their own account.")
    if not grantee.is_active:
        raise RoleGranteeInvalid("The account is disabled.")
    if not role.city_wide and (department is None or department.pk != grantee.department_id):
        raise RoleDepartmentMismatch(
            f"The role {role.name} is granted only for the account's own department.",
            errors=[{"loc": ["department_id"], "rule": "role.department", "msg": "the account's own department"}],
        )
    active = RoleAssignment.objects.filter(user=grantee, revoked_at__isnull=True)
    if active.filter(role=role, department=department).exists():
        raise RoleAlreadyAssigned(f"The account already holds {role.name} there.")
    if role.duty in ADMINISTRATOR_DUTIES:
        if grantee.is_superuser:
            raise DutyConflict("A superuser already holds every administrator duty.", held=list(ADMINISTRATOR_DUTIES))
        held = sorted(set(active.filter(role__duty__in=ADMINISTRATOR_DUTIES).values_list("role__duty", flat=True)))
        if set(held) - {role.duty}:
            raise DutyConflict(
                f"The account holds the {', '.join(held)} duty; it cannot also hold the {role.duty} duty.",
                held=held,
                requested=role.duty,
            )
    assignment = RoleAssignment.objects.create(
        user=grantee, role=role, department=department, granted_by=granted_by, granted_by_label=label
    )
    grantee.groups.add(role.group)
    grants_invalidate(grantee.pk)
    return assignment


def _assignment_detail(assignment: RoleAssignment) -> dict[str, Any]:
    return {
        "user_id": assignment.user_id,
        "role": assignment.role.name,
        "duty": assignment.role.duty,
        "department": assignment.department.code if assignment.department else "",
    }


def role_grant(*, user_id: int, role_id: int, department_id: int | None, actor: User) -> RoleAssignment:
    """Grant `role` to a staff account for a department (None: the whole city, city-wide roles only)."""
    with _refusal_audited(
        "staff.assignment.grant",
        actor,
        target_type="accounts.user",
        target_id=user_id,
        detail={"role_id": role_id, "department_id": department_id},
    ):
        _require_anywhere(actor, ASSIGN_ROLE)
        department = _department(department_id)
        _require_in(actor, ASSIGN_ROLE, department)
        with transaction.atomic():
            assignment = _grant(
                user_id=user_id, role_id=role_id, department=department, granted_by=actor, label=actor.get_username()
            )
            audit_record(
                action="staff.assignment.grant",
                actor=actor_from_user(actor),
                target_type="accounts.user",
                target_id=user_id,
                source_address=current_address(),
                detail={**_assignment_detail(assignment), "assignment_id": assignment.pk},
            )
    return assignment


def role_grant_by_system(*, user: User, role: Role, department: Department | None, actor: Actor) -> RoleAssignment:
    """Installation and demo seeding: the first administrators have nobody to grant them their duty. The duty and
    department rules apply all the same."""
    with (
        _refusal_audited(
            "staff.assignment.grant",
            actor,
            target_type="accounts.user",
            target_id=user.pk,
            detail={"role_id": role.pk},
        ),
        transaction.atomic(),
    ):
        assignment = _grant(user_id=user.pk, role_id=role.pk, department=department, granted_by=None, label=actor.label)
        audit_record(
            action="staff.assignment.grant",
            actor=actor,
            target_type="accounts.user",
            target_id=user.pk,
            detail={**_assignment_detail(assignment), "assignment_id": assignment.pk},
        )
    return assignment


def role_revoke(*, assignment_id: int, actor: User) -> RoleAssignment:
    with _refusal_audited(
        "staff.assignment.revoke",
        actor,
        target_type="staff.roleassignment",
        target_id=assignment_id,
    ):
        _require_anywhere(actor, ASSIGN_ROLE)
        with transaction.atomic():
            found = RoleAssignment.objects.filter(pk=assignment_id).values_list("user_id", flat=True).first()
            if found is None:
                raise RoleAssignmentNotFound(f"No role assignment with id {assignment_id}.")
            User.objects.select_for_update().filter(pk=found).first()  # the holder's lock, as for grants
            assignment = RoleAssignment.objects.select_related("role__group", "department", "user").get(
                pk=assignment_id
            )
            _require_in(actor, ASSIGN_ROLE, assignment.department)
            if assignment.user_id == actor.pk:
                raise SelfAdministrationRefused("Nobody revokes roles of their own account.")
            if assignment.revoked_at is not None:
                raise RoleAssignmentRevoked("The assignment is already revoked.")
            assignment.revoked_at = timezone.now()
            assignment.revoked_by = actor
            assignment.save(update_fields=["revoked_at", "revoked_by"])
            still_held = RoleAssignment.objects.filter(
                user_id=assignment.user_id, role_id=assignment.role_id, revoked_at__isnull=True
            ).exists()
            if not still_held:
                assignment.user.groups.remove(assignment.role.group)
            grants_invalidate(assignment.user_id)
            audit_record(
                action="staff.assignment.revoke",
                actor=actor_from_user(actor),
                target_type="staff.roleassignment",
                target_id=assignment.pk,
                source_address=current_address(),
                detail=_assignment_detail(assignment),
            )
    return assignment


def staff_superuser_retire(*, user_id: int, actor: Actor) -> User:
    """End an emergency superuser: it loses every right and can no longer sign in (installation and demo seeding;
    the superuser path stays only for emergencies, and `staff_duties_check` reports any that is active)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        user.is_superuser = False
        user.is_active = False
        user.save(update_fields=["is_superuser", "is_active"])
        grants_invalidate(user.pk)
        audit_record(
            action="staff.account.superuser_retire", actor=actor, target_type="accounts.user", target_id=user.pk,
            detail={"username": user.username},
        )  # fmt: skip
    return user
