"""Who may do what in the service hall: predicates the services enforce and the pages use to hide buttons.

The assurance comparison lives here alone, so the identity platform's `assurance_required` helper replaces one
function when it lands.
"""

from __future__ import annotations

from typing import Any

from rongcheng.accounts.models import AccountKind, AssuranceLevel
from rongcheng.hall.models import Application, ServiceItem

DECIDE_PERMISSION = "hall.decide_application"
CATALOGUE_PERMISSION = "hall.manage_catalogue"
CALENDAR_PERMISSION = "hall.change_calendarday"
APPLICANT_KINDS = frozenset({AccountKind.RESIDENT.value, AccountKind.COMPANY_REPRESENTATIVE.value})


def assurance_sufficient(user: Any, level: int) -> bool:
    """Whether the account's real-name assurance (accounts.AssuranceLevel) reaches `level`."""
    return bool(user.is_authenticated) and int(getattr(user, "assurance_level", AssuranceLevel.L1)) >= int(level)


def is_applicant(user: Any) -> bool:
    return bool(user.is_authenticated) and getattr(user, "kind", "") in APPLICANT_KINDS


def is_officer(user: Any) -> bool:
    return (
        bool(user.is_authenticated)
        and getattr(user, "kind", "") == AccountKind.STAFF
        and getattr(user, "department_id", None) is not None
        and bool(user.has_perm(DECIDE_PERMISSION))
    )


def may_apply(user: Any, service: ServiceItem) -> bool:
    return is_applicant(user) and service.active and assurance_sufficient(user, service.min_assurance)


def owns(user: Any, application: Application) -> bool:
    return bool(user.is_authenticated) and application.applicant_id == user.pk


def may_act(user: Any, application: Application, *, any_window: bool) -> bool:
    """An officer of the service's department; for acceptance of a 全城通办 service, an officer of any window."""
    if not is_officer(user):
        return False
    if application.department_id == user.department_id:
        return True
    return any_window and application.service.any_window


def may_view_as_officer(user: Any, application: Application, countersigning: bool = False) -> bool:
    if not is_officer(user):
        return False
    return (
        application.department_id == user.department_id
        or application.window_id == user.department_id
        or (application.service.any_window and application.state == "submitted")
        or countersigning
    )
