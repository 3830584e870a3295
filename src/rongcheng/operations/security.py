"""The security rules: what makes a security event, with thresholds in settings.OPERATIONS_SECURITY_RULES.

Two sources. Sign-in failures and lockouts (identity) and failed licence verifications (licences) arrive as domain
events the moment they commit; the rules count in the audit trail or in the shared counters (the same in every
process) whether a threshold is crossed. Everything else is read from the audit trail by the `security.scan` job
every minute, from where it stopped (a cursor), so nothing is missed when no worker runs for a while: a revoked
refresh token used again, an administrator duty granted or revoked, a new API client, a staff account reading many
persons or persons outside its department's jurisdiction, a sign-in from a new network outside the configured
address ranges. `audit.verify` runs daily and a broken chain is a critical event.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.selectors import TARGETS
from rongcheng.identity.events import AccountLocked, SignInFailed
from rongcheng.kernel.crypto import sm3_digest
from rongcheng.licences.events import LicenceVerificationFailed
from rongcheng.operations import metrics
from rongcheng.operations.models import ScanCursor, Severity
from rongcheng.operations.services import rule_setting, security_event_raise

SCAN_BATCH = 5000
ADMINISTRATOR_DUTIES = ("system", "security", "audit")


def _since(rule: str) -> tuple[int, dt.datetime]:
    seconds = rule_setting(rule, "seconds")
    return seconds, timezone.now() - dt.timedelta(seconds=seconds)


def on_sign_in_failed(event: SignInFailed) -> None:
    metrics.SIGN_IN_FAILURES.labels(event.method or "password").inc()
    failures = AuditRecord.objects.filter(action="identity.sign_in", outcome="failure")
    if event.user_id is not None:
        seconds, since = _since("brute_force")
        count = failures.filter(target_id=str(event.user_id), occurred_at__gte=since).count()
        if count >= rule_setting("brute_force", "failures"):
            security_event_raise(rule="brute_force", severity=Severity.MEDIUM, subject_type="accounts.user",
                                 subject_id=str(event.user_id), window_seconds=seconds,
                                 evidence={"failures": count, "window_seconds": seconds})  # fmt: skip
    if event.source_address:
        seconds, since = _since("credential_stuffing")
        rows = failures.filter(source_address=event.source_address, occurred_at__gte=since).values_list(
            "target_id", "detail"
        )
        accounts = {target or f"unknown:{(detail or {}).get('username', '')}" for target, detail in rows}
        if len(accounts) >= rule_setting("credential_stuffing", "accounts"):
            security_event_raise(rule="credential_stuffing", severity=Severity.HIGH, subject_type="address",
                                 subject_id=event.source_address, window_seconds=seconds,
                                 evidence={"accounts": len(accounts), "failures": len(rows),
                                           "window_seconds": seconds})  # fmt: skip


def on_account_locked(event: AccountLocked) -> None:
    metrics.LOCKOUTS.inc()
    seconds = rule_setting("lockout", "seconds")
    security_event_raise(rule="lockout", severity=Severity.MEDIUM, subject_type="accounts.user",
                         subject_id=str(event.user_id), window_seconds=seconds,
                         evidence={"failures": event.failures})  # fmt: skip


def _window_count(key: str, seconds: int) -> int:
    """Add one to a counter shared by every worker process (the kernel's database cache) for the current window of
    `seconds`; the new count. The key is digested: no address is stored in clear."""
    window = int(timezone.now().timestamp()) // max(1, seconds)
    full = f"sec:{sm3_digest(key.encode()).hex()[:32]}:{window}"
    cache = caches["default"]
    if hasattr(cache, "count"):  # kernel.cache.SharedDatabaseCache: one statement
        return int(cache.count(full, timeout=seconds + 5))
    if cache.add(full, 1, timeout=seconds + 5):
        return 1
    try:
        return int(cache.incr(full))
    except ValueError:
        cache.add(full, 1, timeout=seconds + 5)
        return 1


def on_licence_verification_failed(event: LicenceVerificationFailed) -> None:
    """A stored licence that fails its own signature is critical at once (altered in the database, or a key
    problem); presented documents that are not authentic count, with unknown identifiers, against their address."""
    if event.what == "licence":
        seconds = rule_setting("licence_verification", "seconds")
        security_event_raise(rule="licence_verification", severity=Severity.CRITICAL,
                             subject_type="licences.licence", subject_id=event.identifier, window_seconds=seconds,
                             evidence={"failure": "stored_signature", "key_id": event.key_id})  # fmt: skip
        return
    licence_verification_failure_count(event.source_address, "forged_document")


def licence_verification_failure_count(address: str | None, kind: str) -> None:
    """One failed verification (an unknown licence, a document that is not authentic) from `address`; at the rule's
    threshold within its window, an event about the address."""
    seconds = rule_setting("licence_verification", "seconds")
    subject = address or "unknown"
    count = _window_count(f"licence_verification:{subject}", seconds)
    if count >= rule_setting("licence_verification", "failures"):
        security_event_raise(rule="licence_verification", severity=Severity.MEDIUM, subject_type="address",
                             subject_id=subject, window_seconds=seconds,
                             evidence={"failures": count, "last_failure": kind,
                                       "window_seconds": seconds})  # fmt: skip


# --- the audit-trail scan ---------------------------------------------------------------------------------------------


def audit_trail_scan(*, batch: int = SCAN_BATCH) -> int:
    """Apply the trail's rules to the records written since the last scan; returns the records read."""
    with transaction.atomic():
        cursor, _ = ScanCursor.objects.select_for_update().get_or_create(name="audit")
        rows = list(
            AuditRecord.objects.filter(pk__gt=cursor.position)
            .order_by("pk")
            .values("pk", "action", "outcome", "actor_kind", "actor_id", "actor_label", "target_id", "source_address",
                    "detail")[:batch]
        )  # fmt: skip
        if not rows:
            return 0
        readers: Counter[str] = Counter()
        for row in rows:
            _apply(row)
            if row["action"] == "registries.person.read" and row["outcome"] == "success" and row["actor_id"]:
                readers[row["actor_id"]] += 1
            elif row["action"] == "identity.sign_in" and row["outcome"] == "success" and row["source_address"]:
                _new_address_range(row)
        if readers:
            _mass_reads(readers)
            _outside_department(readers)
        cursor.position = rows[-1]["pk"]
        cursor.save(update_fields=["position"])
    return len(rows)


def _apply(row: Mapping[str, Any]) -> None:
    action, outcome = row["action"], row["outcome"]
    detail = row["detail"] or {}
    if action == "oidc.refresh_token.reuse":
        seconds = rule_setting("refresh_token_reuse", "seconds")
        security_event_raise(rule="refresh_token_reuse", severity=Severity.HIGH, subject_type="oidc.client",
                             subject_id=str(detail.get("client_id") or row["actor_label"]), window_seconds=seconds,
                             evidence={"audit_record": row["pk"],
                                       "family_revoked": bool(detail.get("family_revoked"))})  # fmt: skip
    elif action in ("staff.assignment.grant", "staff.assignment.revoke") and outcome == "success":
        duty = str(detail.get("duty", ""))
        if duty in ADMINISTRATOR_DUTIES:
            seconds = rule_setting("duty_change", "seconds")
            security_event_raise(rule="duty_change", severity=Severity.HIGH, subject_type="accounts.user",
                                 subject_id=str(row["target_id"]), window_seconds=seconds,
                                 evidence={"audit_record": row["pk"], "duty": duty, "change": action.rsplit(".", 1)[1],
                                           "by_account": row["actor_id"]})  # fmt: skip
    elif action == "oidc.client.register" and outcome == "success":
        seconds = rule_setting("new_api_client", "seconds")
        security_event_raise(rule="new_api_client", severity=Severity.LOW, subject_type="oidc.client",
                             subject_id=str(row["target_id"]), window_seconds=seconds,
                             evidence={"audit_record": row["pk"], "grant_type": str(detail.get("grant_type", "")),
                                       "by_account": row["actor_id"]})  # fmt: skip


def _mass_reads(readers: Counter[str]) -> None:
    seconds, since = _since("mass_read")
    threshold = rule_setting("mass_read", "persons")
    for actor_id in readers:
        count = AuditRecord.objects.filter(
            action="registries.person.read", outcome="success", actor_id=actor_id, occurred_at__gte=since
        ).count()
        if count >= threshold:
            security_event_raise(rule="mass_read", severity=Severity.MEDIUM, subject_type="accounts.user",
                                 subject_id=actor_id, window_seconds=seconds,
                                 evidence={"person_reads": count, "window_seconds": seconds})  # fmt: skip


def jurisdiction_prefix(division_code: str) -> str:
    """The division codes a department's division covers: 350100 (the city) covers 3501xx, 350102 only itself,
    350000 (the province) 35xxxx."""
    code = division_code.strip()
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def _outside_department(readers: Iterable[str]) -> None:
    """Staff accounts reading persons registered outside their department's jurisdiction (distinct persons in the
    rule's window). Department systems (API clients) read for their declared purposes and are not counted here."""
    from rongcheng.accounts.models import AccountKind, User
    from rongcheng.registries.models import Person

    seconds, since = _since("outside_department")
    threshold = rule_setting("outside_department", "persons")
    staff = User.objects.filter(
        pk__in=[int(a) for a in readers if a.isdigit()], kind=AccountKind.STAFF, department__isnull=False
    ).select_related("department")
    for user in staff:
        department = user.department
        if department is None:  # filtered out above
            continue
        # A record names one person, or (a page read through the exchange, on PostgreSQL) lists those of its page.
        person_ids = {
            int(target)
            for target_id, listed in AuditRecord.objects.filter(
                action="registries.person.read", outcome="success", actor_kind="user", actor_id=str(user.pk),
                occurred_at__gte=since,
            ).values_list("target_id", f"detail__{TARGETS}")
            for target in (listed if isinstance(listed, list) else [target_id])
            if isinstance(target, str) and target.isdigit()
        }  # fmt: skip
        prefix = jurisdiction_prefix(department.division_code)
        outside = Person.objects.filter(pk__in=person_ids).exclude(division_code__startswith=prefix).count()
        if outside >= threshold:
            security_event_raise(rule="outside_department", severity=Severity.MEDIUM, subject_type="accounts.user",
                                 subject_id=str(user.pk), window_seconds=seconds,
                                 evidence={"persons_outside": outside, "department": department.code,
                                           "jurisdiction": department.division_code,
                                           "window_seconds": seconds})  # fmt: skip


def _network_of(address: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = rule_setting("new_address_range", "prefix_v4" if ip.version == 4 else "prefix_v6")
    return ipaddress.ip_network(f"{ip}/{prefix}", strict=False)


def _address_ranges() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.OPERATIONS_SECURITY_ADDRESS_RANGES]


def _new_address_range(row: Mapping[str, Any]) -> None:
    """A sign-in from outside the configured ranges, from a network the account never signed in from before."""
    ranges = _address_ranges()
    if not ranges:
        return
    ip = ipaddress.ip_address(row["source_address"])
    if any(ip in network for network in ranges):
        return
    network = _network_of(row["source_address"])
    earlier = [
        ipaddress.ip_address(address)
        for address in AuditRecord.objects.filter(
            action="identity.sign_in", outcome="success", actor_id=row["actor_id"], pk__lt=row["pk"],
            source_address__isnull=False,
        ).order_by("-pk").values_list("source_address", flat=True)[:1000]
        if address
    ]  # fmt: skip
    if network is None or any(address.version == ip.version and address in network for address in earlier):
        return
    seconds = rule_setting("new_address_range", "seconds")
    security_event_raise(rule="new_address_range", severity=Severity.HIGH, subject_type="accounts.user",
                         subject_id=str(row["actor_id"]), window_seconds=seconds,
                         evidence={"audit_record": row["pk"], "network": str(network),
                                   "earlier_sign_ins": len(earlier)})  # fmt: skip


def audit_chain_check() -> int:
    """Verify the audit chain; a broken chain is a critical event naming the first bad record's position."""
    from rongcheng.audit.selectors import audit_verify

    result = audit_verify()
    if not result.ok:
        seconds = rule_setting("audit_verification", "seconds")
        security_event_raise(rule="audit_verification", severity=Severity.CRITICAL, subject_type="audit.chain",
                             subject_id="audit", window_seconds=seconds,
                             evidence={"checked": result.checked,
                                       "first_bad_record": result.first_bad_record_id})  # fmt: skip
    return int(result.checked)
