"""Domain errors. Each maps once (in config.api) to an RFC 9457 problem document.

Subclasses set `status`, a stable `type_slug` (the problem type URI is /problems/<slug>) and a `title`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class ValidationFailed(DomainError):
    """Input broke a rule; `errors` lists each with a field path (`loc`), the rule and a message."""

    status = 422
    type_slug = "validation-failed"
    title = "Validation failed"


class NotFound(DomainError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class PermissionDenied(DomainError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotAuthenticated(DomainError):
    status = 401
    type_slug = "unauthenticated"
    title = "Authentication required"


class Conflict(DomainError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class RateLimited(DomainError):
    status = 429
    type_slug = "rate-limited"
    title = "Too many requests"
