"""One request context: who acts (a person or officer, a department system, or a job of the platform), from which
address, for what purpose, under which request id.

`config.middleware.RequestContextMiddleware` builds it once per request (and returns the id in `X-Request-ID`) and
makes it current for the code the request runs; a background job or a command runs under `system(...)`. Services
read `current()` instead of being handed the request, so no web type crosses into the domain layers, and
`request_address` is the one place that decides which address a request came from.

Migration (issue 11): services move to the context one app at a time, dropping their `source_address=` (and
`purpose=`) arguments, so that the audit record of every write and read carries the same request id, address and
actor kind (docs/architecture.md, "Request context"). Done: the hall, staff, licences, registries, oidc, audit,
credit, cases, spatial, card, catalogue and identity read `current_address()` (identity also `current_user_agent()`
for its session list); accounts and operations take no address argument; every audit record carries the current
`request_id`; no adapter writes an audit record (the refusal records read the address here too); no identity
service takes the request; the registries' pages and API state the purpose of a read with `purpose_stated(...)`
and its selectors read `current_purpose()`. The acting account is typed `Account` here (services that write by it
take `accounts.models.User`; predicates narrow to it with `accounts.selectors.is_signed_in`); no app takes `Any`
for it (tests/test_acting_account.py). Tests run a service "from an address" with
`rongcheng.kernel.tests.contexts.request_from`.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol


class ActorKind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"  # a resident, a company representative or an officer, signed in to the pages or the API
    API_CLIENT = "api_client"  # a department system with a client-credentials token
    SYSTEM = "system"  # a job or command of the platform itself


class Account(Protocol):
    """The account acting, as services, selectors and permission predicates take it: a person, an officer or an API
    client (`accounts.User`), or Django's anonymous user where a predicate also answers for visitors. The one name
    for the acting account in every app, including those below accounts that may not import it; what else a service
    reads of a signed-in account (its kind, department, assurance level) it reads from `accounts.User` once
    `accounts.selectors.is_signed_in` has narrowed the account to it."""

    @property
    def pk(self) -> Any: ...
    @property
    def is_authenticated(self) -> bool: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def is_superuser(self) -> bool: ...
    def get_username(self) -> str: ...
    def has_perm(self, perm: str, obj: Any = None) -> bool: ...


class _Request(Protocol):
    @property
    def META(self) -> Mapping[str, Any]: ...  # Django's name


# A request id a proxy or client may hand us: short and free of anything a log line could be confused by.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_address(request: _Request) -> str | None:
    """The address a request came from, for rate limits and the audit trail. The server's REMOTE_ADDR: a reverse
    proxy in front must set it from the client's address (granian and nginx do), so a client cannot forge it in a
    header."""
    return request.META.get("REMOTE_ADDR") or None


def request_id_for(request: _Request) -> str:
    """The caller's X-Request-ID when it is well formed (to follow one call across systems), else a new one."""
    offered = str(request.META.get("HTTP_X_REQUEST_ID", ""))
    return offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    actor_kind: ActorKind = ActorKind.ANONYMOUS
    user: Account | None = None  # the account acting (an API client acts as its owner account); None: anonymous, jobs
    source_address: str | None = None
    purpose: str = ""  # why personal data is read, when the caller states it (registries.purposes)
    job: str = ""  # the job or command acting, for ActorKind.SYSTEM
    user_agent: str = ""  # the client's User-Agent as it sent it (cut to 300 characters), for an account's sessions

    def acting(self, user: Account | None) -> RequestContext:
        """The same request, now known to act as `user` (resolved by the session or by the API's authentication)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return replace(self, actor_kind=ActorKind.ANONYMOUS, user=None)
        kind = ActorKind.API_CLIENT if getattr(user, "kind", "") == "api_client" else ActorKind.USER
        return replace(self, actor_kind=kind, user=user)

    def for_purpose(self, purpose: str) -> RequestContext:
        return replace(self, purpose=purpose)


def system(job: str) -> RequestContext:
    """The context of a platform job or command: no address, no user."""
    return RequestContext(request_id=uuid.uuid4().hex, actor_kind=ActorKind.SYSTEM, job=job)


USER_AGENT_MAX = 300


def from_request(request: _Request) -> RequestContext:
    return RequestContext(
        request_id=request_id_for(request),
        source_address=request_address(request),
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:USER_AGENT_MAX],
    )


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("rongcheng_context", default=None)


def current() -> RequestContext | None:
    """The context of the request or job running now, if any."""
    return _current.get()


def current_address() -> str | None:
    """The address of the request running now, for the audit trail: None for a job or a command (`system(...)`), and
    outside any context (a script or a test calling a service directly)."""
    context = _current.get()
    return context.source_address if context is not None else None


def current_user_agent() -> str:
    """The User-Agent of the request running now; empty for a job, a command or outside any context."""
    context = _current.get()
    return context.user_agent if context is not None else ""


def current_purpose() -> str:
    """The purpose the request running now states for its reads of personal data; empty when it states none."""
    context = _current.get()
    return context.purpose if context is not None else ""


@contextmanager
def purpose_stated(purpose: str | None) -> Iterator[RequestContext]:
    """Run the block as the current request stating `purpose` (an adapter passes on the purpose its caller gave, and
    the selectors that read personal data take it from the context). Outside any context, a context of its own."""
    context = _current.get() or RequestContext(request_id=uuid.uuid4().hex)
    with running(context.for_purpose(purpose or "")) as stated:
        yield stated


@contextmanager
def running(context: RequestContext) -> Iterator[RequestContext]:
    """Make `context` current for the code inside the block (a request, a job)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def note_actor(user: Account | None) -> None:
    """Record in the current context who the request acts as, once authentication has decided."""
    context = _current.get()
    if context is not None:
        _current.set(context.acting(user))
