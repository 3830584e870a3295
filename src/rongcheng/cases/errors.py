"""Errors of city cases, each mapped once to a problem document."""

from __future__ import annotations

from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class CaseNotFound(NotFound):
    type_slug = "cases-case-not-found"
    title = "No such case"


class CategoryNotFound(ValidationFailed):
    type_slug = "cases-category-unknown"
    title = "Unknown case category"


class CaseInputInvalid(ValidationFailed):
    type_slug = "cases-input-invalid"
    title = "Invalid case input"


class OutsideCity(ValidationFailed):
    type_slug = "cases-outside-city"
    title = "The point is outside the city grid"


class PhotoInvalid(ValidationFailed):
    type_slug = "cases-photo-invalid"
    title = "Not an acceptable photo"


class CaseDenied(PermissionDenied):
    type_slug = "cases-denied"
    title = "Not allowed on this case"


class CaseTransitionUnknown(ValidationFailed):
    type_slug = "cases-transition-unknown"
    title = "Unknown transition"


class CaseTransitionNotAllowed(Conflict):
    type_slug = "cases-transition-not-allowed"
    title = "Transition not allowed from this state"


class CaseGuardFailed(Conflict):
    type_slug = "cases-transition-refused"
    title = "The transition's conditions are not met"


class Open311KeyInvalid(PermissionDenied):
    type_slug = "cases-open311-key-invalid"
    title = "Missing, unknown or revoked API key"
