"""Pairwise subject identifiers (OpenID Connect Core §8.1): `sub` = HMAC-SM3(key, sector ‖ account), so two
departments cannot join their users by `sub`, and one client always sees the same `sub` for a person."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from rongcheng.kernel.context import Account
from rongcheng.kernel.crypto import hmac_sm3
from rongcheng.kernel.keyring import b64url_encode


def sector_of(application: Any) -> str:
    """The registered sector identifier, else the client itself (clients made by api_client_create have none)."""
    try:
        sector: str = application.registration.sector_identifier
    except ObjectDoesNotExist:
        sector = ""
    return sector or str(application.client_id)


def subject_for(user: Account, application: Any) -> str:
    key = bytes.fromhex(settings.OIDC_PAIRWISE_KEY)
    return b64url_encode(hmac_sm3(key, f"{sector_of(application)}\x00{user.pk}".encode()))
