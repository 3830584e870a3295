"""Flag and escalate applications near or past their deadline. Run it periodically, e.g. every hour from a systemd
timer or cron: `rongcheng manage hall_escalate` (docs/operations.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rongcheng.hall.services import applications_escalate


class Command(BaseCommand):
    help = "Flag applications near or past their statutory deadline and escalate them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=dt.date.fromisoformat, default=None, help="the day to judge (default today)")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = applications_escalate(today=options["date"])
        self.stdout.write(f"overdue {counts['overdue']}, near {counts['near']}")
