"""The OAuth 2.0 / OpenID Connect server of django-oauth-toolkit (settings OAUTH2_SERVER_CLASS), narrowed to the
grants the platform offers.

oauthlib's all-in-one server also dispatches the resource-owner password grant (dropped by OAuth 2.1 and RFC 9700
§2.4) and the device authorization grant. The password grant checks a person's password before it asks whether the
client may use the grant, outside the identity service's lockout and audit: a password oracle. Those grants are
removed from the dispatch table itself, so no client, whatever its row says, reaches their code; an unknown grant
type falls to the authorization-code handler, which answers `unsupported_grant_type`.
"""

from __future__ import annotations

from typing import Any

from oauthlib.openid import Server

# The grant types of the token endpoint, as discovery publishes them (grant_types_supported).
OFFERED_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class ProviderServer(Server):  # type: ignore[misc]  # oauthlib has no type hints
    def __init__(self, request_validator: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(request_validator, *args, **kwargs)
        every: dict[str, Any] = self.grant_types
        self._grant_types = {name: grant for name, grant in every.items() if name in OFFERED_GRANT_TYPES}
