"""The three kinds of API caller every route is exercised as: a resident, a staff officer and a department system
holding a client-credentials token. Each holds a token with every scope its kind may be granted, so a route refuses
it by permission or by the data, never for want of a scope the route would check first."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.utils import timezone
from oauth2_provider.models import AccessToken, get_application_model, set_token_value

from rongcheng.accounts.models import AccountKind, User
from rongcheng.hall.tests import factories as hall

RESIDENT_SCOPES = "hall:apply licences:read registries:read openid profile"
STAFF_SCOPES = (
    "registries:read registries:write hall:decide licences:read licences:issue staff:admin oidc:clients openid"
)
CLIENT_SCOPES = "registries:read licences:read licences:issue"


@dataclass(frozen=True)
class Caller:
    kind: str
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _token(user: User, scope: str, *, client_credentials: bool) -> str:
    Application = get_application_model()
    grant = Application.GRANT_CLIENT_CREDENTIALS if client_credentials else Application.GRANT_AUTHORIZATION_CODE
    application = Application.objects.create(
        name=f"system-{user.username}", user=user, client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=grant, redirect_uris="" if client_credentials else "https://tool.example/cb",
    )  # fmt: skip
    raw = secrets.token_urlsafe(32)
    token = AccessToken(
        user=None if client_credentials else user, application=application, scope=scope,
        expires=timezone.now() + dt.timedelta(hours=1),
    )  # fmt: skip
    set_token_value(token, raw)
    token.save()
    return raw


def callers() -> list[Caller]:
    """A resident bound to a person, an officer who may decide and issue, and an API client; with a service to use."""
    hall.service()
    resident = hall.applicant("resident-caller")
    officer = hall.officer("officer-caller")
    officer.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["licences", "registries"]))
    system = User.objects.create_user(
        username="system-caller", kind=AccountKind.API_CLIENT, department=officer.department
    )
    system.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["licences", "registries"]))
    return [
        Caller("resident", resident, _token(resident, RESIDENT_SCOPES, client_credentials=False)),
        Caller("officer", User.objects.get(pk=officer.pk), _token(officer, STAFF_SCOPES, client_credentials=False)),
        Caller("client", system, _token(system, CLIENT_SCOPES, client_credentials=True)),
    ]
