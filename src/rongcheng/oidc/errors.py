from __future__ import annotations

from rongcheng.kernel.errors import NotFound, PermissionDenied


class ClientManagementDenied(PermissionDenied):
    pass


class ClientNotFound(NotFound):
    pass


class ConsentNotFound(NotFound):
    pass
