"""Each process keeps the clients it has read, under the stamp of clients (oidc.models.ClientStamp): a client changed
anywhere (another worker's service call, the admin, a queryset update) is refused at the next grant in every process.

"Another worker" is this process with its cache put back as it was before the change: the change goes through the
service, which forgets the client in its own process only, and the stale entry is restored. Transactional tests run
the token row's one-statement path on PostgreSQL, where the stamp is checked by the row's INSERT; on SQLite (and
inside a caller's transaction) it is read before the kept client is used."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken, Application

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.oidc import selectors
from rongcheng.oidc.models import ClientRegistration, ClientStamp
from rongcheng.oidc.services import client_disable, client_secret_rotate
from rongcheng.oidc.tests.conftest import register
from rongcheng.oidc.tests.test_bad_input import basic, token_request
from rongcheng.oidc.tests.test_introspection import introspect

pytestmark = pytest.mark.django_db(transaction=True)


def system_client(manager):
    return register(manager, "tjj-stats", grant_type="client-credentials", redirect_uris=[],
                    api_scopes=["registries:read"])  # fmt: skip


def grant(client_id: str, secret: str):
    return token_request(client_id, secret, grant_type="client_credentials")


def issue_refusals(client_id: str) -> list[dict]:
    records = AuditRecord.objects.filter(action="oidc.token.issue", outcome="denied", target_id=client_id)
    return [record.detail for record in records]


def stamp() -> int:
    return selectors.client_stamp()


def kept_then_changed(manager, change):
    """A client granted once (so this process keeps it), changed by `change(client_id)`, then this process's stale
    entry put back, as another worker would still hold it."""
    system = system_client(manager)
    client_id = system.registration.application.client_id
    assert grant(client_id, system.client_secret).status_code == 200
    stale = selectors._clients[client_id]
    result = change(client_id)
    selectors._clients[client_id] = stale
    return system, client_id, result


def test_a_client_disabled_in_another_process_is_refused_at_once_and_the_refusal_audited(manager):
    system, client_id, _ = kept_then_changed(manager, lambda client_id: client_disable(actor=manager,
                                                                                    client_id=client_id))  # fmt: skip
    tokens = AccessToken.objects.count()
    refused = grant(client_id, system.client_secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert AccessToken.objects.count() == tokens  # no row, no token
    assert issue_refusals(client_id) == [{"error": "invalid_client", "grant_type": "client_credentials"}]


def test_a_secret_rotated_in_another_process_refuses_the_old_and_takes_the_new_at_once(manager):
    system, client_id, issued = kept_then_changed(
        manager, lambda client_id: client_secret_rotate(actor=manager, client_id=client_id)
    )
    stale = selectors._clients[client_id]
    refused = grant(client_id, system.client_secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert issue_refusals(client_id) == [{"error": "invalid_client", "grant_type": "client_credentials"}]
    selectors._clients[client_id] = stale  # the new secret, against a process that still keeps the old one
    granted = grant(client_id, issued.client_secret)
    assert granted.status_code == 200
    assert len(issue_refusals(client_id)) == 1  # a refusal is decided on the client as it is now: none here


def test_a_change_behind_every_service_is_seen_too(manager):
    """A queryset update (a tool, a migration, the database console) bumps the stamp through the triggers."""

    def revoke_grant_type(client_id: str) -> None:
        Application.objects.filter(client_id=client_id).update(authorization_grant_type="authorization-code")

    system, client_id, _ = kept_then_changed(manager, revoke_grant_type)
    refused = grant(client_id, system.client_secret)
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
    assert issue_refusals(client_id) == [{"error": "unauthorized_client", "grant_type": "client_credentials"}]


def test_an_owner_deactivated_in_another_process_is_seen_at_once(manager):
    """A deactivated owner (the department system taken out of service) leaves its client refused at once, in
    every process: 401 invalid_client, no token row, rather than a grant with an empty scope (the kept client would
    have given registries:read)."""

    def deactivate_owner(client_id: str) -> None:
        owner = Application.objects.get(client_id=client_id).user_id
        User.objects.filter(pk=owner).update(is_active=False)

    system, client_id, _ = kept_then_changed(manager, deactivate_owner)
    rows = AccessToken.objects.count()
    answer = grant(client_id, system.client_secret)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert AccessToken.objects.count() == rows
    assert issue_refusals(client_id) == [{"error": "invalid_client", "grant_type": "client_credentials"}]


def test_the_stamp_moves_with_what_a_grant_reads_of_a_client_and_nothing_else(manager):
    system = system_client(manager)
    application = system.registration.application
    owner = User.objects.get(pk=application.user_id)
    before = stamp()
    Application.objects.filter(pk=application.pk).update(name="tjj-stats-2")
    assert stamp() == before + 1
    ClientRegistration.objects.filter(pk=system.registration.pk).update(sector_identifier="tjj")
    assert stamp() == before + 2
    User.objects.filter(pk=owner.pk).update(display_name="统计系统")  # not what a grant reads
    assert stamp() == before + 2
    User.objects.filter(pk=owner.pk).update(is_superuser=True)
    assert stamp() == before + 3
    ClientStamp.objects.all().delete()  # as a test database's flush does: the next change makes the row again
    assert stamp() == 0
    Application.objects.filter(pk=application.pk).delete()  # with its registration: one bump or more
    assert stamp() >= 1


def test_a_kept_client_costs_no_statement_on_the_one_statement_path_and_one_small_read_elsewhere(manager):
    system = system_client(manager)
    client_id = system.registration.application.client_id
    assert grant(client_id, system.client_secret).status_code == 200  # kept now
    with CaptureQueriesContext(connection) as queries:
        assert grant(client_id, system.client_secret).status_code == 200
    statements = [query["sql"] for query in queries]
    if connection.vendor == "postgresql":
        assert len(statements) == 1  # the token row with the stamp's check (the rate limit counted in batches)
        assert "oidc_clientstamp" in statements[0]
    else:
        assert sum("oidc_clientstamp" in sql for sql in statements) == 1  # read before the kept client is used


def test_a_granted_token_is_introspected_and_revoked(manager):
    system = system_client(manager)
    client_id = system.registration.application.client_id
    grant(client_id, system.client_secret)
    token = grant(client_id, system.client_secret).json()["access_token"]  # granted by the kept client
    status, answer = introspect(client_id, system.client_secret, token)
    assert (status, answer["active"], answer["client_id"]) == (200, True, client_id)
    revoked = Client().post("/oauth/revoke_token/", {"token": token}, **basic(client_id, system.client_secret))
    assert revoked.status_code == 200
    checksum = hashlib.sha256(token.encode()).hexdigest()
    assert not AccessToken.objects.filter(token_checksum=checksum).exists()
    assert introspect(client_id, system.client_secret, token) == (200, {"active": False})
