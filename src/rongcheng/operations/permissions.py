"""The rights of operations: operators see the operations dashboard (the system administrator's duty in the demo),
the security administrator handles security events (a right of the security duty, staff.permissions)."""

VIEW_OPERATIONS = "operations.view_operations"
MANAGE_SECURITY_EVENTS = "operations.manage_securityevent"
