"""Domain errors of the audit trail."""

from __future__ import annotations

from rongcheng.kernel.errors import Conflict, ValidationFailed


class AuditRecordInvalid(ValidationFailed):
    """A caller passed an action, actor or outcome the trail does not accept: a programming error, caught by tests."""


class AuditRetentionNotReached(ValidationFailed):
    """The purge would remove records younger than the legal retention (网络安全法 §21: at least six months)."""


class AuditExportExists(Conflict):
    """The export file exists already; the purge never overwrites an earlier export."""


class AuditChainBroken(Conflict):
    """The chain does not verify; purging now would destroy the evidence of tampering."""
