"""Who may do what with licences. Services enforce these; templates use them to hide buttons.

Issuing, changing the status and rotating keys belong to staff (or department systems) of the type's issuing
department holding the Django permission; a holder sees their own licences; anybody may verify one.
"""

from __future__ import annotations

from rongcheng.accounts.selectors import is_signed_in
from rongcheng.kernel.context import Account
from rongcheng.licences.models import Licence, LicenceType

ISSUE_PERMISSION = "licences.add_licence"
CHANGE_PERMISSION = "licences.change_licence"
VIEW_PERMISSION = "licences.view_licence"
KEY_PERMISSION = "licences.add_departmentkey"


def _of_department(user: Account, department_id: int) -> bool:
    return is_signed_in(user) and user.department_id == department_id


def may_issue(user: Account, licence_type: LicenceType) -> bool:
    return _of_department(user, licence_type.department_id) and bool(user.has_perm(ISSUE_PERMISSION))


def may_change(user: Account, licence: Licence) -> bool:
    return _of_department(user, licence.department_id) and bool(user.has_perm(CHANGE_PERMISSION))


def may_view_as_issuer(user: Account, licence: Licence) -> bool:
    return _of_department(user, licence.department_id) and bool(user.has_perm(VIEW_PERMISSION))


def is_holder(user: Account, licence: Licence) -> bool:
    """A resident bound to the holder person, or bound to the legal representative of the holder entity."""
    if not is_signed_in(user) or not user.id_number_index:
        return False
    if licence.holder_kind == "person":
        return bool(licence.holder_index == user.id_number_index)
    entity = licence.holder_entity
    representative = entity.legal_representative if entity is not None else None
    return representative is not None and representative.id_number_index == user.id_number_index


def may_manage_keys(user: Account, department_id: int) -> bool:
    return _of_department(user, department_id) and bool(user.has_perm(KEY_PERMISSION))
