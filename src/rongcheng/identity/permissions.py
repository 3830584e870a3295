"""Predicates of the identity platform, for services, views and templates; `assurance_required` for other apps."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from rongcheng.accounts.models import AccountKind, AssuranceLevel
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.identity.errors import AssuranceLevelTooLow
from rongcheng.kernel.context import Account
from rongcheng.kernel.errors import NotAuthenticated

VERIFY_IN_PERSON = "identity.verify_in_person"

F = TypeVar("F", bound=Callable[..., Any])


def may_verify_in_person(user: Account) -> bool:
    return bool(
        is_signed_in(user)
        and user.kind == AccountKind.STAFF
        and user.department_id is not None
        and user.has_perm(VERIFY_IN_PERSON)
    )


def has_assurance(user: Account | None, level: int) -> bool:
    return is_signed_in(user) and int(user.assurance_level) >= level


def step_up_url(level: int, next_url: str) -> str:
    return f"{reverse('identity:step-up')}?{urlencode({'level': str(level), 'next': next_url})}"


def assurance_check(user: Account, level: int) -> None:
    """For services and API operations: raise a domain error (a problem document under /api/) below `level`."""
    if not is_signed_in(user):
        raise NotAuthenticated("Sign in first.")
    if not has_assurance(user, level):
        raise AssuranceLevelTooLow(
            f"This service needs assurance level L{level}; the account is at L{int(user.assurance_level)}.",
            required_level=level, current_level=int(user.assurance_level), step_up=step_up_url(level, "/"),
        )  # fmt: skip


def assurance_required(level: int | AssuranceLevel) -> Callable[[F], F]:
    """Decorate a page view (or a ninja operation) needing real-name level `level`.

    A page redirects an anonymous visitor to sign-in and a lower account to the step-up page, each with `next`; an
    API call (a path under /api/) gets the problem document of AssuranceLevelTooLow or NotAuthenticated.
    """
    required = int(level)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            user = getattr(request, "auth", None) or request.user
            if request.path.startswith("/api/"):
                assurance_check(user, required)
            elif not user.is_authenticated:
                sign_in = reverse(settings.LOGIN_URL)
                return HttpResponseRedirect(f"{sign_in}?{urlencode({'next': request.get_full_path()})}")
            elif not has_assurance(user, required):
                return HttpResponseRedirect(step_up_url(required, request.get_full_path()))
            return view(request, *args, **kwargs)

        return cast(F, wrapped)

    return decorate
