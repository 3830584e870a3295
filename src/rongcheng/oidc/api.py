"""The OpenID Connect provider for department systems, built on django-oauth-toolkit. over HTTP."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["oidc"])
