"""Errors of the service hall, each mapped once to a problem document."""

from __future__ import annotations

from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class ServiceItemNotFound(NotFound):
    type_slug = "hall-service-not-found"
    title = "No such service"


class ServiceItemInvalid(ValidationFailed):
    type_slug = "hall-service-invalid"
    title = "Invalid service item"


class ApplicationNotFound(NotFound):
    type_slug = "hall-application-not-found"
    title = "No such application"


class ApplicationDenied(PermissionDenied):
    type_slug = "hall-application-denied"
    title = "Not allowed on this application"


class AssuranceTooLow(PermissionDenied):
    """The account's real-name assurance level is below the service's minimum: step up first."""

    type_slug = "hall-assurance-too-low"
    title = "Assurance level too low"


class TransitionUnknown(ValidationFailed):
    type_slug = "hall-transition-unknown"
    title = "Unknown transition"


class TransitionNotAllowed(Conflict):
    """The transition is in the table but not from the application's current state (or another officer was first)."""

    type_slug = "hall-transition-not-allowed"
    title = "Transition not allowed in this state"


class TransitionGuardFailed(ValidationFailed):
    type_slug = "hall-transition-guard"
    title = "Transition refused by its guard"


class MaterialInvalid(ValidationFailed):
    type_slug = "hall-material-invalid"
    title = "Invalid material"


class UploadRefused(ValidationFailed):
    type_slug = "hall-upload-refused"
    title = "Upload refused"


class DraftQuotaReached(Conflict):
    """The applicant already holds as many open drafts of this service as one may (HALL_OPEN_DRAFTS_PER_SERVICE)."""

    type_slug = "hall-draft-quota-reached"
    title = "Too many open drafts of this service"


class UploadQuotaExceeded(UploadRefused):
    """The application's uploads would together exceed HALL_UPLOAD_BYTES_PER_APPLICATION."""

    type_slug = "hall-upload-quota-exceeded"
    title = "Upload quota of the application exceeded"


class RatingRefused(Conflict):
    type_slug = "hall-rating-refused"
    title = "Rating refused"


class FollowUpNotFound(NotFound):
    type_slug = "hall-follow-up-not-found"
    title = "No such follow-up"


class CalendarInvalid(ValidationFailed):
    type_slug = "hall-calendar-invalid"
    title = "Invalid calendar day"


class RepresentationInactive(ApplicationDenied):
    """The account does not (or no longer) represent the legal entity it applies for: no active Representation."""

    type_slug = "hall-representation-inactive"
    title = "Not an active representative of the legal entity"


class ApplicantKindRefused(ValidationFailed):
    """The service is for companies only and no entity was chosen, or for persons only and one was."""

    type_slug = "hall-applicant-kind"
    title = "This service is not for this kind of applicant"
