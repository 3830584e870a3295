"""Unified identity (统一身份认证) over HTTP: the signed-in account, its sessions. The pages call the same services."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema, Status

from rongcheng.accounts.api_auth import SignedInSession
from rongcheng.accounts.models import User
from rongcheng.identity.selectors import account_summary, session_list_for_user
from rongcheng.identity.services import SESSION_RECORD, session_end
from rongcheng.identity.web import sign_out
from rongcheng.kernel.schema_types import RecordId

router = Router(tags=["identity"])


class MeOut(Schema):
    username: str
    display_name: str
    kind: str
    level: int
    id_number_masked: str
    phone_masked: str
    has_authenticator: bool


class SessionOut(Schema):
    id: int
    method: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    source_address: str | None
    user_agent: str
    current: bool


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]  # set by ninja after authentication
    assert isinstance(user, User)  # noqa: S101  # SignedInSession only admits accounts
    return user


@router.get("/me", response=MeOut, auth=[SignedInSession("identity.me")], summary="The signed-in account")
def me(request: HttpRequest) -> MeOut:
    summary = account_summary(user=_user(request))
    return MeOut(
        username=summary.username, display_name=summary.display_name, kind=summary.kind, level=summary.level,
        id_number_masked=summary.id_number_masked, phone_masked=summary.phone_masked,
        has_authenticator=summary.has_authenticator,
    )  # fmt: skip


@router.get(
    "/sessions", response=list[SessionOut], auth=[SignedInSession("identity.sessions")], summary="Active sessions"
)
def sessions(request: HttpRequest) -> list[SessionOut]:
    current = request.session.get(SESSION_RECORD)
    return [
        SessionOut(
            id=s.pk,
            method=s.method,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            source_address=s.source_address,
            user_agent=s.user_agent,
            current=s.pk == current,
        )
        for s in session_list_for_user(user=_user(request))
    ]


@router.post(
    "/sessions/{session_id}/end", response={204: None}, auth=[SignedInSession("identity.session.end")],
    summary="End one of the account's sessions",
)  # fmt: skip
def end_session(request: HttpRequest, session_id: RecordId) -> Status[None]:
    """Ending the current session signs it out; any other of the account's sessions is deleted at once."""
    if session_id == request.session.get(SESSION_RECORD):
        sign_out(request)
    else:
        session_end(user=_user(request), session_id=session_id)
    return Status(204, None)
