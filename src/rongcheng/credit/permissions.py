"""Who may do what in public credit: predicates the services enforce and the pages use.

Reporting departments report records for their own department (`credit.report_record`); the credit office keeps the
lists and memoranda (`credit.manage_lists`) and reviews repairs (`credit.review_repair`). Screening is for either.
"""

from __future__ import annotations

from rongcheng.accounts.models import AccountKind
from rongcheng.kernel.context import Account
from rongcheng.staff.permissions import has_perm_in_department

REPORT_PERMISSION = "credit.report_record"
LISTS_PERMISSION = "credit.manage_lists"
REPAIR_PERMISSION = "credit.review_repair"
# API scopes (accounts.permissions MACHINE_SCOPES, settings.API_SCOPE_PERMISSIONS).
REPORT_SCOPE = "credit:report"
OFFICE_SCOPE = "credit:office"


def may_report(user: Account, department_id: int | None) -> bool:
    return department_id is not None and has_perm_in_department(user, REPORT_PERMISSION, department_id)


def is_credit_office(user: Account) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm(LISTS_PERMISSION))


def may_review_repairs(user: Account) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm(REPAIR_PERMISSION))


def may_screen(user: Account) -> bool:
    return is_credit_office(user) or bool(
        user is not None and user.is_authenticated and user.has_perm(REPORT_PERMISSION)
    )


def is_subject_account(user: Account) -> bool:
    return bool(user is not None and user.is_authenticated) and getattr(user, "kind", "") in (
        AccountKind.RESIDENT,
        AccountKind.COMPANY_REPRESENTATIVE,
    )
