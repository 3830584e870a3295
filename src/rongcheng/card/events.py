"""Events the card publishes for higher tiers (the hall proceeds with an application once its fee is paid)."""

from __future__ import annotations

from dataclasses import dataclass

from rongcheng.kernel.events import Event


@dataclass(frozen=True, kw_only=True)
class BillPaid(Event):
    """A government bill was paid. `reference` is what the issuer attached (an application's number)."""

    bill_id: int
    payment_code: str
    department_id: int
    reference: str
    amount: int
    receipt_number: str
