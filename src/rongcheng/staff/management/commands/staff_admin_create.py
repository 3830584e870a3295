"""`rongcheng manage staff_admin_create --username U --department CODE --duty system|security|audit`.

Installs one of the three administrators: a staff account with a random initial password (printed once, to be
changed at the first sign-in) and the role of that duty for the whole city. This, run three times for three people,
replaces the superuser of a fresh installation; after that the security administrator grants every other role in
the pages.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from rongcheng.accounts.models import Department
from rongcheng.audit.services import Actor
from rongcheng.kernel.errors import DomainError
from rongcheng.staff.models import ADMINISTRATOR_DUTIES, Role
from rongcheng.staff.services import role_grant_by_system, staff_account_create_by_system

INSTALLER = Actor(kind="system", id="staff_admin_create", label="installation")


class Command(BaseCommand):
    help = "Create an administrator account holding exactly one of the three administrator duties."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--display-name", default="")
        parser.add_argument("--department", required=True, help="department code, e.g. FZ-SZB")
        parser.add_argument("--duty", required=True, choices=[str(d) for d in ADMINISTRATOR_DUTIES])

    def handle(self, *args: Any, **options: Any) -> None:
        department = Department.objects.filter(code=options["department"]).first()
        if department is None:
            raise CommandError(f"No department with code {options['department']}.")
        role = Role.objects.filter(duty=options["duty"], city_wide=True).order_by("id").first()
        if role is None:
            raise CommandError(f"No city-wide role of the {options['duty']} duty; run the demo seeding or define one.")
        try:
            with transaction.atomic():
                user, password = staff_account_create_by_system(
                    username=options["username"], display_name=options["display_name"] or options["username"],
                    department=department, actor=INSTALLER,
                )  # fmt: skip
                role_grant_by_system(user=user, role=role, department=None, actor=INSTALLER)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"{user.username}\t{password}\t{role.name} ({options['duty']})")
