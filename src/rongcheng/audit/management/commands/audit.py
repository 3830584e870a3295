"""`audit verify | seal | export | purge`: the operator's handle on the trail (`rongcheng audit ...` calls this).

`verify` exits 1 and names the first bad record when the chain is broken, so monitoring can alert on the exit code.
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rongcheng.audit.selectors import audit_verify
from rongcheng.audit.services import Actor, audit_export, audit_purge, audit_seal_all
from rongcheng.kernel.errors import DomainError


def _day(value: str) -> dt.datetime:
    """Start of the given day in the platform's time zone (Asia/Shanghai)."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ArgumentTypeError(f"{value!r} is not a date in YYYY-MM-DD form") from exc
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _expected_link(value: str) -> tuple[int, bytes]:
    sequence, _, mac = value.partition(":")
    try:
        return int(sequence), bytes.fromhex(mac)
    except ValueError as exc:
        raise ArgumentTypeError(f"{value!r} is not SEQUENCE:MAC_HEX, as logged by the sealer") from exc


def _operator() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor.system(f"manage.py audit ({user})")


class Command(BaseCommand):
    help = "Verify, seal, export or purge the audit trail."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True)
        verify = commands.add_parser("verify", help="recompute the HMAC-SM3 chain; exit 1 at the first bad record")
        verify.add_argument(
            "--expect", type=_expected_link, metavar="SEQ:MAC", help="a head logged earlier, kept outside the database"
        )
        seal = commands.add_parser("seal", help="seal every queued record into the chain")
        seal.add_argument("--follow", action="store_true", help="keep sealing, for a sidecar process")
        seal.add_argument("--interval", type=float, default=1.0, help="seconds between rounds with --follow")
        export = commands.add_parser("export", help="copy sealed records to a JSON lines file")
        export.add_argument("--since", type=_day, help="first day (YYYY-MM-DD), inclusive")
        export.add_argument("--until", type=_day, help="last day (YYYY-MM-DD), exclusive")
        export.add_argument("file", type=Path)
        purge = commands.add_parser(
            "purge", help="export, then delete records from before a day at least the retention period ago"
        )
        purge.add_argument("--before", type=_day, required=True, help="purge records before this day (YYYY-MM-DD)")
        purge.add_argument("--export", type=Path, required=True, dest="export_to", help="file for the purged records")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['subcommand']}")(**options)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc

    def _verify(self, *, expect: tuple[int, bytes] | None, **_: Any) -> None:
        result = audit_verify(expect=expect)
        if not result.ok:
            raise CommandError(result.message, returncode=1)
        self.stdout.write(result.message)

    def _seal(self, *, follow: bool, interval: float, **_: Any) -> None:
        while True:
            sealed = audit_seal_all()
            if sealed or not follow:
                self.stdout.write(f"sealed {sealed} records")
            if not follow:
                return
            time.sleep(interval)

    def _export(self, *, file: Path, since: dt.datetime | None, until: dt.datetime | None, **_: Any) -> None:
        result = audit_export(to=file, since=since, until=until, actor=_operator())
        self.stdout.write(f"exported {result.count} records to {result.path} (SM3 {result.digest})")

    def _purge(self, *, before: dt.datetime, export_to: Path, **_: Any) -> None:
        result = audit_purge(before=before, export_to=export_to, actor=_operator())
        if result.export is None:
            self.stdout.write(f"nothing to purge before {before:%Y-%m-%d}")
            return
        self.stdout.write(
            f"purged {result.purged} records (links {result.export.first_sequence}–{result.export.last_sequence}); "
            f"exported to {result.export.path} (SM3 {result.export.digest})"
        )
