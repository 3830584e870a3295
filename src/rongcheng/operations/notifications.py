"""Announcing a security event to the security administrators: mail and a webhook, run as a background job.

A notification says which rule fired, how severe, how often, and where to look (the event's number on the security
dashboard). It never names the subject: no account, no address, no client, no person; the administrator opens the
dashboard, signed in, to see those."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from rongcheng.operations.models import SecurityEvent

logger = logging.getLogger(__name__)

RULE_TITLES = {
    "brute_force": "Repeated failed sign-ins on one account",
    "lockout": "An account was locked",
    "credential_stuffing": "Failed sign-ins on many accounts from one address",
    "mass_read": "A staff account read unusually many persons",
    "outside_department": "A staff account read persons outside its department's jurisdiction",
    "licence_verification": "A licence or a licence document failed verification",
    "new_address_range": "A sign-in from a new network outside the expected address ranges",
    "refresh_token_reuse": "A revoked refresh token was used again",
    "audit_verification": "The audit chain failed verification",
    "duty_change": "An administrator duty was granted or revoked",
    "new_api_client": "A new API client was registered",
}


def notification_payload(event: SecurityEvent) -> dict[str, Any]:
    """What leaves the platform about an event: nothing about its subject."""
    return {
        "type": "rongcheng.security_event",
        "event": event.pk,
        "rule": event.rule,
        "title": RULE_TITLES.get(event.rule, event.rule),
        "severity": event.severity,
        "occurrences": event.occurrences,
        "occurred_at": event.occurred_at.isoformat(),
        "dashboard": "/operations/security/",
    }


def security_event_notify(event_id: int) -> int:
    """Mail and webhook for one event, once (a re-run after success sends nothing). Returns the channels used.
    Raises when a channel fails, so the job is retried with backoff."""
    event = SecurityEvent.objects.filter(pk=event_id).first()
    if event is None or event.notified_at is not None:
        return 0
    payload = notification_payload(event)
    sent = 0
    recipients = list(settings.OPERATIONS_SECURITY_EMAILS)
    if recipients:
        body = "\n".join(f"{key}: {value}" for key, value in payload.items())
        send_mail(f"[榕城 security] {payload['severity']}: {payload['title']}", body, None, recipients)
        sent += 1
    url = str(settings.OPERATIONS_SECURITY_WEBHOOK or "")
    if url:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the security webhook must be an http(s) URL")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status >= 300:
                raise OSError(f"webhook answered {response.status}")
        sent += 1
    SecurityEvent.objects.filter(pk=event.pk, notified_at__isnull=True).update(notified_at=timezone.now())
    return sent
