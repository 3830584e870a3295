"""The audit helper and the session keys shared by the identity services; where a request came from is the kernel's
request context (`kernel.context`: address, user agent, request id)."""

from __future__ import annotations

from typing import Any

from rongcheng.accounts.models import User
from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.context import current_address

# Keys of the identity platform's values in Django's session.
SESSION_RECORD = "identity.session"
SESSION_SEEN = "identity.seen"
SESSION_RECORDED = "identity.recorded"
PENDING = "identity.pending"


def _audit(
    action: str,
    *,
    actor: Actor,
    outcome: Any = "success",
    target: User | None = None,
    detail: dict[str, Any] | None = None,
    target_type: str = "accounts.user",
    target_id: str | int = "",
) -> None:
    audit_record(
        action=action, actor=actor, outcome=outcome, target_type=target_type,
        target_id=target_id or (target.pk if target is not None else ""), source_address=current_address(),
        detail=detail or {},
    )  # fmt: skip


def _field_error(field: str, rule: str, message: str) -> dict[str, Any]:
    return {"loc": [field], "rule": rule, "msg": message}
