"""The edge between a request and the session services: Django's `login` and `logout` act on the request (its
session, its user, the CSRF token), the services (`identity.services.sessions`) on the session store alone. The
pages, the API and the session middleware sign in and out through here, so each step is written once."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest

from rongcheng.accounts.models import User
from rongcheng.identity.models import AccountSession, SessionEnd
from rongcheng.identity.services import session_close, session_open, session_rekey, session_touch


def sign_in_complete(request: HttpRequest, *, user: User, method: str) -> AccountSession:
    """Complete a sign-in: Django's login (a new session key), then the session record."""
    login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])  # identity checked the factors itself
    return session_open(session=request.session, user=user, method=method)


def sign_out(request: HttpRequest, *, reason: str = SessionEnd.SIGNED_OUT) -> None:
    """End the current session with its record, then Django's logout."""
    session_close(session=request.session, user=request.user, reason=reason)
    logout(request)


def session_still_open(request: HttpRequest) -> bool:
    """Note the activity of a signed-in request; a session idle past the timeout is ended and signed out (False)."""
    if session_touch(session=request.session):
        return True
    sign_out(request, reason=SessionEnd.IDLE)
    return False


def session_key_changed(request: HttpRequest) -> None:
    """After Django cycled the session key (password change), point the record at the new key."""
    session_rekey(session=request.session)
