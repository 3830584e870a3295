"""Unified identity (统一身份认证) over HTTP."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["identity"])
