"""`rongcheng manage cleanup`: run every app's clean-up job (expired grants, codes, sessions, cache rows, the
summaries of rate-limited requests). Idempotent; run it from a timer (docs/operations.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rongcheng.kernel.jobs import cleanup_jobs


class Command(BaseCommand):
    help = "Delete expired grants, codes and sessions, and summarise rate-limited requests (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", action="append", default=[], metavar="JOB", help="run only this job (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = cleanup_jobs()
        unknown = set(options["only"]) - {job.name for job in jobs}
        if unknown:
            names = ", ".join(job.name for job in jobs)
            self.stderr.write(f"No clean-up job {', '.join(sorted(unknown))}; the jobs are {names}.")
            raise SystemExit(2)
        for job in jobs:
            if options["only"] and job.name not in options["only"]:
                continue
            count = job.run()
            self.stdout.write(f"{job.name}: {count} ({job.description})")
