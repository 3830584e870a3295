"""Errors of public credit, each mapped once to a problem document."""

from __future__ import annotations

from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class CreditRecordInvalid(ValidationFailed):
    type_slug = "credit-record-invalid"
    title = "Invalid credit record"


class CreditDenied(PermissionDenied):
    type_slug = "credit-denied"
    title = "Not allowed in public credit"


class CreditNotFound(NotFound):
    type_slug = "credit-not-found"
    title = "No such credit subject, record or report"


class ListEntryInvalid(ValidationFailed):
    type_slug = "credit-list-entry-invalid"
    title = "Invalid list entry or memorandum"


class RepairRefused(Conflict):
    type_slug = "credit-repair-refused"
    title = "Credit repair refused"


class RepairInvalid(ValidationFailed):
    type_slug = "credit-repair-invalid"
    title = "Invalid credit repair request"


class ScreeningInvalid(ValidationFailed):
    type_slug = "credit-screening-invalid"
    title = "Invalid screening file"
