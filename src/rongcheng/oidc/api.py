"""The clients registry over HTTP (/api/v1/oidc/clients), for administrators holding `oidc.manage_client`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from rongcheng.accounts.api_auth import api_auth
from rongcheng.accounts.selectors import account_signed_in
from rongcheng.oidc import selectors, services
from rongcheng.oidc.errors import ClientNotFound
from rongcheng.oidc.models import ClientRegistration
from rongcheng.oidc.permissions import MANAGE_CLIENT
from rongcheng.oidc.validators import client_usable

router = Router(tags=["oidc"])
SCOPE = "oidc:clients"


class ClientIn(Schema):
    name: str
    department_code: str
    grant_type: str
    redirect_uris: list[str] = []
    post_logout_redirect_uris: list[str] = []
    api_scopes: list[str] = []
    sector_identifier: str = ""
    access_token_algorithm: Literal["ES256", "RS256"] = Field(
        "ES256",
        description="The JWS algorithm of the client's access tokens (RFC 9068): ES256, or RS256 for resource "
        "servers that verify nothing else. ID tokens are RS256 always.",
    )


class ClientOut(Schema):
    client_id: str
    name: str
    department_code: str | None
    grant_type: str
    redirect_uris: list[str]
    sector_identifier: str
    access_token_algorithm: str = Field(description="The JWS algorithm of the client's access tokens (RFC 9068).")
    registered_by: str
    registered_at: dt.datetime
    secret_rotated_at: dt.datetime | None
    disabled_at: dt.datetime | None
    enabled: bool


class ClientWithSecretOut(ClientOut):
    client_secret: str


def _out(registration: ClientRegistration) -> dict[str, object]:
    application = registration.application
    return {
        "client_id": application.client_id, "name": application.name,
        "department_code": registration.department.code if registration.department else None,
        "grant_type": application.authorization_grant_type, "redirect_uris": application.redirect_uris.split(),
        "sector_identifier": registration.sector_identifier,
        "access_token_algorithm": registration.access_token_algorithm, "registered_by": registration.registered_by,
        "registered_at": registration.registered_at, "secret_rotated_at": registration.secret_rotated_at,
        "disabled_at": registration.disabled_at, "enabled": client_usable(application),
    }  # fmt: skip


def _auth(action: str) -> list:  # type: ignore[type-arg]
    return api_auth(action, scope=SCOPE, permission=MANAGE_CLIENT)


@router.get("/clients", response=list[ClientOut], auth=_auth("oidc.client.list"), summary="Registered clients")
def client_list(request: HttpRequest) -> list[dict[str, object]]:
    return [_out(r) for r in selectors.client_list()]


@router.post(
    "/clients", response={201: ClientWithSecretOut}, auth=_auth("oidc.client.register"),
    summary="Register a client; its secret is returned once",
)  # fmt: skip
def client_register(request: HttpRequest, body: ClientIn) -> Status[dict[str, object]]:
    issued = services.client_register(actor=account_signed_in(request.user), **body.model_dump())
    return Status(201, {**_out(issued.registration), "client_secret": issued.client_secret})


def _get(client_id: str) -> ClientRegistration:
    try:
        return selectors.client_get(client_id=client_id)
    except ClientRegistration.DoesNotExist:
        raise ClientNotFound(f"No registered client has the id {client_id!r}.") from None


@router.get("/clients/{client_id}", response=ClientOut, auth=_auth("oidc.client.read"), summary="One client")
def client_detail(request: HttpRequest, client_id: str) -> dict[str, object]:
    return _out(_get(client_id))


@router.post(
    "/clients/{client_id}/rotate-secret", response=ClientWithSecretOut, auth=_auth("oidc.client.rotate_secret"),
    summary="Replace the client's secret; the new one is returned once",
)  # fmt: skip
def client_rotate_secret(request: HttpRequest, client_id: str) -> dict[str, object]:
    issued = services.client_secret_rotate(actor=account_signed_in(request.user), client_id=client_id)
    return {**_out(_get(client_id)), "client_secret": issued.client_secret}


@router.post(
    "/clients/{client_id}/disable", response=ClientOut, auth=_auth("oidc.client.disable"),
    summary="Disable the client and revoke its tokens",
)  # fmt: skip
def client_disable(request: HttpRequest, client_id: str) -> dict[str, object]:
    services.client_disable(actor=account_signed_in(request.user), client_id=client_id)
    return _out(_get(client_id))
