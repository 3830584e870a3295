"""Who may read the registries, and which fields they see in clear.

Reading at all (masked) needs the Django permission `registries.view_person` / `registries.view_legalentity`,
held by staff roles and by API clients. Seeing a field in clear needs a `FieldEntitlement` for that registry, field
and purpose, granted to one of the reader's roles or to the API client itself.

The purposes a reader may state follow from the same grants: a reader whose roles (or whose client) hold
entitlements in a registry works for those purposes only there (`purposes_allowed`); `self_service` is only ever the
subject's own (checked against the record in the selectors).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache

from rongcheng.accounts.models import AccountKind
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.audit.services import Actor, actor_from_user
from rongcheng.kernel.context import Account, current_address
from rongcheng.registries.models import FieldEntitlement

# OAuth 2.0 scopes of the registries' API: a department system's token names one to read, or to change records.
READ_SCOPE = "registries:read"
WRITE_SCOPE = "registries:write"
PERSON_PERMISSION = "registries.view_person"
ENTITY_PERMISSION = "registries.view_legalentity"
# Fields that are personal data: masked unless entitled.
PERSON_PROTECTED_FIELDS = ("id_number", "name", "birth_date", "phone", "address")


@dataclass(frozen=True)
class Reader:
    actor: Actor
    user: Account | None  # None: nobody signed in (refused, and the refusal audited)

    @property
    def address(self) -> str | None:
        """The reader's address for the audit trail: the current request's (kernel.context), None outside any."""
        return current_address()

    @property
    def authenticated(self) -> bool:
        return is_signed_in(self.user)

    @property
    def id_number_index(self) -> str:
        """The blind index of the ID number the reader's account is bound to; empty when it is bound to none."""
        return self.user.id_number_index if is_signed_in(self.user) else ""

    @property
    def is_api_client(self) -> bool:
        return is_signed_in(self.user) and self.user.kind == AccountKind.API_CLIENT


def reader_for(user: Account | None) -> Reader:
    """The reader acting as `user`; its address comes from the request context."""
    return Reader(actor=actor_from_user(user), user=user)


def may_read(reader: Reader, registry: str) -> bool:
    user = reader.user
    if not is_signed_in(user):
        return False
    permission = PERSON_PERMISSION if registry == "persons" else ENTITY_PERMISSION
    return user.has_perm(permission)


ENTITLEMENT_CACHE_SECONDS = 30


def purposes_allowed(reader: Reader, registry: str) -> frozenset[str] | None:
    """The purposes for which this reader's roles or client hold entitlements in `registry`; None when they hold
    none there (a masked-only reader, whose purpose is then not tied to a grant). Cached like `clear_fields`."""
    user = reader.user
    if not is_signed_in(user):
        return frozenset()
    key = f"registries.purposes.{user.pk}.{registry}"
    cached: frozenset[str] | None = cache.get(key)
    if cached is None:
        grants = FieldEntitlement.objects.filter(registry=registry)
        grants = grants.filter(client=user) if reader.is_api_client else grants.filter(role__user=user)
        cached = frozenset(grants.values_list("purpose", flat=True).distinct())
        cache.set(key, cached, ENTITLEMENT_CACHE_SECONDS)
    return cached or None


def clear_fields(reader: Reader, registry: str, purpose: str) -> frozenset[str]:
    """The fields this reader sees in clear for this purpose, from a short-lived process cache: a withdrawn
    entitlement takes effect within ENTITLEMENT_CACHE_SECONDS (one query saved on every read)."""
    user = reader.user
    if not is_signed_in(user):
        return frozenset()
    key = f"registries.clear.{user.pk}.{registry}.{purpose}"
    cached: frozenset[str] | None = cache.get(key)
    if cached is not None:
        return cached
    grants = FieldEntitlement.objects.filter(registry=registry, purpose=purpose)
    grants = grants.filter(client=user) if reader.is_api_client else grants.filter(role__user=user)
    fields = frozenset(grants.values_list("field", flat=True))
    cache.set(key, fields, ENTITLEMENT_CACHE_SECONDS)
    return fields
