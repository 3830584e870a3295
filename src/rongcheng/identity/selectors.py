"""Read use-cases of the identity platform: the account summary, sessions and representations an account sees."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q

from rongcheng.accounts.models import AssuranceLevel, User
from rongcheng.identity.clock import clock
from rongcheng.identity.models import AccountSession, Representation, ResidentProfile, TotpDevice


@dataclass(frozen=True)
class AccountSummary:
    username: str
    display_name: str
    kind: str
    level: int
    level_label: str
    name: str
    id_number_masked: str  # never the clear number
    phone_masked: str
    phone_verified: bool
    has_authenticator: bool


def account_summary(*, user: User) -> AccountSummary:
    profile = ResidentProfile.objects.filter(user=user).first()
    return AccountSummary(
        username=user.get_username(), display_name=str(user), kind=user.kind, level=int(user.assurance_level),
        level_label=str(AssuranceLevel(user.assurance_level).label), name=profile.name if profile else "",
        id_number_masked=profile.id_number_masked if profile else "",
        phone_masked=profile.phone_masked if profile else "",
        phone_verified=bool(profile and profile.phone_verified_at),
        has_authenticator=TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists(),
    )  # fmt: skip


def session_list_for_user(*, user: User) -> list[AccountSession]:
    """The account's active sessions, newest first."""
    return list(AccountSession.objects.filter(user=user, ended_at__isnull=True).order_by("-created_at", "-pk"))


def representation_list_for_user(*, user: User, at: dt.datetime | None = None) -> list[Representation]:
    """Representations the account holds or granted, still in force."""
    moment = at or clock.now()
    return list(
        Representation.objects.select_related("legal_entity", "user", "delegated_by")
        .filter(Q(user=user) | Q(delegated_by=user), revoked_at__isnull=True)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=moment))
        .order_by("legal_entity__name", "pk")
    )


def representation_active_for(*, user: User, legal_entity_id: int, at: dt.datetime | None = None) -> bool:
    """Whether the account may act for the entity now (for the service hall and licences)."""
    moment = at or clock.now()
    return (
        Representation.objects.filter(user=user, legal_entity_id=legal_entity_id, revoked_at__isnull=True)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=moment))
        .exists()
    )
