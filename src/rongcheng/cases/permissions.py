"""Who may do what with city cases: predicates the services enforce and the pages use to hide buttons.

The command centre (监督中心 受理员 registers and closes; 指挥中心 派遣员 dispatches, arbitrates and supervises) acts
city-wide; a unit's officer acts on the cases dispatched to the unit (主办 or 协办); a grid worker reports anywhere
and verifies in the cells assigned to them; a hotline operator takes calls and calls back. API scopes: `cases:report`
(report and follow one's reports), `cases:work` (the staff's work, with the permission of the step).
"""

from __future__ import annotations

from typing import TypeGuard

from rongcheng.accounts.models import AccountKind, User
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.cases.models import Case, CaseUnit, GridAssignment
from rongcheng.kernel.context import Account
from rongcheng.staff.permissions import has_perm_in_department

REGISTER = "cases.register_case"
DISPATCH = "cases.dispatch_case"
HANDLE = "cases.handle_case"
VERIFY = "cases.verify_case"
TAKE_CALL = "cases.take_call"
STATISTICS = "cases.view_statistics"
ROUTING = "cases.manage_routing"
OPEN311_KEYS = "cases.manage_open311key"
CENTRE_PERMISSIONS = (REGISTER, DISPATCH)

SCOPE_REPORT = "cases:report"
SCOPE_WORK = "cases:work"


def is_staff_with(user: Account | None, permission: str) -> TypeGuard[User]:
    return (
        is_signed_in(user)
        and user.kind in (AccountKind.STAFF, AccountKind.API_CLIENT)
        and bool(user.is_active)
        and user.has_perm(permission)
    )


def is_centre(user: Account) -> bool:
    return any(is_staff_with(user, p) for p in CENTRE_PERMISSIONS)


def is_resident(user: Account | None) -> TypeGuard[User]:
    return is_signed_in(user) and user.kind == AccountKind.RESIDENT


def units_of(case: Case) -> list[int]:
    return list(CaseUnit.objects.filter(case=case).values_list("unit_id", flat=True))


def handles(user: Account, case: Case) -> bool:
    """An officer of a unit the case was dispatched to, holding the handling permission for that unit."""
    if not is_staff_with(user, HANDLE):
        return False
    return any(has_perm_in_department(user, HANDLE, unit) for unit in units_of(case))


def handles_as_main(user: Account | None, case: Case) -> TypeGuard[User]:
    return (
        case.unit_id is not None and is_staff_with(user, HANDLE) and has_perm_in_department(user, HANDLE, case.unit_id)
    )


def verifies(user: Account | None, case: Case) -> bool:
    """A grid worker assigned to the case's cell."""
    return is_staff_with(user, VERIFY) and GridAssignment.objects.filter(worker=user, cell_code=case.cell_code).exists()


def owns(user: Account | None, case: Case) -> bool:
    return is_signed_in(user) and case.reporter_id == user.pk


def may_view(user: Account, case: Case) -> bool:
    """Who may see the case's private fields (its reporter, its photos, its timeline with names)."""
    if owns(user, case) or is_centre(user) or is_staff_with(user, TAKE_CALL) or is_staff_with(user, STATISTICS):
        return True
    return handles(user, case) or verifies(user, case)
