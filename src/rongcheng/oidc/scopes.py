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


# Where a request keeps the scopes available to its client: a token request asks twice (oauthlib's default scopes,
# then the toolkit's scope check), and the answer cannot change within one request.
_MEMO = "_rongcheng_available_scopes"


class ClientScopes(AccountScopes):
    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        if application is None:
            return list(super().get_available_scopes(application, request, *args, **kwargs))
        remembered = getattr(request, _MEMO, None) if request is not None else None
        if remembered is not None and remembered[0] is application:
            return list(remembered[1])
        signs_in_people = application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
        scopes = [
            scope
            for scope in super().get_available_scopes(application, request, *args, **kwargs)
            if scope not in OIDC_SCOPES
            or (signs_in_people and (scope != "id_number" or client_entitled_to_id_number(application)))
        ]
        if request is not None:
            setattr(request, _MEMO, (application, tuple(scopes)))
        return scopes
