"""Who may do what in the catalogue, per department (rongcheng.staff's department-scoped roles).

- an editor (编目员, `catalogue.edit_dataresource`) catalogues the department's resources, uploads their rows and
  drafts open datasets, and asks for publication;
- the department's data steward (数据管理员, `catalogue.steward_dataresource`) approves publication and answers the
  sharing requests addressed to the department; an editor cannot publish alone, and nobody approves their own request;
- `catalogue.request_sharing` lets a department's staff ask other departments for their resources;
- the digital office (`catalogue.manage_catalogue`, city-wide) settles disputes and may act for any department.
"""

from __future__ import annotations

from typing import TypeGuard

from rongcheng.accounts.models import Department
from rongcheng.kernel.context import Account
from rongcheng.staff.permissions import has_perm_in_department

EDIT = "catalogue.edit_dataresource"
STEWARD = "catalogue.steward_dataresource"
REQUEST_SHARING = "catalogue.request_sharing"
MANAGE = "catalogue.manage_catalogue"


def _active(user: Account | None) -> TypeGuard[Account]:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_office(user: Account | None) -> bool:
    return _active(user) and bool(user.has_perm(MANAGE))


def can_edit(user: Account | None, department: Department) -> bool:
    return _active(user) and (has_perm_in_department(user, EDIT, department) or is_office(user))


def can_steward(user: Account | None, department: Department) -> bool:
    return _active(user) and (has_perm_in_department(user, STEWARD, department) or is_office(user))


def can_request_sharing(user: Account | None) -> bool:
    department = getattr(user, "department", None)
    return _active(user) and department is not None and has_perm_in_department(user, REQUEST_SHARING, department)


def can_view_catalogue(user: Account | None) -> bool:
    """Every staff account sees the catalogue (its metadata, never rows)."""
    return _active(user) and getattr(user, "kind", "") == "staff"
