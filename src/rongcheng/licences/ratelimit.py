"""Per-address rate limit of public verification, in Django's cache (fixed one-minute windows).

Every failed SM2 verification makes GmSSL print to stderr, and verification is open to anyone: the limit keeps a
script from flooding the logs or the CPU through the public page or API.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from rongcheng.licences.errors import VerificationRateLimited

DEFAULT_PER_MINUTE = 60


def verification_admit(source_address: str | None) -> None:
    limit = int(getattr(settings, "LICENCE_VERIFY_PER_MINUTE", DEFAULT_PER_MINUTE))
    window = int(time.time() // 60)
    key = f"licences.verify.{source_address or 'unknown'}.{window}"
    if cache.add(key, 1, timeout=90):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=90)
            count = 1
    if count > limit:
        raise VerificationRateLimited(
            f"At most {limit} verifications a minute from one address; try again shortly.",
            retry_after=60 - int(time.time()) % 60,
        )
