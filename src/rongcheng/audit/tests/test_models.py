"""The append-only triggers (PostgreSQL) and what an attacker who bypasses them leaves behind."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from rongcheng.audit.models import AuditAnchor, AuditChainLink, AuditRecord
from rongcheng.audit.selectors import audit_verify
from rongcheng.audit.services import audit_seal
from rongcheng.audit.tests.helpers import append, on_postgresql, on_sqlite, raw_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def sealed():
    records = append(3)
    audit_seal()
    return records


class _RolledBack(Exception):
    pass


def _refused(sql, params=()):
    with pytest.raises(IntegrityError, match="the audit trail is append-only"), transaction.atomic():
        raw_sql(sql, params)


@on_postgresql
class TestTriggers:
    def test_update_and_delete_of_records_are_refused(self, sealed):
        _refused("UPDATE audit_record SET purpose = 'edited' WHERE id = %s", [sealed[0].pk])
        _refused("DELETE FROM audit_record WHERE id = %s", [sealed[0].pk])
        assert list(AuditRecord.objects.order_by("id").values_list("id", "purpose")) == [
            (r.pk, "核验身份") for r in sealed
        ]

    def test_the_orm_is_refused_too(self, sealed):
        with pytest.raises(IntegrityError), transaction.atomic():
            AuditRecord.objects.filter(pk=sealed[0].pk).update(outcome="denied")
        assert AuditRecord.objects.filter(outcome="denied").count() == 0

    def test_update_and_delete_of_links_are_refused(self, sealed):
        _refused("UPDATE audit_chain_link SET mac = %s WHERE sequence = 1", [bytes(32)])
        _refused("DELETE FROM audit_chain_link WHERE sequence = 3")
        assert AuditChainLink.objects.count() == 3
        assert audit_verify().ok

    def test_the_purge_flag_allows_deleting_records_and_links_only(self, sealed):
        AuditAnchor.objects.create(
            sequence=0,
            mac=bytes(32),
            purged_count=0,
            purged_before="2020-01-01T00:00Z",
            export_name="x",
            export_digest="",
            anchor_mac=bytes(32),
        )

        def purge_then_roll_back():
            with transaction.atomic():
                raw_sql("SET LOCAL rongcheng.audit_purge = 'on'")
                _refused("UPDATE audit_record SET purpose = 'edited' WHERE id = %s", [sealed[0].pk])
                _refused("DELETE FROM audit_anchor")
                assert raw_sql("DELETE FROM audit_chain_link WHERE sequence = 1") == 1
                assert raw_sql("DELETE FROM audit_record WHERE id = %s", [sealed[0].pk]) == 1
                raise _RolledBack

        with pytest.raises(_RolledBack):
            purge_then_roll_back()
        # the flag lives and dies with its transaction
        _refused("DELETE FROM audit_record WHERE id = %s", [sealed[0].pk])
        assert AuditRecord.objects.count() == 3
        assert AuditAnchor.objects.count() == 1

    def test_a_superuser_disabling_the_trigger_is_caught_by_verify(self, sealed):
        raw_sql("ALTER TABLE audit_record DISABLE TRIGGER audit_record_append_only")
        raw_sql("UPDATE audit_record SET actor_label = 'someone else' WHERE id = %s", [sealed[1].pk])
        raw_sql("ALTER TABLE audit_record ENABLE TRIGGER audit_record_append_only")
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (False, sealed[1].pk, "content changed")

    def test_a_superuser_in_replica_mode_deleting_is_caught_by_verify(self, sealed):
        raw_sql("SET LOCAL session_replication_role = replica")
        raw_sql("DELETE FROM audit_chain_link WHERE sequence = 2")
        raw_sql("DELETE FROM audit_record WHERE id = %s", [sealed[1].pk])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (
            False,
            sealed[2].pk,
            "preceding record deleted (link 2 missing)",
        )


@on_sqlite
def test_sqlite_has_no_trigger_and_verify_catches_the_edit(sealed):
    assert raw_sql("UPDATE audit_record SET purpose = 'edited' WHERE id = %s", [sealed[2].pk]) == 1
    result = audit_verify()
    assert (result.ok, result.first_bad_record_id, result.reason) == (
        False,
        sealed[2].pk,
        "content changed or link MAC altered",
    )
