from rongcheng.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class PersonNotFound(NotFound):
    pass


class LegalEntityNotFound(NotFound):
    pass


class PersonAlreadyRegistered(Conflict):
    type_slug = "person-already-registered"
    title = "Person already registered"


class LegalEntityAlreadyRegistered(Conflict):
    type_slug = "legal-entity-already-registered"
    title = "Legal entity already registered"


class RecordClosed(Conflict):
    type_slug = "record-closed"
    title = "Record closed"


class StaleVersion(Conflict):
    type_slug = "stale-version"
    title = "The record changed since it was read"


class RegistryReadDenied(PermissionDenied):
    pass


class RegistryInputInvalid(ValidationFailed):
    pass
