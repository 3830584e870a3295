"""Staff administration over HTTP: /api/v1/staff/.

Callers are administrators signed in to the pages, or holding an access token with the scope `staff:admin`. The
rights are those of the pages: the system administrator manages staff accounts, the security administrator grants
and revokes roles; the services check them per department and audit every action and every refusal. A grant that
would give one account two administrator duties is refused with 409 and the problem type `duty-conflict`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from rongcheng.accounts.api_auth import api_auth
from rongcheng.accounts.models import User
from rongcheng.kernel.pagination import MAX_LIMIT
from rongcheng.kernel.schema_types import RecordId
from rongcheng.staff import selectors, services
from rongcheng.staff.models import Role, RoleAssignment
from rongcheng.staff.permissions import ASSIGN_ROLE, MANAGE_STAFF_ACCOUNTS, VIEW_ROLE, VIEW_STAFF

router = Router(tags=["staff"])

SCOPE = "staff:admin"
# Database ids are 64-bit; a larger number is refused by the schema, not looked up.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _actor(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return user


class AssignmentOut(Schema):
    id: int
    user_id: RecordId
    role_id: int
    role: str
    duty: str
    department_id: int | None = Field(description="null: the whole city")
    department_code: str | None
    granted_by: str
    granted_at: dt.datetime
    revoked_at: dt.datetime | None

    @staticmethod
    def resolve_role(obj: RoleAssignment) -> str:
        return obj.role.name

    @staticmethod
    def resolve_duty(obj: RoleAssignment) -> str:
        return obj.role.duty

    @staticmethod
    def resolve_department_code(obj: RoleAssignment) -> str | None:
        return obj.department.code if obj.department else None

    @staticmethod
    def resolve_granted_by(obj: RoleAssignment) -> str:
        return obj.granted_by_label


class StaffOut(Schema):
    id: int
    username: str
    display_name: str
    department_id: int | None
    department_code: str | None
    is_active: bool
    must_change_password: bool
    assignments: list[AssignmentOut] = Field(description="Active role assignments")

    @staticmethod
    def resolve_department_code(obj: User) -> str | None:
        return obj.department.code if obj.department else None

    @staticmethod
    def resolve_assignments(obj: User) -> list[RoleAssignment]:
        listed: list[RoleAssignment] | None = getattr(obj, "active_assignments", None)
        if listed is None:
            listed = [a for a in getattr(obj, "all_assignments", []) if a.revoked_at is None]
        return listed


class StaffPage(Schema):
    items: list[StaffOut]
    next_cursor: str | None


class StaffFilter(Schema):
    department_id: Id | None = None
    q: str = Field("", max_length=50, description="Part of the username or display name")
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=MAX_LIMIT)


class StaffCreateIn(Schema):
    username: str = Field(max_length=150)
    display_name: str = Field(max_length=100)
    department_id: Id


class StaffPasswordOut(Schema):
    account: StaffOut
    initial_password: str = Field(description="Shown once; the account must change it at the first sign-in")


class RoleOut(Schema):
    id: int
    name: str
    duty: str
    description: str
    city_wide: bool
    permissions: list[str]

    @staticmethod
    def resolve_permissions(obj: Role) -> list[str]:
        return sorted(selectors.permission_name(p) for p in obj.group.permissions.all())


class GrantIn(Schema):
    user_id: Id
    role_id: Id
    department_id: Id | None = Field(None, description="null: the whole city (city-wide roles only)")


def _account(user: User, viewer: User) -> User:
    return selectors.staff_get(viewer=viewer, user_id=user.pk)


@router.get(
    "/accounts",
    response=StaffPage,
    summary="Staff accounts of the departments the caller administers",
    auth=api_auth("staff.account.list", scope=SCOPE, permission=VIEW_STAFF),
)
def staff_list(request: HttpRequest, filters: Annotated[StaffFilter, Query()]) -> dict[str, Any]:
    page = selectors.staff_list(
        viewer=_actor(request),
        department_id=filters.department_id,
        query=filters.q,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/accounts/{user_id}",
    response=StaffOut,
    summary="One staff account",
    auth=api_auth("staff.account.read", scope=SCOPE, permission=VIEW_STAFF),
)
def staff_get(request: HttpRequest, user_id: RecordId) -> User:
    return selectors.staff_get(viewer=_actor(request), user_id=user_id)


@router.post(
    "/accounts",
    response={201: StaffPasswordOut},
    summary="Create a staff account with an initial password",
    auth=api_auth("staff.account.create", scope=SCOPE, permission=MANAGE_STAFF_ACCOUNTS),
)
def staff_create(request: HttpRequest, payload: StaffCreateIn) -> Status[dict[str, Any]]:
    user, password = services.staff_account_create(
        username=payload.username,
        display_name=payload.display_name,
        department_id=payload.department_id,
        actor=_actor(request),
    )
    user.active_assignments = []  # type: ignore[attr-defined]  # a new account holds no role
    return Status(201, {"account": user, "initial_password": password})


@router.post(
    "/accounts/{user_id}/disable",
    response=StaffOut,
    summary="Disable a staff account",
    auth=api_auth("staff.account.disable", scope=SCOPE, permission=MANAGE_STAFF_ACCOUNTS),
)
def staff_disable(request: HttpRequest, user_id: RecordId) -> User:
    actor = _actor(request)
    user = services.staff_account_disable(user_id=user_id, actor=actor)
    return _account(user, actor)


@router.post(
    "/accounts/{user_id}/enable",
    response=StaffOut,
    summary="Re-enable a disabled staff account",
    auth=api_auth("staff.account.enable", scope=SCOPE, permission=MANAGE_STAFF_ACCOUNTS),
)
def staff_enable(request: HttpRequest, user_id: RecordId) -> User:
    actor = _actor(request)
    user = services.staff_account_enable(user_id=user_id, actor=actor)
    return _account(user, actor)


@router.post(
    "/accounts/{user_id}/password-reset",
    response=StaffPasswordOut,
    summary="Reset a staff account's password; it must be changed at the next sign-in",
    auth=api_auth("staff.account.password_reset", scope=SCOPE, permission=MANAGE_STAFF_ACCOUNTS),
)
def staff_password_reset(request: HttpRequest, user_id: RecordId) -> dict[str, Any]:
    actor = _actor(request)
    user, password = services.staff_password_reset(user_id=user_id, actor=actor)
    return {"account": _account(user, actor), "initial_password": password}


@router.get(
    "/roles",
    response=list[RoleOut],
    summary="Roles with their duty and permissions",
    auth=api_auth("staff.role.list", scope=SCOPE, permission=VIEW_ROLE),
)
def role_list(request: HttpRequest) -> list[Role]:
    return selectors.role_list()


@router.post(
    "/assignments",
    response={201: AssignmentOut},
    summary="Grant a role to a staff account for a department",
    auth=api_auth("staff.assignment.grant", scope=SCOPE, permission=ASSIGN_ROLE),
)
def assignment_grant(request: HttpRequest, payload: GrantIn) -> Status[RoleAssignment]:
    assignment = services.role_grant(
        user_id=payload.user_id, role_id=payload.role_id, department_id=payload.department_id, actor=_actor(request)
    )
    return Status(201, assignment)


@router.post(
    "/assignments/{assignment_id}/revoke",
    response=AssignmentOut,
    summary="Revoke a role assignment",
    auth=api_auth("staff.assignment.revoke", scope=SCOPE, permission=ASSIGN_ROLE),
)
def assignment_revoke(request: HttpRequest, assignment_id: RecordId) -> RoleAssignment:
    return services.role_revoke(assignment_id=assignment_id, actor=_actor(request))
