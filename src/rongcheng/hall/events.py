"""Events of the service hall, for the apps above it (kernel.events): identifiers, not personal data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rongcheng.kernel.events import Event


@dataclass(frozen=True, kw_only=True)
class ApplicationConcluded(Event):
    """An application was concluded (办结) after its decision. `decision` is `approved` or `refused`; the applicant
    party is `entity` with its credit code as `party_key`, or `person` with the blind index of the ID number."""

    application_id: int
    number: str
    service_code: str
    service_kind: str
    department_id: int
    decision: str
    decided_on: dt.date
    concluded_on: dt.date
    party_kind: str
    party_key: str
    issued_licence: str
