"""`rongcheng manage staff_duties_check`: report every breach of the separation of administrator duties (三员分立).

Exit status 0 when there is none, 1 otherwise (for monitoring). An active superuser is always reported: it holds
every duty and is meant only for emergencies (see docs/operations.md).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rongcheng.staff.selectors import duty_holders, duty_violations


class Command(BaseCommand):
    help = "Report accounts and roles that break the separation of administrator duties."

    def handle(self, *args: Any, **options: Any) -> None:
        for holder in duty_holders():
            state = "" if holder.active else " (disabled)"
            self.stdout.write(f"     {holder.username}{state}: {', '.join(holder.duties)}")
        violations = duty_violations()
        for violation in violations:
            self.stdout.write(f"FAIL {violation.code} {violation.subject}: {violation.message}")
        if violations:
            raise CommandError(f"{len(violations)} breach(es) of the separation of administrator duties.")
        self.stdout.write("ok   separation of administrator duties")
