"""Records of reads in a transaction of their own: durable by default, asynchronous only when chosen (ADR 0011)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import read_record_transaction
from rongcheng.audit.tests.helpers import ALICE, append, on_postgresql


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        row = cursor.fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.django_db(transaction=True)
def test_a_read_record_is_committed_in_its_own_transaction():
    with read_record_transaction():
        assert connection.in_atomic_block
        append(action="registries.person.read", target_id="42")
    assert not connection.in_atomic_block
    record = AuditRecord.objects.get()
    assert (record.action, record.actor_id, record.target_id) == ("registries.person.read", ALICE.id, "42")


@pytest.mark.django_db(transaction=True)
def test_a_failed_read_leaves_no_record():
    def read_that_fails() -> None:
        with read_record_transaction():
            append(action="registries.person.read", target_id="42")
            raise RuntimeError("the read failed after its record was written")

    with pytest.raises(RuntimeError):
        read_that_fails()
    assert not AuditRecord.objects.exists()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_durable_by_default_the_commit_waits_for_the_flush(settings):
    assert settings.AUDIT_READ_COMMIT == "durable"
    with read_record_transaction():
        assert _synchronous_commit() == "on"
        append()
    assert AuditRecord.objects.count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_async_applies_to_the_read_transaction_only(settings):
    settings.AUDIT_READ_COMMIT = "async"
    with read_record_transaction():
        assert _synchronous_commit() == "off"
        append()
    assert _synchronous_commit() == "on"  # SET LOCAL: the next transaction on this connection is durable again
    assert AuditRecord.objects.count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_async_never_relaxes_a_callers_transaction(settings):
    settings.AUDIT_READ_COMMIT = "async"
    with transaction.atomic():
        with read_record_transaction():
            append()
        assert _synchronous_commit() == "on"  # the caller's transaction writes more than a read's record
    assert AuditRecord.objects.count() == 1
