from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class LicenceNotFound(NotFound):
    type_slug = "licence-not-found"
    title = "Licence not found"


class LicenceTypeNotFound(NotFound):
    type_slug = "licence-type-not-found"
    title = "Licence type not found"


class LicenceInputInvalid(ValidationFailed):
    """Face data against the type's schema, dates, holder code: every broken rule listed."""

    type_slug = "licence-input-invalid"
    title = "Licence data invalid"


class LicenceHolderUnknown(ValidationFailed):
    type_slug = "licence-holder-unknown"
    title = "Holder not in the base registries"


class IssuingKeyUnavailable(Conflict):
    """The department has no key that may sign now: none generated, all retired, or the current one expired."""

    type_slug = "issuing-key-unavailable"
    title = "No usable signing key"


class LicenceTransitionNotAllowed(Conflict):
    type_slug = "licence-transition-not-allowed"
    title = "Status transition not allowed"


class LicenceNotUsable(Conflict):
    """The licence is not valid now (suspended, revoked, cancelled, expired), so no application may use it."""

    type_slug = "licence-not-usable"
    title = "Licence not usable"


class LicenceActionDenied(PermissionDenied):
    pass


class HolderAuthorizationMissing(PermissionDenied):
    type_slug = "holder-authorization-missing"
    title = "No authorization from the holder"
