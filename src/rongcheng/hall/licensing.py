"""The service hall's use of electronic licences: prefilling materials, recording each use, issuing the result.

This is the one place that talks to the licences app, so the flow that spans the hall and the licences (a licence
used in an application, a licence issued on approval) stays in the hall's tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rongcheng.hall.models import Application


@dataclass(frozen=True)
class LicenceMaterial:
    identifier: str
    values: dict[str, Any]


def licence_for_material(*, user: Any, application: Application, licence_type: str) -> LicenceMaterial | None:
    """The applicant's currently valid licence of this type, with its face values, read with the applicant's
    authorization for this application; None when the applicant holds none."""
    return None


def licence_use_record(*, user: Any, application: Application, identifier: str) -> None:
    """Record the use of a licence in this application; refuses a licence that is no longer valid."""
    return None


def licence_issue_for(*, application: Application, officer: Any) -> str:
    """Issue the service's licence type to the applicant, signed by the deciding department; its identifier."""
    return ""
