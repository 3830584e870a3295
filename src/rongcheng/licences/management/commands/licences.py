"""Operator commands for electronic licences: rotate a department's signing key, run the daily expiry.

rongcheng manage licences rotate-key FZ-MZJ [--days 1095]
rongcheng manage licences expire
"""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rongcheng.accounts.models import Department
from rongcheng.audit.services import Actor
from rongcheng.licences.keys import DEFAULT_KEY_DAYS, department_key_rotate
from rongcheng.licences.services import licences_expire_due


def _operator() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor.system(f"manage licences ({user})")


class Command(BaseCommand):
    help = "Rotate a department's licence signing key, or expire licences whose validity ended."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        rotate = commands.add_parser("rotate-key", help="generate the department's new key; the old one retires")
        rotate.add_argument("department", help="department code, e.g. FZ-MZJ")
        rotate.add_argument("--days", type=int, default=DEFAULT_KEY_DAYS, help="how long the new key may sign")
        commands.add_parser("expire", help="move licences whose validity period ended to expired")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "expire":
            self.stdout.write(f"{licences_expire_due(actor=_operator())} licences expired")
            return
        department = Department.objects.filter(code=options["department"]).first()
        if department is None:
            raise CommandError(f"No department has the code {options['department']!r}.")
        if not department.credit_code:
            raise CommandError("The department has no unified social credit code; licence identifiers need it.")
        try:
            key = department_key_rotate(department=department, actor=_operator(), valid_days=options["days"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{department.code}: new signing key {key.key_id}, signs until {key.not_after:%Y-%m-%d}")
