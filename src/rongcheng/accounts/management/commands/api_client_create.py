"""`api_client_create --name NAME --department CODE --granted-by USERNAME [--scope SCOPE ...]`: register a department
system as an OAuth 2.0 client. Prints the client id and secret once; the secret is stored hashed and cannot be shown
again.

The system gets an account of kind `api_client` in its department, holding the permissions behind each scope
(settings.API_SCOPE_PERMISSIONS), and an application for the client-credentials grant owned by that account. Only
the scopes a client-credentials client may hold are accepted (accounts.permissions.SCOPES_BY_CLIENT_KIND: never an
administrator's or security administrator's), and granting them is an act of a security administrator, named by
`--granted-by` (an active account holding `oidc.manage_client`) and audited as theirs. Field entitlements (which
fields it sees in clear, for which purpose) are granted separately, like a role's.
"""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.accounts.permissions import scopes_allowed_for
from rongcheng.audit.services import Actor, actor_from_user, audit_record

KIND = "client-credentials"
# The security administrator's permission over clients (rongcheng.oidc.permissions.MANAGE_CLIENT, named here: this
# tier cannot import it).
MANAGE_CLIENT = "oidc.manage_client"


def _permissions(scopes: list[str]) -> list[Permission]:
    wanted = {name for scope in scopes for name in settings.API_SCOPE_PERMISSIONS.get(scope, ())}
    found = [
        permission
        for permission in Permission.objects.select_related("content_type")
        if f"{permission.content_type.app_label}.{permission.codename}" in wanted
    ]
    if len(found) != len(wanted):
        raise CommandError("settings.API_SCOPE_PERMISSIONS names a permission that does not exist; migrate first.")
    return found


def api_client_create(*, name: str, department_code: str, scopes: list[str], actor: Actor) -> tuple[Any, str]:
    """The new application and its secret in clear (the only time it exists in clear)."""
    forbidden = sorted(set(scopes) - scopes_allowed_for(KIND))
    if forbidden:
        audit_record(
            action="accounts.api_client.create", actor=actor, outcome="denied", target_type="accounts.user",
            detail={"name": name[:150], "department": department_code[:32], "scopes_refused": forbidden},
        )  # fmt: skip
        raise CommandError(f"A client-credentials client may not hold the scopes: {', '.join(forbidden)}.")
    department = Department.objects.filter(code=department_code).first()
    if department is None:
        raise CommandError(f"No department has the code {department_code!r}.")
    if User.objects.filter(username=name).exists():
        raise CommandError(f"An account named {name!r} exists already.")
    account = User(username=name, kind=AccountKind.API_CLIENT, department=department, display_name=name)
    account.set_unusable_password()  # a system never signs in to the pages
    try:
        account.full_clean()
    except ValidationError as exc:
        raise CommandError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())) from exc
    secret = generate_client_secret()
    Application = get_application_model()  # possibly swapped by settings
    with transaction.atomic():
        account.save()
        account.user_permissions.set(_permissions(scopes))
        application = Application.objects.create(
            name=name,
            user=account,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
        )
        audit_record(
            action="accounts.api_client.create", actor=actor, target_type="accounts.user", target_id=account.pk,
            detail={"client_id": application.client_id, "department": department.code, "scopes": sorted(scopes)},
        )  # fmt: skip
    return application, secret


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def security_administrator(username: str) -> Actor:
    """The actor granting the scopes: an active account holding oidc.manage_client; a refusal is audited."""
    user = User.objects.filter(username=username[:150], is_active=True).first()
    if user is None or not user.has_perm(MANAGE_CLIENT):
        audit_record(
            action="accounts.api_client.create", actor=Actor.system(f"manage.py api_client_create ({_operator()})"),
            outcome="denied", target_type="accounts.user",
            detail={"granted_by": username[:150], "permission": MANAGE_CLIENT},
        )  # fmt: skip
        raise CommandError(f"--granted-by must name an active security administrator holding {MANAGE_CLIENT}.")
    return actor_from_user(user)


class Command(BaseCommand):
    help = "Register a department system as an OAuth 2.0 API client; prints its client id and secret once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        scopes = sorted(scopes_allowed_for(KIND) & set(settings.OAUTH2_PROVIDER["SCOPES"]))
        parser.add_argument("--name", required=True, help="the system's account name, e.g. gaj-population-check")
        parser.add_argument("--department", required=True, help="code of the department that runs it, e.g. FZ-GAJ")
        parser.add_argument(
            "--granted-by", required=True, help="username of the security administrator who grants the scopes"
        )
        parser.add_argument(
            "--scope",
            action="append",
            choices=scopes,
            dest="scopes",
            help=f"a scope it may ask for (repeatable; default {settings.OAUTH2_PROVIDER['DEFAULT_SCOPES'][0]})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = options["scopes"] or list(settings.OAUTH2_PROVIDER["DEFAULT_SCOPES"])
        actor = security_administrator(options["granted_by"])
        application, secret = api_client_create(
            name=options["name"], department_code=options["department"], scopes=scopes, actor=actor
        )
        self.stdout.write(f"client_id: {application.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write(f"scopes: {' '.join(sorted(scopes))}")
        self.stdout.write("Keep the secret now: it is stored hashed and cannot be shown again.")
