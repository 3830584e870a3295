"""Signed-in sessions: opening one after the factors, signing out, ending one from elsewhere, the idle timeout.

The services keep the session record, its audit and the keys they keep in Django's session store (`SessionBase`,
passed in); Django's own `login` and `logout`, which need the request, are the adapter's (`identity.web`).
"""

from __future__ import annotations

import datetime as dt
from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F

from rongcheng.accounts.models import User
from rongcheng.audit.services import Actor, actor_from_user
from rongcheng.identity import policy
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    SessionNotFound,
)
from rongcheng.identity.models import (
    AccountSession,
    SessionEnd,
    SignInGuard,
)
from rongcheng.identity.services.context import (
    SESSION_RECORD,
    SESSION_RECORDED,
    SESSION_SEEN,
    _audit,
)
from rongcheng.kernel.context import Account, current_address, current_user_agent

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

# How often the session record's "last seen" is written: the idle timeout itself is checked on every request.
LAST_SEEN_RESOLUTION = dt.timedelta(seconds=60)


def session_open(*, session: SessionBase, user: User, method: str) -> AccountSession:
    """Complete a sign-in, once Django's login gave the session a new key: the session record, the failure counter
    reset, the audit record."""
    now = clock.now()
    with transaction.atomic():
        record = AccountSession.objects.create(
            user=user, session_key=session.session_key or "", method=method, created_at=now,
            last_seen_at=now, source_address=current_address(), user_agent=current_user_agent(),
        )  # fmt: skip
        SignInGuard.objects.filter(user=user).update(failures=0, locked_until=None)
        _audit("identity.sign_in", actor=actor_from_user(user), target=user,
               detail={"method": method, "session": record.pk})  # fmt: skip
    session[SESSION_RECORD] = record.pk
    session[SESSION_SEEN] = now.timestamp()
    session[SESSION_RECORDED] = now.timestamp()
    return record


def _session_store_delete(session_key: str) -> None:
    if session_key:
        import_module(settings.SESSION_ENGINE).SessionStore().delete(session_key)


def session_close(*, session: SessionBase, user: Account, reason: str = SessionEnd.SIGNED_OUT) -> None:
    """End the current session (the person signed out, or it sat idle too long) and record why; Django's logout,
    which flushes the session, follows in the adapter. Nothing is recorded for an anonymous visitor."""
    record_id = session.get(SESSION_RECORD)
    now = clock.now()
    if isinstance(user, User):
        with transaction.atomic():
            if record_id:
                AccountSession.objects.filter(pk=record_id, user=user, ended_at__isnull=True).update(
                    ended_at=now, end_reason=reason
                )
            action = "identity.sign_out" if reason == SessionEnd.SIGNED_OUT else "identity.session.end"
            _audit(action, actor=actor_from_user(user), target=user,
                   detail={"session": record_id or "", "reason": str(reason)})  # fmt: skip


SWEEPER = Actor(kind="system", id="identity-sessions-sweep", label="idle session sweep")


def sessions_idle_end() -> int:
    """End, with their record, the sessions nobody came back to: a browser whose cookie expired (its max-age is the
    idle timeout) never sends the request on which `session_touch` would end the session. Run periodically
    (`rongcheng manage identity_sessions_sweep`). Each ends as of its last activity plus the idle timeout."""
    timeout = policy.idle_timeout()
    cutoff = clock.now() - timeout - LAST_SEEN_RESOLUTION  # "last seen" is written at most once a resolution
    ended = 0
    stale = AccountSession.objects.filter(ended_at__isnull=True, last_seen_at__lt=cutoff).select_related("user")
    for record in stale.iterator():
        with transaction.atomic():
            if not AccountSession.objects.filter(pk=record.pk, ended_at__isnull=True).update(
                ended_at=record.last_seen_at + timeout, end_reason=SessionEnd.IDLE
            ):
                continue  # ended meanwhile by its holder
            _session_store_delete(record.session_key)
            _audit("identity.session.end", actor=SWEEPER, target=record.user,
                   detail={"session": record.pk, "reason": str(SessionEnd.IDLE)})  # fmt: skip
        ended += 1
    return ended


def session_end(*, user: User, session_id: int) -> AccountSession:
    """The account holder ends one of their sessions: Django's session is deleted, so that browser is signed out."""
    with transaction.atomic():
        record = (
            AccountSession.objects.select_for_update().filter(pk=session_id, user=user, ended_at__isnull=True).first()
        )
        if record is None:
            raise SessionNotFound("No such active session of this account.")
        _session_store_delete(record.session_key)
        record.ended_at = clock.now()
        record.end_reason = SessionEnd.ENDED_BY_USER
        record.save(update_fields=["ended_at", "end_reason"])
        _audit("identity.session.end", actor=actor_from_user(user), target=user,
               detail={"session": record.pk, "reason": SessionEnd.ENDED_BY_USER})  # fmt: skip
    return record


def session_touch(*, session: SessionBase) -> bool:
    """Called by the middleware on each request of a signed-in account. False when the session has been idle longer
    than the timeout (the adapter then ends it with `session_close` and signs out); otherwise notes the activity."""
    now = clock.now()
    seen = session.get(SESSION_SEEN)
    if isinstance(seen, (int, float)) and now.timestamp() - seen > policy.idle_timeout().total_seconds():
        return False
    # Activity is noted at most once a LAST_SEEN_RESOLUTION (60 s): a page view within it writes nothing (no session
    # save, no transaction), so the idle timeout counts from the last noted activity, up to 60 s early.
    if isinstance(seen, (int, float)) and now.timestamp() - seen < LAST_SEEN_RESOLUTION.total_seconds():
        return True
    session[SESSION_SEEN] = now.timestamp()
    record_id = session.get(SESSION_RECORD)
    recorded = session.get(SESSION_RECORDED, 0)
    if record_id and now.timestamp() - float(recorded) >= LAST_SEEN_RESOLUTION.total_seconds():
        AccountSession.objects.filter(pk=record_id, ended_at__isnull=True).update(
            last_seen_at=now, session_key=session.session_key or F("session_key")
        )
        session[SESSION_RECORDED] = now.timestamp()
    return True


def session_rekey(*, session: SessionBase) -> None:
    """After Django cycled the session key (password change), point the record at the new key."""
    record_id = session.get(SESSION_RECORD)
    if record_id and session.session_key:
        AccountSession.objects.filter(pk=record_id).update(session_key=session.session_key)


def sessions_expired_close() -> int:
    """The clean-up job's part for sessions: end (with their record) the sessions idle past the timeout, then delete
    Django's expired sessions; the records stay, ended, in the account's history."""
    closed = sessions_idle_end()
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return closed
