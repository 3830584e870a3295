"""End the sessions left idle past the timeout whose browser never came back, each with its end record. Run it
periodically, e.g. every 5 minutes from a systemd timer or cron: `rongcheng manage identity_sessions_sweep`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from rongcheng.identity.services import sessions_idle_end


class Command(BaseCommand):
    help = "End idle sessions whose browser never came back, recording each end in the audit trail."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"ended {sessions_idle_end()}")
