"""`api_client_create --name NAME --department CODE [--scope SCOPE ...]`: register a department system as an OAuth 2.0
client. Prints the client id and secret once; the secret is stored hashed and cannot be shown again.

The system gets an account of kind `api_client` in its department, holding the permissions behind each scope
(settings.API_SCOPE_PERMISSIONS), and an application for the client-credentials grant owned by that account. Field
entitlements (which fields it sees in clear, for which purpose) are granted separately, like a role's.
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
from rongcheng.audit.services import Actor, audit_record


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


def _operator() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor.system(f"manage.py api_client_create ({user})")


class Command(BaseCommand):
    help = "Register a department system as an OAuth 2.0 API client; prints its client id and secret once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        scopes = sorted(settings.OAUTH2_PROVIDER["SCOPES"])
        parser.add_argument("--name", required=True, help="the system's account name, e.g. gaj-population-check")
        parser.add_argument("--department", required=True, help="code of the department that runs it, e.g. FZ-GAJ")
        parser.add_argument(
            "--scope",
            action="append",
            choices=scopes,
            dest="scopes",
            help=f"a scope it may ask for (repeatable; default {settings.OAUTH2_PROVIDER['DEFAULT_SCOPES'][0]})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = options["scopes"] or list(settings.OAUTH2_PROVIDER["DEFAULT_SCOPES"])
        application, secret = api_client_create(
            name=options["name"], department_code=options["department"], scopes=scopes, actor=_operator()
        )
        self.stdout.write(f"client_id: {application.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write(f"scopes: {' '.join(sorted(scopes))}")
        self.stdout.write("Keep the secret now: it is stored hashed and cannot be shown again.")
