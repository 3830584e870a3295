"""Electronic licences (电子证照) over HTTP."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["licences"])
