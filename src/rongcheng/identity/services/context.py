"""Where a request came from, the audit helper and the session keys shared by the identity services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from rongcheng.accounts.models import User
from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.context import request_address

# Keys of the identity platform's values in Django's session.
SESSION_RECORD = "identity.session"
SESSION_SEEN = "identity.seen"
SESSION_RECORDED = "identity.recorded"
PENDING = "identity.pending"


@dataclass(frozen=True)
class Context:
    """Where a request came from, for the audit trail and the session list."""

    source_address: str | None = None
    user_agent: str = ""


def context_from(request: HttpRequest) -> Context:
    return Context(request_address(request), str(request.META.get("HTTP_USER_AGENT", ""))[:300])


def _audit(
    action: str,
    *,
    actor: Actor,
    context: Context,
    outcome: Any = "success",
    target: User | None = None,
    detail: dict[str, Any] | None = None,
    target_type: str = "accounts.user",
    target_id: str | int = "",
) -> None:
    audit_record(
        action=action, actor=actor, outcome=outcome, target_type=target_type,
        target_id=target_id or (target.pk if target is not None else ""), source_address=context.source_address,
        detail=detail or {},
    )  # fmt: skip


def _field_error(field: str, rule: str, message: str) -> dict[str, Any]:
    return {"loc": [field], "rule": rule, "msg": message}
