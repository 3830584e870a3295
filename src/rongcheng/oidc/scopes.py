"""The scopes a client may ask for (settings SCOPES_BACKEND_CLASS).

API scopes follow the permissions of the client's account (accounts.api_auth.AccountScopes). The OpenID Connect
scopes are for clients of the authorization-code grant; `id_number` (the clear number) only for a client whose
account the population registry entitles to see it.
"""

from __future__ import annotations

from typing import Any

from oauth2_provider.models import Application

from rongcheng.accounts.api_auth import AccountScopes
from rongcheng.oidc.selectors import client_entitled_to_id_number

OIDC_SCOPES = ("openid", "profile", "id_number_masked", "id_number")


class ClientScopes(AccountScopes):
    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        scopes: list[str] = super().get_available_scopes(application, request, *args, **kwargs)
        if application is None:
            return scopes
        signs_in_people = application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
        return [
            scope
            for scope in scopes
            if scope not in OIDC_SCOPES
            or (signs_in_people and (scope != "id_number" or client_entitled_to_id_number(application)))
        ]
