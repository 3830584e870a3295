"""Test helper: run service calls as a request from an address would, so the audit trail records that address."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from rongcheng.kernel.context import Account, RequestContext, running


@contextmanager
def request_from(address: str | None, *, user: Account | None = None, user_agent: str = "") -> Iterator[RequestContext]:
    """The context `config.middleware.RequestContextMiddleware` would make current for a request from `address`
    (acting as `user` once signed in)."""
    context = RequestContext(request_id=uuid.uuid4().hex, source_address=address, user_agent=user_agent)
    if user is not None:
        context = context.acting(user)
    with running(context):
        yield context
