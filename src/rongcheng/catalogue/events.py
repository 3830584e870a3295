"""Events of the data catalogue, for the apps above it (kernel.events): identifiers, not data."""

from __future__ import annotations

from dataclasses import dataclass

from rongcheng.kernel.events import Event


@dataclass(frozen=True, kw_only=True)
class PersonalItemsChanged(Event):
    """An editor changed which data items of a resource are personal (`version`: the resource's version after the
    change): the masked form every uploaded row keeps is worked out again for the items personal now
    (`catalogue.services.masked_forms_renew`, run as the `catalogue.masked_forms` job; ADR 0021)."""

    resource_code: str
    version: int
