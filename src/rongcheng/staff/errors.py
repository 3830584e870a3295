from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class StaffAccountNotFound(NotFound):
    type_slug = "staff-account-not-found"
    title = "Staff account not found"


class RoleNotFound(NotFound):
    type_slug = "role-not-found"
    title = "Role not found"


class DepartmentNotFound(NotFound):
    type_slug = "department-not-found"
    title = "Department not found"


class RoleAssignmentNotFound(NotFound):
    type_slug = "role-assignment-not-found"
    title = "Role assignment not found"


class StaffActionDenied(PermissionDenied):
    """The acting account lacks the right for this action (in this department)."""

    type_slug = "staff-action-denied"
    title = "Not permitted"


class SelfAdministrationRefused(PermissionDenied):
    """Nobody grants or revokes their own roles, nor disables or resets their own account."""

    type_slug = "self-administration-refused"
    title = "An administrator cannot act on their own account"


class DutyConflict(Conflict):
    """The grant would give one account two of the three administrator duties (三员分立)."""

    type_slug = "duty-conflict"
    title = "Separation of administrator duties"


class RoleAlreadyAssigned(Conflict):
    type_slug = "role-already-assigned"
    title = "Role already assigned"


class RoleAssignmentRevoked(Conflict):
    type_slug = "role-assignment-revoked"
    title = "Role assignment already revoked"


class StaffAccountState(Conflict):
    type_slug = "staff-account-state"
    title = "The account is not in a state that allows this"


class StaffAccountExists(Conflict):
    type_slug = "staff-account-exists"
    title = "Username taken"


class RoleDepartmentMismatch(ValidationFailed):
    """A role that is not city-wide is granted only for the department of the account that receives it."""

    type_slug = "role-department-mismatch"
    title = "Role outside the account's department"


class RoleGranteeInvalid(ValidationFailed):
    type_slug = "role-grantee-invalid"
    title = "Roles are granted to active staff accounts only"


class StaffInputInvalid(ValidationFailed):
    pass


class RoleDefinitionInvalid(ValidationFailed):
    type_slug = "role-definition-invalid"
    title = "Role permissions cross administrator duties"
