"""Who may do what in the service hall: predicates the services enforce and the pages use to hide buttons.

The assurance comparison is the identity platform's (`identity.permissions.has_assurance`), used here alone.
"""

from __future__ import annotations

from typing import TypeGuard

from rongcheng.accounts.models import AccountKind, User
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.hall.errors import ApplicationDenied
from rongcheng.hall.models import Application, ServiceItem
from rongcheng.identity.permissions import has_assurance, step_up_url
from rongcheng.identity.selectors import representation_active_for
from rongcheng.kernel.context import Account
from rongcheng.staff.permissions import has_perm_in_department

DECIDE_PERMISSION = "hall.decide_application"
CATALOGUE_PERMISSION = "hall.manage_catalogue"
CALENDAR_PERMISSION = "hall.change_calendarday"
APPLICANT_KINDS = frozenset({AccountKind.RESIDENT.value, AccountKind.COMPANY_REPRESENTATIVE.value})


def assurance_sufficient(user: Account | None, level: int) -> bool:
    """Whether the account's real-name assurance (accounts.AssuranceLevel) reaches `level`."""
    return has_assurance(user, int(level))


def assurance_step_up(level: int, next_url: str) -> str:
    """The identity platform's step-up page for `level`, coming back to `next_url`."""
    return step_up_url(int(level), next_url)


def is_applicant(user: Account | None) -> TypeGuard[User]:
    return is_signed_in(user) and user.kind in APPLICANT_KINDS


def is_officer(user: Account | None) -> TypeGuard[User]:
    """A staff account that may decide applications for its own department (its window)."""
    return (
        is_signed_in(user)
        and user.kind == AccountKind.STAFF
        and user.department_id is not None
        and has_perm_in_department(user, DECIDE_PERMISSION, user.department_id)
    )


def officer_department(user: User) -> int:
    """The department an account that `is_officer` let through decides for (it has one by then)."""
    if user.department_id is None:
        raise ApplicationDenied("Only officers of a department decide applications.")
    return user.department_id


def may_apply(user: Account, service: ServiceItem) -> bool:
    return is_applicant(user) and service.active and assurance_sufficient(user, service.min_assurance)


def owns(user: Account | None, application: Application) -> bool:
    return is_signed_in(user) and application.applicant_id == user.pk


def represents(user: Account | None, legal_entity_id: int) -> bool:
    """Whether the account acts for the legal entity now: an active Representation (法人代表 or 经办人 in validity)."""
    return is_signed_in(user) and representation_active_for(user=user, legal_entity_id=legal_entity_id)


def acts_for_party(user: Account | None, application: Application) -> bool:
    """The applicant account, and for an entity's application only while it still represents the entity."""
    return application.legal_entity_id is None or represents(user, application.legal_entity_id)


def may_act(user: Account | None, application: Application, *, any_window: bool) -> bool:
    """An officer of the service's department; for acceptance of a 全城通办 service, an officer of any window."""
    if not is_officer(user):
        return False
    if application.department_id == user.department_id:
        return True
    if any_window and application.service.any_window:
        return True
    # A role granted for the service's department (a city-level reviewer, say) also decides its applications.
    return has_perm_in_department(user, DECIDE_PERMISSION, application.department_id)


def may_view_as_officer(user: Account, application: Application, countersigning: bool = False) -> bool:
    if not is_officer(user) or application.state == "draft":  # a draft is its applicant's until submitted
        return False
    return (
        application.department_id == user.department_id
        or application.window_id == user.department_id
        or (application.service.any_window and application.state == "submitted")
        or countersigning
    )
