"""The online service hall (网上办事大厅) over HTTP."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["hall"])
