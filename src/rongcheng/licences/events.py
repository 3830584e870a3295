"""Events of the electronic licences, for the apps above (kernel.events): identifiers, not personal data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rongcheng.kernel.events import Event


@dataclass(frozen=True, kw_only=True)
class LicenceIssued(Event):
    """A licence was issued and signed. `holder_key` is the holder's credit code (entity) or the blind index of
    the ID number (person), as `Licence.holder_index`."""

    identifier: str
    licence_type_code: str
    holder_kind: str
    holder_key: str
    department_id: int
    issued_on: dt.date
    source: str


@dataclass(frozen=True, kw_only=True)
class LicenceVerificationFailed(Event):
    """A verification found something not authentic: `what` is "licence" (a stored licence whose signature no longer
    verifies: altered in the database, or a key problem) or "document" (a presented export whose signature, key or
    canonical form does not match: forged or altered). Identifiers only; `identifier` is empty for a document;
    `source_address` is the address of the request that asked, if any."""

    what: str
    reason: str
    key_id: str
    identifier: str
    source_address: str | None
