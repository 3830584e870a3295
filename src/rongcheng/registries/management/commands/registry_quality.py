"""`registry_quality`: run the data-quality checks of the base registries and print the report.

Exits 1 when an issue is found, so a scheduled run can alert on the exit code.
"""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rongcheng.audit.services import Actor
from rongcheng.registries.quality import LISTED_MAX, QualityReport, registry_quality_check


def _operator() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor.system(f"manage.py registry_quality ({user})")


def report_lines(report: QualityReport) -> list[str]:
    """The report as plain text; identifiers are masked as on the page."""
    lines = [
        f"registry quality check at {timezone.localtime(report.checked_at):%Y-%m-%d %H:%M:%S}: "
        f"{report.issue_count} issue(s)",
        f"likely duplicate persons: {report.duplicate_count} group(s)",
    ]
    for group in report.duplicates:
        records = ", ".join(f"{pk} ({masked})" for pk, masked in zip(group.record_ids, group.id_numbers, strict=True))
        lines.append(f"  {group.name} {group.sex} {group.division_code}: records {records}")
    lines.append(f"legal representatives who are not living persons: {report.representative_count}")
    for issue in report.representatives:
        lines.append(
            f"  entity {issue.entity_id} {issue.credit_code}: representative {issue.person_id} is {issue.person_status}"
        )
    lines.append(
        f"addresses outside their division: {report.address_outside_count} of {report.addresses_checked} checked "
        f"(skipped: {report.addresses_without_point} without a point, "
        f"{report.addresses_without_geometry} in a division without grid cells)"
    )
    for address in report.addresses_outside:
        lines.append(f"  address {address.address_id} {address.division_code}: {address.longitude},{address.latitude}")
    listed = max(len(report.duplicates), len(report.representatives), len(report.addresses_outside))
    if listed < max(report.duplicate_count, report.representative_count, report.address_outside_count):
        lines.append(f"(at most {listed} listed of each kind; use --limit for more)")
    return lines


class Command(BaseCommand):
    help = "Check the base registries for likely duplicates, non-living representatives and misplaced addresses."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=LISTED_MAX, help=f"items listed of each kind (default {LISTED_MAX})"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 0:
            raise CommandError("--limit must not be negative.")
        report = registry_quality_check(actor=_operator(), limit=options["limit"])
        for line in report_lines(report):
            self.stdout.write(line)
        if report.issue_count:
            raise CommandError(f"{report.issue_count} data-quality issue(s) found.", returncode=1)
