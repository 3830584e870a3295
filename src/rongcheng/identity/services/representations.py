"""Company representatives: the registered legal representative claims the entity, delegates agents, revokes."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from rongcheng.accounts.models import AccountKind, AssuranceLevel, User
from rongcheng.audit.services import actor_from_user
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    RepresentationNotFound,
    RepresentationRefused,
)
from rongcheng.identity.models import (
    Representation,
    RepresentationBasis,
)
from rongcheng.identity.services.context import _audit
from rongcheng.kernel.crypto import constant_time_equal
from rongcheng.registries.models import EntityStatus, LegalEntity


def representation_is_active(representation: Representation, at: dt.datetime | None = None) -> bool:
    moment = at or clock.now()
    return representation.revoked_at is None and (
        representation.valid_until is None or representation.valid_until > moment
    )


def _entity_by_credit_code(credit_code: str) -> LegalEntity:
    entity = LegalEntity.objects.select_related("legal_representative").filter(credit_code=credit_code.strip()).first()
    if entity is None or entity.status != EntityStatus.ACTIVE:
        raise RepresentationNotFound("No active legal entity with this credit code.")
    return entity


def _is_registry_representative(user: User, entity: LegalEntity) -> bool:
    representative = entity.legal_representative
    return bool(
        user.id_number_index
        and representative is not None
        and constant_time_equal(representative.id_number_index.encode(), user.id_number_index.encode())
    )


def representation_claim(*, user: User, credit_code: str) -> Representation:
    """The legal representative named in the registry claims the entity: L2 or above, bound to that person."""
    entity = _entity_by_credit_code(credit_code)
    if user.assurance_level < AssuranceLevel.L2 or not _is_registry_representative(user, entity):
        _audit("identity.representation.claim", actor=actor_from_user(user), outcome="denied",
               target_type="registries.legalentity", target_id=entity.pk)  # fmt: skip
        raise RepresentationRefused("Only the registered legal representative, verified at L2 or above, may claim.")
    try:
        with transaction.atomic():
            representation = Representation.objects.create(
                user=user, legal_entity=entity, basis=RepresentationBasis.LEGAL_REPRESENTATIVE, valid_from=clock.now()
            )
            _audit("identity.representation.claim", actor=actor_from_user(user),
                   target_type="registries.legalentity", target_id=entity.pk,
                   detail={"representation": representation.pk})  # fmt: skip
    except IntegrityError as exc:
        raise RepresentationRefused("This account already acts for this entity.") from exc
    return representation


def representation_delegate(
    *, user: User, credit_code: str, delegate_username: str, valid_until: dt.datetime
) -> Representation:
    """The legal representative names an agent (经办人) until a date."""
    entity = _entity_by_credit_code(credit_code)
    now = clock.now()
    holds = Representation.objects.filter(
        user=user, legal_entity=entity, basis=RepresentationBasis.LEGAL_REPRESENTATIVE, revoked_at__isnull=True
    ).exists()
    delegate = User.objects.filter(
        username=delegate_username, is_active=True, kind__in=(AccountKind.RESIDENT, AccountKind.COMPANY_REPRESENTATIVE)
    ).first()
    reason = None
    if not holds or not _is_registry_representative(user, entity):
        reason = "not_legal_representative"
    elif delegate is None or delegate.pk == user.pk or delegate.assurance_level < AssuranceLevel.L2:
        reason = "delegate_not_eligible"
    elif valid_until <= now:
        reason = "validity_in_past"
    if reason is not None or delegate is None:
        _audit("identity.representation.delegate", actor=actor_from_user(user), outcome="denied",
               target_type="registries.legalentity", target_id=entity.pk, detail={"reason": reason})  # fmt: skip
        raise RepresentationRefused(f"The delegation is refused ({reason}).")
    try:
        with transaction.atomic():
            representation = Representation.objects.create(
                user=delegate, legal_entity=entity, basis=RepresentationBasis.DELEGATED, delegated_by=user,
                valid_from=now, valid_until=valid_until,
            )  # fmt: skip
            _audit("identity.representation.delegate", actor=actor_from_user(user),
                   target_type="registries.legalentity", target_id=entity.pk,
                   detail={"representation": representation.pk, "delegate": delegate.pk,
                           "valid_until": valid_until.isoformat()})  # fmt: skip
    except IntegrityError as exc:
        raise RepresentationRefused("This account already acts for this entity.") from exc
    return representation


def representation_revoke(*, user: User, representation_id: int) -> Representation:
    """Revoked by its holder, by whoever delegated it, or by the entity's current legal representative."""
    with transaction.atomic():
        representation = (
            Representation.objects.select_for_update(of=("self",))
            .select_related("legal_entity__legal_representative")
            .filter(pk=representation_id, revoked_at__isnull=True)
            .first()
        )
        allowed = representation is not None and (
            representation.user_id == user.pk
            or representation.delegated_by_id == user.pk
            or _is_registry_representative(user, representation.legal_entity)
        )
        if representation is None or not allowed:
            raise RepresentationNotFound("No such active representation that this account may revoke.")
        representation.revoked_at = clock.now()
        representation.revoked_by = user
        representation.save(update_fields=["revoked_at", "revoked_by"])
        _audit("identity.representation.revoke", actor=actor_from_user(user),
               target_type="registries.legalentity", target_id=representation.legal_entity_id,
               detail={"representation": representation.pk})  # fmt: skip
    return representation
