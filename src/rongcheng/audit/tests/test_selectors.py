from __future__ import annotations

import datetime as dt
from contextlib import nullcontext

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rongcheng.audit.models import AuditChainLink, AuditRecord
from rongcheng.audit.selectors import (
    AuditSearch,
    _utc_text,
    audit_record_search,
    audit_verify,
    detail_canonical,
    record_canonical_bytes,
    record_canonical_text,
)
from rongcheng.audit.services import _RECORDS_QUEUED_SQL, Actor, audit_seal
from rongcheng.audit.tests.helpers import ALICE, append, raw_sql
from rongcheng.kernel.context import RequestContext, running
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.pagination import encode_cursor
from rongcheng.kernel.tests.contexts import request_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def attacker():
    """Raw SQL with the power to bypass the append-only triggers, as a database superuser would."""
    if connection.vendor == "postgresql":
        raw_sql("SET LOCAL session_replication_role = replica")
    return raw_sql


@pytest.fixture
def sealed():
    records = append(5)
    audit_seal()
    return records


class TestVerify:
    def test_intact(self, sealed):
        result = audit_verify()
        assert (result.ok, result.checked, result.first_bad_record_id, result.reason) == (True, 5, None, "")
        assert result.head_sequence == 5
        assert result.head_mac == bytes(AuditChainLink.objects.get(sequence=5).mac).hex()
        assert (result.unsealed, result.oldest_unsealed_at) == (0, None)
        assert result.message == (
            f"audit chain intact: 5 records checked, head 5:{result.head_mac}, 0 awaiting sealing"
        )

    def test_empty(self):
        result = audit_verify()
        assert (result.ok, result.checked, result.head_sequence) == (True, 0, 0)

    def test_counts_records_awaiting_sealing(self, sealed):
        (queued,) = append(1)
        result = audit_verify()
        assert (result.ok, result.checked, result.unsealed) == (True, 5, 1)
        assert result.oldest_unsealed_at == queued.occurred_at or result.oldest_unsealed_at is not None

    def test_content_edited(self, sealed, attacker):
        attacker("UPDATE audit_record SET target_id = '999' WHERE id = %s", [sealed[2].pk])
        result = audit_verify()
        assert (result.ok, result.checked, result.first_bad_record_id, result.reason) == (
            False,
            2,
            sealed[2].pk,
            "content changed",
        )
        assert result.message == f"audit chain broken at record {sealed[2].pk}: content changed"

    def test_last_record_edited(self, sealed, attacker):
        attacker("UPDATE audit_record SET outcome = 'denied' WHERE id = %s", [sealed[4].pk])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (
            False,
            sealed[4].pk,
            "content changed or link MAC altered",
        )

    def test_json_detail_edited(self, sealed, attacker):
        attacker("UPDATE audit_record SET detail = '{\"x\": 1}' WHERE id = %s", [sealed[0].pk])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (False, sealed[0].pk, "content changed")

    @pytest.mark.parametrize(
        ("before", "after"),
        [("", "f" * 32), ("a" * 32, ""), ("a" * 32, "b" * 32)],
        ids=["added", "removed", "changed"],
    )
    def test_request_id_edited(self, request, before, after):
        records = []
        for _ in range(3):
            with running(RequestContext(request_id=before)) if before else nullcontext():
                records += append(1)
        audit_seal()
        assert audit_verify().ok
        attacker = request.getfixturevalue("attacker")  # only now: on PostgreSQL it switches the triggers off
        attacker("UPDATE audit_record SET request_id = %s WHERE id = %s", [after, records[1].pk])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (False, records[1].pk, "content changed")

    def test_record_deleted_with_its_link(self, sealed, attacker):
        attacker("DELETE FROM audit_chain_link WHERE record_id = %s", [sealed[1].pk])
        attacker("DELETE FROM audit_record WHERE id = %s", [sealed[1].pk])
        result = audit_verify()
        assert (result.ok, result.checked, result.first_bad_record_id, result.reason) == (
            False,
            1,
            sealed[2].pk,
            "preceding record deleted (link 2 missing)",
        )

    def test_record_deleted_leaving_its_link(self, sealed, attacker):
        attacker("DELETE FROM audit_record WHERE id = %s", [sealed[3].pk])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (False, sealed[3].pk, "record deleted")
        attacker("DELETE FROM audit_chain_link WHERE sequence = 4")  # the dangling key fails the teardown's FK check

    def test_last_record_deleted_leaving_its_link(self, sealed, attacker):
        attacker("DELETE FROM audit_record WHERE id = %s", [sealed[4].pk])
        result = audit_verify()
        assert (result.ok, result.checked, result.first_bad_record_id, result.reason) == (
            False,
            4,
            sealed[4].pk,
            "record deleted",
        )
        attacker("DELETE FROM audit_chain_link WHERE sequence = 5")  # the dangling key fails the teardown's FK check

    def test_first_record_deleted_with_its_link(self, sealed, attacker):
        attacker("DELETE FROM audit_chain_link WHERE sequence = 1")
        attacker("DELETE FROM audit_record WHERE id = %s", [sealed[0].pk])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (
            False,
            sealed[1].pk,
            "preceding record deleted (link 1 missing)",
        )

    def test_two_records_swapped(self, sealed, attacker):
        """Swap the contents of records 2 and 3 (ids stay, so the rows now read in the other order)."""
        first, second = sealed[1].pk, sealed[2].pk
        attacker("UPDATE audit_record SET target_id = 'swap' WHERE id = %s", [first])
        attacker("UPDATE audit_record SET target_id = %s WHERE id = %s", [sealed[1].target_id, second])
        attacker("UPDATE audit_record SET target_id = %s WHERE id = %s", [sealed[2].target_id, first])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (False, first, "content or order changed")

    def test_links_reordered(self, sealed, attacker):
        """Point links 2 and 3 at each other's record: the chain order no longer matches what was sealed."""
        first, second = sealed[1].pk, sealed[2].pk
        attacker("UPDATE audit_chain_link SET sequence = -2 WHERE sequence = 2")
        attacker("UPDATE audit_chain_link SET sequence = 2 WHERE sequence = 3")
        attacker("UPDATE audit_chain_link SET sequence = 3 WHERE sequence = -2")
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id) == (False, second)
        assert result.reason == "content or order changed"
        assert first != second

    def test_link_forged_without_the_key(self, sealed, attacker):
        attacker("UPDATE audit_chain_link SET mac = %s WHERE sequence = 3", [bytes(32)])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (False, sealed[2].pk, "link MAC altered")

    def test_chain_rebuilt_with_another_key_is_refused(self, sealed, settings):
        settings.AUDIT_CHAIN_KEY = "not-the-key"
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id) == (False, sealed[0].pk)

    def test_record_inserted_behind_the_service_is_queued_and_sealed_like_any(self, sealed):
        raw_sql(
            "INSERT INTO audit_record (occurred_at, actor_kind, actor_id, actor_label, action, target_type, "
            "target_id, outcome, purpose, detail) VALUES (%s, 'user', '1', 'mallory', 'registries.person.read', "
            "'', '', 'success', '', '{}')",
            [timezone.now()],
        )
        assert (audit_verify().ok, audit_verify().unsealed) == (True, 1)
        assert audit_seal().sealed == 1
        assert audit_verify().checked == 6

    def test_record_inserted_with_the_queue_trigger_bypassed(self, sealed, attacker):
        attacker(
            "INSERT INTO audit_record (occurred_at, actor_kind, actor_id, actor_label, action, target_type, "
            "target_id, outcome, purpose, detail) VALUES (%s, 'user', '1', 'mallory', 'registries.person.read', "
            "'', '', 'success', '', '{}')",
            [timezone.now()],
        )
        attacker("DELETE FROM audit_pending")  # on SQLite the trigger fired: the attacker drops the queue entry
        inserted = AuditRecord.objects.latest("id").pk
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (
            False,
            inserted,
            "not in the chain and not awaiting sealing",
        )

    def test_queue_entry_removed(self, sealed):
        (queued,) = append(1)
        raw_sql("DELETE FROM audit_pending WHERE record_id = %s", [queued.pk])
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (
            False,
            queued.pk,
            "not in the chain and not awaiting sealing",
        )

    def test_expected_head(self, sealed):
        head = audit_verify()
        mac = bytes.fromhex(head.head_mac)
        assert audit_verify(expect=(5, mac)).ok
        assert audit_verify(expect=(5, bytes(32))).reason == "differs from the expected head"

    def test_tail_truncation_is_seen_against_an_expected_head(self, sealed, attacker):
        head = audit_verify()
        attacker("DELETE FROM audit_chain_link WHERE sequence >= 4")
        attacker("DELETE FROM audit_record WHERE id >= %s", [sealed[3].pk])
        assert audit_verify().ok  # the chain alone cannot see its most recent links removed
        result = audit_verify(expect=(5, bytes.fromhex(head.head_mac)))
        assert (result.ok, result.first_bad_record_id, result.reason) == (
            False,
            None,
            "chain truncated: expected link 5 missing",
        )
        assert result.message == "audit chain broken: chain truncated: expected link 5 missing"


class TestSearch:
    def test_newest_first_with_filters(self):
        (mine,) = append(1, actor=ALICE, target_id="P1")
        (other,) = append(1, actor=Actor("user", "8", "bob"), target_id="P1", outcome="denied")
        append(1, actor=ALICE, action="registries.entity.read", target_type="registries.entity", target_id="E1")

        by_alice = audit_record_search(search=AuditSearch(actor="alice"))
        assert [r.actor_label for r in by_alice.items] == ["alice", "alice"]
        by_id = audit_record_search(search=AuditSearch(actor="8"))
        assert [r.pk for r in by_id.items] == [other.pk]
        person_reads = audit_record_search(search=AuditSearch(action="registries.person"))
        assert [r.pk for r in person_reads.items] == [other.pk, mine.pk]
        target = audit_record_search(search=AuditSearch(target_type="registries.person", target_id="P1"))
        assert [r.pk for r in target.items] == [other.pk, mine.pk]
        denied = audit_record_search(search=AuditSearch(outcome="denied"))
        assert [r.pk for r in denied.items] == [other.pk]

    def test_by_request_id(self):
        with request_from("192.0.2.7") as context:
            one_request = append(2)
        append(1)
        with request_from("192.0.2.7"):
            append(1)
        found = audit_record_search(search=AuditSearch(request_id=context.request_id))
        assert [r.pk for r in found.items] == [one_request[1].pk, one_request[0].pk]
        assert audit_record_search(search=AuditSearch(request_id="0" * 32)).items == []

    def test_date_range_is_inclusive_in_local_time(self):
        (record,) = append(1)
        today = timezone.localdate(record.occurred_at)
        yesterday = today - dt.timedelta(days=1)
        assert [r.pk for r in audit_record_search(search=AuditSearch(occurred_from=today)).items] == [record.pk]
        assert [r.pk for r in audit_record_search(search=AuditSearch(occurred_to=today)).items] == [record.pk]
        assert audit_record_search(search=AuditSearch(occurred_to=yesterday)).items == []
        tomorrow = today + dt.timedelta(days=1)
        assert audit_record_search(search=AuditSearch(occurred_from=tomorrow)).items == []

    def test_keyset_pages(self):
        records = append(5)
        ids = [r.pk for r in reversed(records)]
        first = audit_record_search(search=AuditSearch(), limit=2)
        assert [r.pk for r in first.items] == ids[:2]
        second = audit_record_search(search=AuditSearch(), cursor=first.next_cursor, limit=2)
        assert [r.pk for r in second.items] == ids[2:4]
        third = audit_record_search(search=AuditSearch(), cursor=second.next_cursor, limit=2)
        assert ([r.pk for r in third.items], third.next_cursor) == (ids[4:], None)

    @pytest.mark.parametrize(
        "make_cursor",
        [lambda: "garbage", lambda: encode_cursor(["x"]), lambda: encode_cursor([1, 2])],
        ids=["garbage", "text-key", "two-numbers"],
    )
    def test_refuses_a_bad_cursor(self, make_cursor):
        # Signed cursors carry a time: made in the test, not at collection, so every pytest worker collects one id.
        with pytest.raises(ValidationFailed):
            audit_record_search(search=AuditSearch(), cursor=make_cursor())

    @pytest.mark.parametrize("limit", [0, 201])
    def test_refuses_a_bad_limit(self, limit):
        with pytest.raises(ValidationFailed):
            audit_record_search(search=AuditSearch(), limit=limit)


_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)  # any character but a lone surrogate
_details = st.recursive(
    st.none() | st.booleans() | st.integers() | _texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_texts, children, max_size=3),
    max_leaves=8,
)


class TestCanonicalText:
    """`record_canonical_text` (the sealer's field-by-field writing, the detail canonicalised once) gives exactly the
    bytes `record_canonical_bytes` gives, which verification uses: any difference would break the chain."""

    @hypothesis_settings(max_examples=100, deadline=None)
    @given(
        record_id=st.integers(min_value=1, max_value=2**62),
        occurred=st.datetimes(min_value=dt.datetime(1000, 1, 2), max_value=dt.datetime(9999, 12, 30),
                              timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))])),
        strings=st.lists(_texts, min_size=7, max_size=7),
        address=st.sampled_from([None, "10.0.0.8", "2001:db8::1"]),
        detail=st.dictionaries(_texts, _details, max_size=4),
        request_id=st.sampled_from(["", "0c65d1a420664e1e8be5101bc4a74dcc"]),
    )  # fmt: skip
    def test_the_same_bytes_as_record_canonical_bytes(self, record_id, occurred, strings, address, detail, request_id):
        actor_kind, actor_id, actor_label, action, target_type, target_id, purpose = strings
        values = (record_id, occurred, actor_kind, actor_id, actor_label, action, target_type, target_id, "success",
                  address, purpose, detail, request_id)  # fmt: skip
        expected = record_canonical_bytes(values)
        assert record_canonical_text(values, detail_canonical(detail)).encode() == expected
        as_text = (values[0], _utc_text(occurred), *values[2:])  # the time as PostgreSQL's to_char gives it
        assert record_canonical_text(as_text, detail_canonical(detail)).encode() == expected

    def test_the_time_is_written_as_strftime_writes_it(self):
        moment = dt.datetime(2026, 12, 6, 8, 5, 3, 7, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        assert _utc_text(moment) == "2026-12-06T00:05:03.000007Z"
        assert _utc_text(moment.replace(microsecond=0)) == "2026-12-06T00:05:03.000000Z"

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
    def test_the_sealers_read_of_the_time_is_utc_text(self):
        """The sealer reads the time as to_char's UTC text: the same as `_utc_text` of the time the ORM reads."""
        records = append(3)
        with connection.cursor() as cursor:
            cursor.execute(_RECORDS_QUEUED_SQL, ["{" + ",".join(str(r.pk) for r in records) + "}"])
            rows = cursor.fetchall()
        stored = AuditRecord.objects.filter(pk__in=[r.pk for r in records]).order_by("id")
        assert [row[1] for row in rows] == [_utc_text(r.occurred_at) for r in stored]
