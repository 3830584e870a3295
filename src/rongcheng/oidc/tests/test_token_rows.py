"""How the token endpoint records what it issues: every grant leaves its token row (the token's SHA-256, never the
token), a client-credentials grant in one statement that skips only the WAL flush of its own commit (ADR 0008),
a person's grant in a transaction with the full durability guarantee. The row's statement binds its values on the
server and turns the flush wait off for its own transaction (`set_config(..., true)`, SET LOCAL's function).

These run outside a test transaction (`transaction=True`), as the server does: inside a caller's transaction the
endpoint never sends the unflushed statement."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from rongcheng.accounts.api_auth import AccountScopes
from rongcheng.oidc.tests.conftest import register
from rongcheng.oidc.tests.test_bad_input import token_request
from rongcheng.oidc.tests.test_claims import sign_in

WITHOUT_FLUSH_WAIT = "set_config('synchronous_commit', 'off', true)"
RESOURCE = "https://mzj.example/api/"


def system_client(manager):
    return register(manager, "tjj-stats", grant_type="client-credentials", redirect_uris=[],
                    api_scopes=["registries:read"])  # fmt: skip


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def token_row(access_token: str) -> AccessToken:
    return AccessToken.objects.select_related("application").get(
        token_checksum=hashlib.sha256(access_token.encode()).hexdigest()
    )


@pytest.mark.django_db(transaction=True)
def test_a_client_credentials_grant_records_its_token_row_in_one_statement(manager, settings):
    # The rate limit's counter is added in batches and at least every RATE_LIMIT_SYNC_SECONDS (ADR 0018): on a loaded
    # machine a grant can take longer than the 0.1 s default and carry that statement; it is not the grant's own.
    settings.RATE_LIMIT_SYNC_SECONDS = 3600
    system = system_client(manager)
    client_id = system.registration.application.client_id
    token_request(client_id, system.client_secret, grant_type="client_credentials")  # warm: the client cache
    with CaptureQueriesContext(connection) as queries:
        response = token_request(client_id, system.client_secret, grant_type="client_credentials")
    assert response.status_code == 200
    row = token_row(response.json()["access_token"])
    assert (row.application.client_id, row.user_id, row.scope, row.token) == (client_id, None, "registries:read", "")
    inserts = [query["sql"] for query in queries if "oauth2_provider_accesstoken" in query["sql"]]
    assert len(inserts) == 1
    if connection.vendor == "postgresql":
        assert 'INSERT INTO "oauth2_provider_accesstoken"' in inserts[0]
        assert WITHOUT_FLUSH_WAIT in inserts[0]
        assert ";" not in inserts[0]  # one statement: the setting cannot reach another
        # The token row alone, its own transaction (the rate limit's counter is added in batches, ADR 0018).
        assert len(queries) == 1, [query["sql"][:80] for query in queries]
        assert synchronous_commit() == "on"  # the setting ended with the row's own transaction
    else:
        assert WITHOUT_FLUSH_WAIT not in inserts[0]


@pytest.mark.django_db(transaction=True)
def test_the_token_row_is_bound_on_the_server_and_its_setting_lasts_its_own_transaction(manager):
    """The row's values go apart from its text (psycopg's server-binding cursor, not the client's quoting), and the
    statement's setting is SET LOCAL's: it holds until its transaction ends, then the session's own is back."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's statement")
    import psycopg

    from rongcheng.oidc.selectors import client_stamp
    from rongcheng.oidc.validators import _ROW_INSERT

    system = system_client(manager)
    client_id = system.registration.application.client_id
    token_request(client_id, system.client_secret, grant_type="client_credentials")  # warm: the client cache
    cursors = []

    def seen(execute, sql, params, many, context):
        cursors.append((sql, context["cursor"].cursor))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(seen):
        response = token_request(client_id, system.client_secret, grant_type="client_credentials")
    assert response.status_code == 200
    [(sql, cursor)] = [(sql, cursor) for sql, cursor in cursors if "oauth2_provider_accesstoken" in sql]
    assert sql == _ROW_INSERT
    assert not isinstance(cursor, psycopg.ClientCursor)
    # The statement inside an explicit transaction (the endpoint never sends it there): the setting is local to it.
    now = timezone.now()
    application = system.registration.application
    with transaction.atomic():
        with connection.cursor() as plain:
            plain.execute(_ROW_INSERT, ["", "0" * 64, application.pk, now, "", "[]", now, now,
                                                          client_stamp()])  # fmt: skip
            assert plain.fetchone() is not None
        assert synchronous_commit() == "off"
        transaction.set_rollback(True)
    assert synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_token_row_is_not_sent_unflushed(manager):
    system = system_client(manager)
    client_id = system.registration.application.client_id
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        response = token_request(client_id, system.client_secret, grant_type="client_credentials")
        assert response.status_code == 200
    assert not [query["sql"] for query in queries if WITHOUT_FLUSH_WAIT in query["sql"]]
    assert token_row(response.json()["access_token"]).application.client_id == client_id
    if connection.vendor == "postgresql":
        assert synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_a_persons_grant_keeps_the_full_durability_guarantee(rp, resident):
    with CaptureQueriesContext(connection) as queries:
        tokens = sign_in(rp, resident)
    # Only the rate limits' counters (kernel.cache) skip the flush; nothing of the grant does.
    unflushed = [query["sql"] for query in queries if "synchronous_commit" in query["sql"]]
    assert all(sql.startswith("INSERT INTO rongcheng_shared_counter ") for sql in unflushed)
    row = token_row(tokens["access_token"])
    assert (row.application_id, row.user_id) == (rp.registration.application.pk, resident.pk)


@pytest.mark.django_db(transaction=True)
def test_a_client_deleted_after_this_process_cached_it_gets_no_token(manager):
    system = system_client(manager)
    application = system.registration.application
    first = token_request(application.client_id, system.client_secret, grant_type="client_credentials")
    assert first.status_code == 200  # the process now holds the client for CLIENT_CACHE_SECONDS
    Application.objects.filter(pk=application.pk).delete()  # behind the process's back (another worker, a tool)
    refused = token_request(application.client_id, system.client_secret, grant_type="client_credentials")
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert not AccessToken.objects.filter(application_id=application.pk).exists()
    assert synchronous_commit() == "on" if connection.vendor == "postgresql" else True
    again = token_request(application.client_id, system.client_secret, grant_type="client_credentials")
    assert again.status_code == 401  # forgotten: read again, and unknown


@pytest.mark.django_db(transaction=True)
def test_the_one_statement_row_is_the_row_the_toolkits_model_writes(manager):
    """The client-credentials row written by its own INSERT (PostgreSQL, alone) and the one the toolkit's model save
    writes (inside a caller's transaction, and on SQLite) agree on every column but the token's own values."""
    system = system_client(manager)
    client_id = system.registration.application.client_id
    alone = token_request(client_id, system.client_secret, grant_type="client_credentials", resource=RESOURCE)
    with transaction.atomic():
        inside = token_request(client_id, system.client_secret, grant_type="client_credentials", resource=RESOURCE)
    assert (alone.status_code, inside.status_code) == (200, 200)
    rows = [token_row(response.json()["access_token"]) for response in (alone, inside)]
    own = ("id", "token_checksum", "expires", "created", "updated")
    columns = [field.attname for field in AccessToken._meta.concrete_fields if field.name not in own]
    assert [getattr(rows[0], name) for name in columns] == [getattr(rows[1], name) for name in columns]
    assert (rows[0].token, rows[0].resource, rows[0].user_id) == ("", [RESOURCE], None)
    for row, response in zip(rows, (alone, inside), strict=True):
        assert row.token_checksum == hashlib.sha256(response.json()["access_token"].encode()).hexdigest()
        assert abs((row.updated - row.created).total_seconds()) < 1
        assert 590 <= (row.expires - row.created).total_seconds() <= 601
        assert row.is_valid(["registries:read"])


@pytest.mark.django_db(transaction=True)
def test_a_grant_works_out_its_clients_scopes_once_and_still_refuses_a_scope_not_held(manager, monkeypatch):
    """oauthlib asks for the default scopes and the toolkit then checks the asked ones: the client's available
    scopes are worked out once per request (remembered on it), and a scope the client does not hold is refused."""
    system = system_client(manager)
    client_id = system.registration.application.client_id
    worked_out = []
    original = AccountScopes.get_available_scopes

    def counted(self, application=None, request=None, *args, **kwargs):
        worked_out.append(application)
        return original(self, application, request, *args, **kwargs)

    monkeypatch.setattr(AccountScopes, "get_available_scopes", counted)
    granted = token_request(client_id, system.client_secret, grant_type="client_credentials")
    assert (granted.status_code, granted.json()["scope"], len(worked_out)) == (200, "registries:read", 1)
    worked_out.clear()
    refused = token_request(client_id, system.client_secret, grant_type="client_credentials",
                            scope="registries:read registries:write")  # fmt: skip
    assert (refused.status_code, refused.json()["error"], len(worked_out)) == (400, "invalid_scope", 1)
