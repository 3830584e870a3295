from rongcheng.kernel.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)


class SignInRefused(NotAuthenticated):
    """Wrong username, password or code; never says which."""

    type_slug = "sign-in-refused"
    title = "Sign-in refused"


class AccountLocked(NotAuthenticated):
    """Too many failures: refused whatever the password, until `locked_until`."""

    type_slug = "account-locked"
    title = "Account locked"


class CodeInvalid(ValidationFailed):
    type_slug = "code-invalid"
    title = "Code invalid"


class CodeRateLimited(RateLimited):
    pass


class PasswordRejected(ValidationFailed):
    type_slug = "password-rejected"
    title = "Password rejected"


class RegistrationInvalid(ValidationFailed):
    pass


class UsernameTaken(Conflict):
    type_slug = "username-taken"
    title = "Username taken"


class RealNameMismatch(ValidationFailed):
    """The name, ID number and phone do not match one living person of the population registry."""

    type_slug = "real-name-mismatch"
    title = "Real-name details do not match"


class PersonAlreadyBound(Conflict):
    type_slug = "person-already-bound"
    title = "Person already bound to another account"


class AssuranceLevelTooLow(PermissionDenied):
    type_slug = "assurance-level-too-low"
    title = "Assurance level too low"


class TotpNotEnrolled(Conflict):
    type_slug = "totp-not-enrolled"
    title = "No authenticator enrolled"


class SessionNotFound(NotFound):
    pass


class RepresentationNotFound(NotFound):
    pass


class RepresentationRefused(PermissionDenied):
    type_slug = "representation-refused"
    title = "Representation refused"


class VerificationRefused(PermissionDenied):
    pass


class AccountNotFound(NotFound):
    pass


class TotpAlreadyEnrolled(Conflict):
    type_slug = "totp-already-enrolled"
    title = "Authenticator already enrolled"
