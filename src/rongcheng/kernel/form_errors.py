"""A service's `DomainError` shown on the page's form: the one mapping every app's pages use (the API's is
`kernel.problems`).

Each error the service lists goes on the form field its `loc` names (renamed through `fields` where the form calls
it differently), else on the form as a whole. Its text is the page's own translation of its `rule`, when `messages`
has one, else the service's message. A whole kind of refusal (a problem type such as "stale-version") can have its
own page sentence in `messages` too. A refusal that names no rule the page can show is shown by its detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from django_stubs_ext import StrOrPromise

from rongcheng.kernel.errors import DomainError


class _Form(Protocol):
    @property
    def fields(self) -> Mapping[str, Any]: ...

    def add_error(self, field: str | None, error: Any) -> None: ...


def add_domain_errors(
    form: _Form,
    exc: DomainError,
    *,
    fields: Mapping[str, str] | None = None,
    messages: Mapping[str, StrOrPromise] | None = None,
) -> None:
    fields = fields or {}
    messages = messages or {}
    if exc.type_slug in messages:
        form.add_error(None, messages[exc.type_slug])
        return
    detail_needed = not exc.errors
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", [])]
        name = fields.get(loc[-1], loc[-1]) if loc else ""
        translated = messages.get(str(error.get("rule", "")))
        if name in form.fields:
            form.add_error(name, translated or str(error.get("msg") or exc.detail))
        elif translated:
            form.add_error(None, translated)
        else:
            detail_needed = True
    if detail_needed:
        form.add_error(None, exc.detail)
