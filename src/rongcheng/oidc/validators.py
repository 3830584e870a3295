"""django-oauth-toolkit's request validator, extended for the platform (settings OAUTH2_VALIDATOR_CLASS).

What changes from the toolkit: clients are loaded with their owner and registration in one query and a disabled
client is unknown; client secrets are checked with the keyed hash directly; ID tokens are signed with the rotating key
ring and carry pairwise `sub`, `acr` (assurance level) and `amr`; the ID number is released masked or, to a client
entitled to it, in clear through the population registry's audited read; a replayed refresh token is audited (the
toolkit revokes its whole family).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from jwcrypto import jwk
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error, InvalidClientError

from rongcheng.audit.services import Actor, audit_record
from rongcheng.kernel.bound import server_bound_cursor
from rongcheng.kernel.context import current_address
from rongcheng.kernel.keyring import RS256, JwtInvalid, b64url_decode
from rongcheng.oidc.hashers import ALGORITHM, ClientSecretHasher
from rongcheng.oidc.models import ClientStamp, RedeemedCode
from rongcheng.oidc.selectors import (
    ClientChanged,
    application_for_token_endpoint,
    client_cache_forget,
    client_stamp,
    id_number_clear_for,
    id_number_masked_for,
)
from rongcheng.oidc.server import OFFERED_GRANT_TYPES
from rongcheng.oidc.subjects import subject_for
from rongcheng.oidc.tokens import acr_of, signing_keys

_HASHER = ClientSecretHasher()
# The expiry a claimed authorization code is given (validate_code): in the past, so it never validates again.
CODE_CLAIMED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
ID_NUMBER_CLAIMS = ("id_number", "id_number_masked")


class ProviderValidator(OAuth2Validator):  # type: ignore[misc]  # django-oauth-toolkit has no type hints
    oidc_claim_scope = {
        "sub": "openid",
        "acr": "openid",
        "amr": "openid",
        "name": "profile",
        "id_number_masked": "id_number_masked",
        "id_number": "id_number",
    }

    # --- clients --------------------------------------------------------------------------------------------------

    def _load_application(self, client_id: str, request: Any) -> Any:
        """The client from this process's cache, checked against the stamp of clients now, or, for a
        client-credentials grant whose token row goes in alone (`stamp_check_deferred`), by that row's INSERT."""
        client = request.client
        if isinstance(client, Application) and client.client_id == client_id:
            return client
        deferral = _deferral.get()
        unchecked = deferral is not None and request.grant_type == "client_credentials" and _commits_alone()
        found = application_for_token_endpoint(client_id, unchecked=unchecked)
        if deferral is not None and found.unchecked:
            deferral.used, deferral.stamp = True, found.stamp
        request.client_stamp = found.stamp
        request.client_stamp_unchecked = found.unchecked
        if found.application is None or not client_usable(found.application):
            return None
        if request.grant_type == "client_credentials" and not owner_active(found.application):
            return None  # the system's account was deactivated: it acts for no one, so its client is refused
        request.client = found.application
        return found.application

    def _check_secret(self, provided_secret: str, stored_secret: str) -> bool:
        if stored_secret.startswith(f"{ALGORITHM}$"):
            return bool(_HASHER.verify(provided_secret, stored_secret))
        if "$" in stored_secret:
            return bool(check_password(provided_secret, stored_secret))
        return bool(constant_time_compare(provided_secret, stored_secret))

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        """Only the offered grants (the server does not even dispatch the others; this holds if it ever did)."""
        return grant_type in OFFERED_GRANT_TYPES and bool(
            super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)
        )

    def validate_user(self, username: str, password: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        """The password grant is not offered: a person's password is checked by the identity service alone, under
        its lockout and audit, never here."""
        return False

    def _validate_resource_uris(self, request: Any, resources: Any) -> None:
        for resource in resources or ():
            if resource_unparseable(resource):
                raise CustomOAuth2Error(error="invalid_target", request=request,
                                        description="A resource indicator is not a valid absolute URI.")  # fmt: skip
        super()._validate_resource_uris(request, resources)

    # --- authorization codes ----------------------------------------------------------------------------------

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        """A code is good for one presentation by its (authenticated) client: it is claimed here, in one conditional
        UPDATE that moves its expiry to the past, before PKCE and the redirect URI are checked, so a failed exchange
        (a wrong code_verifier) burns it too and two racing exchanges cannot both pass. A code already exchanged
        revokes what its exchange issued (RFC 6749 §4.1.2)."""
        grant = Grant.objects.filter(code=code, application=client).first()
        if grant is None:
            _code_replay_revoke(code, client, request)
            return False
        now = timezone.now()
        if grant.is_expired() or not Grant.objects.filter(pk=grant.pk, expires__gt=now).update(expires=CODE_CLAIMED):
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        return True

    # --- tokens ---------------------------------------------------------------------------------------------------

    def save_bearer_token(self, token: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        """As the toolkit's, but a client-credentials token row commits without waiting for the WAL flush: losing the
        last milliseconds of such rows in a database crash only makes those systems ask again, and the flush is
        most of a grant's cost (ADR 0008). Rows of people's grants keep the full guarantee.

        A client-credentials grant writes one row and nothing else, so on PostgreSQL that row goes in one statement
        that is its own transaction and turns the flush wait off for that transaction alone
        (`_client_credentials_row_insert`), instead of four round trips (BEGIN, SET LOCAL, INSERT, COMMIT): under
        load each round trip waits for the database process to be scheduled, and those waits were most of a grant's
        time. Never inside a caller's transaction: the setting would then hold for the caller's commit too.

        A client served from the cache without reading the stamp of clients (`stamp_check_deferred`) is checked here:
        by the row's INSERT itself on the one-statement path, by a query otherwise; a changed client raises
        ClientChanged, and the token endpoint starts the grant again on fresh data (no row, no token given)."""
        unflushed = request.grant_type == "client_credentials" and _commits_alone()
        if (
            getattr(request, "client_stamp_unchecked", False)
            and not unflushed
            and client_stamp() != request.client_stamp
        ):
            client_cache_forget(request.client.client_id)
            raise ClientChanged(request.client.client_id)
        try:
            if unflushed:
                return self._save_bearer_token(token, request, *args, **kwargs)
            with transaction.atomic():  # inside a caller's transaction, its commit and its guarantee decide
                saved = self._save_bearer_token(token, request, *args, **kwargs)
                if request.grant_type == "authorization_code":
                    _code_redeemed(request.code, request.client, token)
                return saved
        except IntegrityError:  # the application was deleted after this process cached it
            client_cache_forget(request.client.client_id)
            raise InvalidClientError(request=request) from None

    def _create_access_token(
        self, expires: Any, request: Any, token: dict[str, Any], source_refresh_token: Any = None
    ) -> Any:
        """The toolkit's, except for a client-credentials grant sent alone on PostgreSQL (save_bearer_token's fast
        path): its row goes in through one INSERT written once (`_client_credentials_row_insert`) instead of a model
        save, whose compiler, field hooks and signals were a third of the Python work of a grant. Same row, same
        columns, the same checksum at rest; returns the new row's primary key, which no caller of this path reads.
        The row goes in only under the stamp of clients the client was read under (ClientChanged otherwise)."""
        if (
            request.grant_type == "client_credentials"
            and source_refresh_token is None
            and not token.get("id_token")
            and _commits_alone()
        ):
            pk = _client_credentials_row_insert(expires=expires, request=request, access_token=token["access_token"],
                                                scope=token["scope"])  # fmt: skip
            if pk is None:  # the stamp of clients moved since this client was read: no row went in
                client_cache_forget(request.client.client_id)
                raise ClientChanged(request.client.client_id)
            return pk
        return super()._create_access_token(expires, request, token, source_refresh_token)

    # --- refresh tokens -------------------------------------------------------------------------------------------

    def validate_refresh_token(self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        valid = bool(super().validate_refresh_token(refresh_token, client, request, *args, **kwargs))
        if not valid:
            checksum = hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()
            replayed = RefreshToken.objects.filter(token_checksum=checksum, revoked__isnull=False).first()
            if replayed is not None:
                # The toolkit has revoked the family (REFRESH_TOKEN_REUSE_PROTECTION): keep the trace.
                audit_record(
                    action="oidc.refresh_token.reuse", actor=Actor("api_client", str(client.user_id or ""),
                    client.client_id), outcome="denied", target_type="oidc.token_family",
                    target_id=str(replayed.token_family or ""), source_address=current_address(),
                    detail={"client_id": client.client_id, "family_revoked": True},
                )  # fmt: skip
        return valid

    # --- claims ---------------------------------------------------------------------------------------------------

    def get_claim_dict(self, request: Any) -> dict[str, Any]:
        user, client = request.user, request.client
        return {
            "sub": subject_for(user, client),
            "acr": acr_of(user),
            "amr": ["pwd"],
            "name": user.display_name or user.get_full_name() or "",
            "id_number_masked": lambda r: id_number_masked_for(user=r.user, client=r.client),
            "id_number": lambda r: id_number_clear_for(user=r.user, client=r.client),
        }

    def get_discovery_claims(self, request: Any) -> list[str]:
        return ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", *self.oidc_claim_scope]

    def get_oidc_claims(self, token: Any, token_handler: Any, request: Any) -> dict[str, Any]:
        """The ID number goes to the userinfo endpoint only (token_handler None): one audited read per request."""
        data = self.get_claim_dict(request)
        claims: dict[str, Any] = {}
        for name, value in data.items():
            if token_handler is not None and name in ID_NUMBER_CLAIMS:
                continue
            if self.oidc_claim_scope.get(name) in request.scopes:
                resolved = value(request) if callable(value) else value
                if resolved is not None:
                    claims[name] = resolved
        return claims

    # --- signing --------------------------------------------------------------------------------------------------

    def finalize_id_token(self, id_token: dict[str, Any], token: Any, token_handler: Any, request: Any) -> str:
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        serialized = signing_keys().sign(json.loads(json.dumps(id_token, default=str)), typ="JWT", algorithm=RS256)
        with transaction.atomic():
            saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = saved
        request.id_token = saved
        return serialized

    def _get_key_for_token(self, token: str) -> Any:
        """The public key named by the token's `kid` (RP-initiated logout's id_token_hint)."""
        try:
            header = json.loads(b64url_decode(token.partition(".")[0]))
        except (JwtInvalid, ValueError):
            return None
        kid = header.get("kid") if isinstance(header, dict) else None
        for key in signing_keys().keys():  # noqa: SIM118  # KeyRing.keys() is a method, not a dict view
            if key.kid == kid and key.algorithm == RS256:  # ID tokens are RS256 only: an ES256 key names none
                return jwk.JWK.from_pyca(key.public)
        return None


_ACCESS_TOKEN_INSERT = f'INSERT INTO "{AccessToken._meta.db_table}" '
# The row's statement turns the WAL flush wait off for its own transaction (set_config(..., true) is SET LOCAL): sent
# alone in autocommit, that transaction is the statement, committed when it ends, so the setting governs that commit
# and nothing else. The CTE is materialized (set_config is volatile) and read by the INSERT's SELECT, so it runs
# before the row goes in; when the stamp check finds another stamp nothing is written and there is nothing to flush.
_WITHOUT_FLUSH_WAIT = "WITH unflushed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "


# The access-token row of a client-credentials grant, as the toolkit's model save writes it (AccessToken's concrete
# columns, in the model's order): no user, refresh token or ID token; `created` and `updated` both now. The test
# module test_token_rows compares a row written here with one the model writes, column by column.
_ROW_FIELDS = ("user", "source_refresh_token", "token", "token_checksum", "id_token", "application", "expires",
               "scope", "resource", "created", "updated")  # fmt: skip
if {field.name for field in AccessToken._meta.concrete_fields} != {"id", *_ROW_FIELDS}:
    raise RuntimeError("AccessToken's columns changed: update _ROW_FIELDS and _client_credentials_row_insert")
# The row goes in only if the stamp of clients is the one the client was read under: a client changed by another
# process since this one cached it gets no row (and no token), in the same round trip.
_STAMP_MATCHES = f"COALESCE((SELECT value FROM {ClientStamp._meta.db_table} WHERE id = 1), 0) = %s::bigint"  # noqa: S608
# Values bound by the server (kernel.bound): those in the SELECT list carry their column's type, which PostgreSQL
# would not infer there.
_ROW_INSERT = (
    _WITHOUT_FLUSH_WAIT  # noqa: S608  (identifiers from the model; every value bound)
    + _ACCESS_TOKEN_INSERT
    + "("
    + ", ".join(f'"{AccessToken._meta.get_field(name).column}"' for name in _ROW_FIELDS)
    + ") SELECT NULL, NULL, %s::text, %s::varchar, NULL, %s::bigint, %s::timestamptz, %s::text, %s::jsonb,"
    + f' %s::timestamptz, %s::timestamptz FROM unflushed WHERE {_STAMP_MATCHES} RETURNING "id"'
)
_RESOURCE_FIELD = AccessToken._meta.get_field("resource")


def _client_credentials_row_insert(*, expires: Any, request: Any, access_token: str, scope: str) -> int | None:
    """Insert the row of a client-credentials access token (the toolkit's set_token_value and TokenChecksumField:
    the SHA-256 of the token always, the token itself only if storage in clear is configured); its id, or None if
    the stamp of clients is no longer the client's. Sent alone, as its own transaction (the caller checked
    `_commits_alone`), its values bound by the server."""
    if not _commits_alone():
        raise RuntimeError("a client-credentials token row without the flush wait must be its own transaction")
    at_rest = "" if oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE else access_token
    checksum = hashlib.sha256(access_token.encode("utf-8")).hexdigest()
    resource = _RESOURCE_FIELD.get_db_prep_save(getattr(request, "resource", None) or [], connection)
    now = timezone.now()
    with server_bound_cursor(connection) as cursor:
        cursor.execute(_ROW_INSERT, [at_rest, checksum, request.client.pk, expires, scope, resource, now, now,
                                     int(getattr(request, "client_stamp", 0))])  # fmt: skip
        row = cursor.fetchone()
    return None if row is None else int(row[0])


@dataclass
class StampCheckDeferral:
    """Set by the token endpoint around a client-credentials grant it will start again if asked: a cached client
    may then serve without reading the stamp first (`used` says one did), the token row's INSERT checking it."""

    used: bool = False
    stamp: int = 0  # the stamp the unchecked client was kept under


_deferral: ContextVar[StampCheckDeferral | None] = ContextVar("oidc_stamp_check_deferral", default=None)


@contextmanager
def stamp_check_deferred(deferral: StampCheckDeferral | None) -> Iterator[None]:
    token = _deferral.set(deferral)
    try:
        yield
    finally:
        _deferral.reset(token)


def _commits_alone() -> bool:
    """PostgreSQL, in autocommit, outside any atomic block: a statement sent now is its own transaction."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute read through `connection` looks the connection up again
    return db.vendor == "postgresql" and db.get_autocommit() and not db.in_atomic_block


def _checksum(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _code_redeemed(code: str, client: Any, token: dict[str, Any]) -> None:
    """Remember what the exchange of `code` issued; forget codes redeemed longer ago than a refresh token lives."""
    now = timezone.now()
    access_checksum = _checksum(str(token["access_token"]))
    family = (
        RefreshToken.objects.filter(access_token__token_checksum=access_checksum)
        .values_list("token_family", flat=True)
        .first()
    )
    RedeemedCode.objects.filter(
        redeemed_at__lt=now - dt.timedelta(seconds=oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS)
    ).delete()
    RedeemedCode.objects.create(
        code_checksum=_checksum(code), application=client, access_token_checksum=access_checksum,
        token_family=family, redeemed_at=now,
    )  # fmt: skip


def _code_replay_revoke(code: str, client: Any, request: Any) -> None:
    """A code presented again after its exchange: revoke the access token and the refresh-token family it gave,
    since whoever replays it may be the one who stole it (RFC 6749 §4.1.2), and audit it."""
    redeemed = RedeemedCode.objects.filter(code_checksum=_checksum(code), application=client).first()
    if redeemed is None:
        return
    with transaction.atomic():
        revoked, _ = AccessToken.objects.filter(token_checksum=redeemed.access_token_checksum).delete()
        if redeemed.token_family is not None:
            RefreshToken.revoke_family(redeemed.token_family)
        audit_record(
            action="oidc.code.replay", actor=Actor("api_client", str(client.user_id or ""), client.client_id),
            outcome="denied", target_type="oidc.client", target_id=client.client_id,
            source_address=current_address(),
            detail={"access_token_revoked": bool(revoked), "family_revoked": redeemed.token_family is not None},
        )  # fmt: skip


def resource_unparseable(value: Any) -> bool:
    """An RFC 8707 resource indicator that the toolkit's check cannot even parse (urlsplit raises ValueError on an
    unclosed IPv6 bracket, the port on a non-number): the toolkit would answer 500 instead of invalid_target."""
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is not None:
            _ = (parts.hostname, parts.port)
    except ValueError:
        return True
    return False


def owner_active(application: Any) -> bool:
    """A client-credentials grant acts as the client's owner account: an owner deactivated (a department system
    taken out of service) leaves its client unable to authenticate, rather than granted an empty scope."""
    return application.user is None or bool(application.user.is_active)


def client_usable(application: Any) -> bool:
    try:
        return bool(application.registration.disabled_at is None)
    except ObjectDoesNotExist:
        return True
