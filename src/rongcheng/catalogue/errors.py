"""Errors of the catalogue, sharing and open data; each maps to a problem document (API) or a CKAN error (Action
API: 404 Not Found Error, 409 Validation Error, 403 Authorization Error)."""

from __future__ import annotations

from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class CatalogueActionDenied(PermissionDenied):
    type_slug = "catalogue-action-denied"
    title = "Not allowed in the catalogue"


class DataResourceNotFound(NotFound):
    type_slug = "data-resource-not-found"
    title = "No such data resource"


class DataResourceInvalid(ValidationFailed):
    type_slug = "data-resource-invalid"
    title = "The data resource's metadata breaks a rule"


class UploadRejected(ValidationFailed):
    """An upload whose rows do not match the declared data items; `errors` holds the per-row report."""

    type_slug = "upload-rejected"
    title = "The upload does not match the resource's data items"


class SharingRefused(Conflict):
    """A request for a resource that is not shared (不予共享), or one that fails the conformance check."""

    type_slug = "sharing-refused"
    title = "Sharing refused"


class SharingRequestInvalid(ValidationFailed):
    type_slug = "sharing-request-invalid"
    title = "The sharing request breaks a rule"


class SharingRequestNotFound(NotFound):
    type_slug = "sharing-request-not-found"
    title = "No such sharing request"


class SharingTransitionRefused(Conflict):
    type_slug = "sharing-transition-refused"
    title = "Not possible in the request's state"


class GrantNotValid(PermissionDenied):
    """A read through the exchange without a grant in force for it: none, expired, revoked, or a field not named."""

    type_slug = "sharing-grant-not-valid"
    title = "No grant in force for this read"


class DatasetNotFound(NotFound):
    type_slug = "dataset-not-found"
    title = "No such dataset"


class DatasetInvalid(ValidationFailed):
    type_slug = "dataset-invalid"
    title = "The dataset breaks a rule"


class PublicationRefused(Conflict):
    type_slug = "publication-refused"
    title = "Publication refused"


class ApiTokenInvalid(PermissionDenied):
    type_slug = "catalogue-token-invalid"
    title = "Unknown or revoked API token"


class DatastoreQueryInvalid(ValueError):
    """A datastore search naming a field the table does not have, or filtering a field by a value not of its type:
    `argument` is the call's argument at fault (filters, fields, sort), as CKAN names it in its Validation Error."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument
        self.message = message
