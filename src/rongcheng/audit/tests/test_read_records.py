"""Records of reads in a transaction of their own: durable by default, asynchronous only when chosen (ADR 0011)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rongcheng.audit.models import AuditChainLink, AuditPending, AuditRecord
from rongcheng.audit.services import Actor, RowsAlongside, audit_record, read_record_transaction, read_records_write
from rongcheng.audit.tests.helpers import ALICE, append, on_postgresql
from rongcheng.kernel.context import RequestContext, running


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


# --- read_records_write: the records of a read as one statement that is its own transaction ---------------------------

READ: dict[str, Any] = {
    "action": "registries.person.read",
    "actor": ALICE,
    "target_type": "registries.person",
    "purpose": "public_security",
    "source_address": "10.0.0.8",
    "detail": {"clear": ["id_number", "phone"], "via": "id_number"},
}
COLUMNS = ("actor_kind", "actor_id", "actor_label", "action", "target_type", "target_id", "outcome",
           "source_address", "purpose", "detail", "request_id")  # fmt: skip


def _columns(record: AuditRecord) -> tuple[object, ...]:
    return tuple(getattr(record, column) for column in COLUMNS)


@pytest.mark.django_db(transaction=True)
def test_read_records_are_what_one_audit_record_per_target_writes_committed_at_once():
    with running(RequestContext(request_id="r-1", source_address="10.0.0.8")):
        assert read_records_write(**READ, target_ids=[42, 7]) == 2
        assert not connection.in_atomic_block
        audit_record(**READ, target_id=42)
        audit_record(**READ, target_id=7)
    written, expected = (
        [_columns(record) for record in AuditRecord.objects.order_by("pk")[offset : offset + 2]] for offset in (0, 2)
    )
    assert written == expected
    detail = {"clear": ["id_number", "phone"], "via": "id_number"}
    assert written[0] == (
        "user", "7", "alice", "registries.person.read", "registries.person", "42", "success", "10.0.0.8",
        "public_security", detail, "r-1",
    )  # fmt: skip
    assert written[1][5] == "7"
    assert AuditRecord.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_no_target_no_record_no_statement():
    with CaptureQueriesContext(connection) as queries:
        assert read_records_write(**READ, target_ids=[]) == 0
    assert len(queries) == 0
    assert not AuditRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_read_records_inside_a_callers_transaction_roll_back_with_it():
    def read_that_fails() -> None:
        with transaction.atomic():
            read_records_write(**READ, target_ids=[42])
            raise RuntimeError("the caller failed after the read was recorded")

    with pytest.raises(RuntimeError):
        read_that_fails()
    assert not AuditRecord.objects.exists()


def _with_commit_setting_recorded(write) -> list[str]:
    """The synchronous_commit each record's INSERT ran under, as a trigger on the table sees it (kept in `purpose`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_commit_setting() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.purpose := current_setting('synchronous_commit'); RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_commit_setting BEFORE INSERT ON audit_record "
            "FOR EACH ROW EXECUTE FUNCTION test_commit_setting()"
        )
    try:
        write()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_commit_setting ON audit_record")
            cursor.execute("DROP FUNCTION test_commit_setting()")
    return list(AuditRecord.objects.order_by("pk").values_list("purpose", flat=True))


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_read_records_durable_by_default_in_one_statement(settings):
    assert settings.AUDIT_READ_COMMIT == "durable"
    with CaptureQueriesContext(connection) as queries:
        seen = _with_commit_setting_recorded(lambda: read_records_write(**READ, target_ids=[42, 7]))
    assert seen == ["on", "on"]
    inserts = [query["sql"] for query in queries if query["sql"].startswith("INSERT INTO audit_record")]
    assert len(inserts) == 1
    assert "synchronous_commit" not in inserts[0]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_read_records_async_unflushed_for_their_own_statement_only(settings):
    settings.AUDIT_READ_COMMIT = "async"

    def write() -> None:
        read_records_write(**READ, target_ids=[42, 7])
        assert _synchronous_commit() == "on"  # set for the statement's own transaction, ended with it
        append(target_id="43")  # any other record on the connection: durable

    assert _with_commit_setting_recorded(write) == ["off", "off", "on"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_read_records_async_never_relax_a_callers_transaction(settings):
    settings.AUDIT_READ_COMMIT = "async"

    def write() -> None:
        with transaction.atomic():
            read_records_write(**READ, target_ids=[42])
            assert _synchronous_commit() == "on"

    assert _with_commit_setting_recorded(write) == ["on"]


# --- rows alongside: a read's own records in its app's tables, written with its audit records ------------------------

# Another app's record of the read, here a row of a table of the audit app's own so the test stands alone.
_ALONGSIDE_SQL = (
    "INSERT INTO audit_record (actor_kind, actor_id, actor_label, action, target_type, target_id, outcome, purpose, "
    "detail, request_id) SELECT 'system', '', 'alongside', %s, '', '', 'success', '', '{}'::jsonb, ''"
)


def _alongside(written: list[str]) -> RowsAlongside:
    def write() -> None:
        written.append("write")
        audit_record(action="tests.alongside.write", actor=Actor.system("alongside"))

    return RowsAlongside(sql=_ALONGSIDE_SQL, params=["tests.alongside.sql"], write=write)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_rows_alongside_go_in_the_records_statement_durable_by_default(settings):
    written: list[str] = []
    with CaptureQueriesContext(connection) as queries:
        seen = _with_commit_setting_recorded(
            lambda: read_records_write(**READ, target_ids=[42], alongside=_alongside(written))
        )
    assert written == []  # the SQL, not the transaction's write
    assert sorted(seen) == ["on", "on"]
    statements = [query["sql"] for query in queries if "INSERT INTO audit_record" in query["sql"]]
    assert len(statements) == 1
    assert statements[0].startswith("WITH alongside AS (INSERT INTO audit_record ")
    assert sorted(AuditRecord.objects.values_list("action", flat=True)) == [
        "registries.person.read", "tests.alongside.sql",
    ]  # fmt: skip
    assert AuditChainLink.objects.count() == 2  # both queued by the statement's trigger, both sealed
    assert not AuditPending.objects.exists()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_rows_alongside_share_the_unflushed_commit_of_the_records_statement(settings):
    settings.AUDIT_READ_COMMIT = "async"

    def write() -> None:
        read_records_write(**READ, target_ids=[42], alongside=_alongside([]))
        assert _synchronous_commit() == "on"

    with CaptureQueriesContext(connection) as queries:
        _with_commit_setting_recorded(write)
    statements = [query["sql"] for query in queries if "INSERT INTO audit_record" in query["sql"]]
    assert len(statements) == 1  # one statement: one transaction, whose commit set_config made unflushed
    assert "set_config('synchronous_commit', 'off', true)" in statements[0]
    assert AuditRecord.objects.filter(action="registries.person.read", purpose="off").count() == 1
    assert AuditRecord.objects.filter(action="tests.alongside.sql").count() == 1


@pytest.mark.django_db(transaction=True)
def test_rows_alongside_inside_a_callers_transaction_are_written_in_it_and_roll_back_with_it():
    written: list[str] = []

    def read_that_fails() -> None:
        with transaction.atomic():
            read_records_write(**READ, target_ids=[42], alongside=_alongside(written))
            assert sorted(AuditRecord.objects.values_list("action", flat=True)) == [
                "registries.person.read", "tests.alongside.write",
            ]  # fmt: skip
            raise RuntimeError("the caller failed after the read was recorded")

    with pytest.raises(RuntimeError):
        read_that_fails()
    assert written == ["write"]
    assert not AuditRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_no_target_nothing_alongside_either():
    written: list[str] = []
    with CaptureQueriesContext(connection) as queries:
        assert read_records_write(**READ, target_ids=[], alongside=_alongside(written)) == 0
    assert (len(queries), written) == (0, [])
