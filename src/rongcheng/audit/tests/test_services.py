from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from rongcheng.audit.errors import AuditChainBroken, AuditExportExists, AuditRecordInvalid, AuditRetentionNotReached
from rongcheng.audit.models import AuditAnchor, AuditChainLink, AuditPending, AuditRecord
from rongcheng.audit.selectors import (
    GENESIS_MAC,
    RECORD_FIELDS,
    AuditSearch,
    audit_record_search,
    audit_verify,
    chain_key,
    chain_mac,
    record_canonical_bytes,
    target_condition,
)
from rongcheng.audit.services import (
    SEALER_LOCK_ID,
    Actor,
    SealResult,
    actor_from_user,
    audit_export,
    audit_purge,
    audit_record,
    audit_record_many,
    audit_record_page,
    audit_seal,
    audit_seal_all,
    audit_seal_soon,
    refusals_summary_record,
    seal_mode,
)
from rongcheng.audit.tests.helpers import ALICE, a_moment_later, append, on_postgresql, raw_sql
from rongcheng.kernel.context import running, system
from rongcheng.kernel.crypto import hmac_sm3, sm3_digest
from rongcheng.kernel.ratelimit import RefusalSummary
from rongcheng.kernel.tests.contexts import request_from

pytestmark = pytest.mark.django_db


class TestActorFromUser:
    def test_user(self):
        user = SimpleNamespace(pk=42, is_authenticated=True, get_username=lambda: "zhang.san", kind="staff")
        assert actor_from_user(user) == Actor("user", "42", "zhang.san")

    def test_api_client(self):
        user = SimpleNamespace(pk=9, is_authenticated=True, get_username=lambda: "gjj-sync", kind="api_client")
        assert actor_from_user(user) == Actor("api_client", "9", "gjj-sync")

    def test_user_without_kind(self):
        user = SimpleNamespace(pk=3, is_authenticated=True, get_username=lambda: "root")
        assert actor_from_user(user) == Actor("user", "3", "root")

    def test_anonymous(self):
        assert actor_from_user(AnonymousUser()) == Actor("anonymous", "", "")
        assert actor_from_user(None) == Actor("anonymous", "", "")


class TestAuditRecord:
    def test_appends_a_queued_record(self):
        before = timezone.now()
        record = audit_record(
            action="registries.person.read",
            actor=ALICE,
            target_type="registries.person",
            target_id=123,
            outcome="denied",
            purpose="核验身份",
            source_address="192.0.2.7",
            detail={"fields": ["name"], "masked": True},
        )
        stored = AuditRecord.objects.get()
        assert stored.pk == record.pk
        assert (stored.actor_kind, stored.actor_id, stored.actor_label) == ("user", "7", "alice")
        assert (stored.action, stored.target_type, stored.target_id) == (
            "registries.person.read",
            "registries.person",
            "123",
        )
        assert (stored.outcome, stored.purpose, stored.source_address) == ("denied", "核验身份", "192.0.2.7")
        assert stored.detail == {"fields": ["name"], "masked": True}
        assert before - dt.timedelta(seconds=5) <= stored.occurred_at <= timezone.now() + dt.timedelta(seconds=5)
        assert list(AuditPending.objects.values_list("record_id", flat=True)) == [record.pk]
        assert AuditChainLink.objects.count() == 0

    @pytest.mark.parametrize(
        ("fields", "loc"),
        [
            ({"action": "Read"}, "action"),
            ({"action": "registries"}, "action"),
            ({"action": "registries.person.read;drop"}, "action"),
            ({"outcome": "maybe"}, "outcome"),
            ({"actor": Actor("robot", "1", "r")}, "actor"),  # type: ignore[arg-type]
            ({"source_address": "not-an-ip"}, "source_address"),
            ({"target_id": "x" * 101}, "target_id"),
            ({"purpose": "因" * 501}, "purpose"),
            ({"detail": {"when": dt.date(2024, 1, 1)}}, "detail"),
            ({"detail": {"ratio": float("nan")}}, "detail"),
        ],
    )
    def test_refuses_invalid_input_and_writes_nothing(self, fields, loc):
        arguments = {"action": "registries.person.read", "actor": ALICE, **fields}
        with pytest.raises(AuditRecordInvalid) as raised:
            audit_record(**arguments)
        assert raised.value.errors[0]["loc"] == [loc]
        assert AuditRecord.objects.count() == 0
        assert AuditPending.objects.count() == 0

    def test_seals_after_commit(self, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            (record,) = append(1)
        # One sealing of the audit trail (other apps may count the record after commit too, e.g. the metrics).
        assert len([c for c in callbacks if c.__module__.startswith("rongcheng.audit")]) == 1
        assert list(AuditChainLink.objects.values_list("sequence", "record_id")) == [(1, record.pk)]
        assert AuditPending.objects.count() == 0


class TestRequestId:
    def test_records_of_one_request_share_its_id(self):
        with request_from("192.0.2.7") as first:
            read, write = append(1)[0], append(1, action="registries.person.update")[0]
        with request_from("192.0.2.7") as second:
            (other,) = append(1)
        stored = dict(AuditRecord.objects.values_list("pk", "request_id"))
        assert stored == {read.pk: first.request_id, write.pk: first.request_id, other.pk: second.request_id}
        assert first.request_id != second.request_id

    def test_a_job_runs_records_carry_the_jobs_id(self):
        with running(system("job security.scan")) as job:
            records = append(2)
        assert job.request_id
        stored = AuditRecord.objects.filter(pk__in=[r.pk for r in records]).values_list("request_id", flat=True)
        assert list(stored) == [job.request_id] * 2

    def test_outside_any_request_or_job_it_is_empty(self):
        (record,) = append(1)
        assert AuditRecord.objects.get(pk=record.pk).request_id == ""

    def test_a_page_of_records_written_at_once_carries_it(self):
        with request_from("192.0.2.7") as context:
            written = audit_record_many(
                action="registries.person.read", actor=ALICE, target_type="registries.person", target_ids=[1, 2, 3]
            )
        assert written == 3
        assert list(AuditRecord.objects.order_by("id").values_list("target_id", "request_id")) == [
            ("1", context.request_id),
            ("2", context.request_id),
            ("3", context.request_id),
        ]

    def test_a_rate_limit_summary_is_not_filed_under_the_request_that_closed_the_window(self):
        summary = RefusalSummary("identity.register", 1_700_000_000, 600, 12)
        with request_from("192.0.2.7") as request:
            during_request = refusals_summary_record(summary)
        with running(system("job cleanup")) as job:
            during_job = refusals_summary_record(summary)
        stored = dict(AuditRecord.objects.values_list("pk", "request_id"))
        assert stored[during_request.pk] not in ("", request.request_id)
        assert stored[during_job.pk] == job.request_id


class TestSealMode:
    def test_background_unless_configured(self, settings):
        settings.AUDIT_SEAL_MODE = None
        assert seal_mode() == "background"
        settings.AUDIT_SEAL_MODE = "inline"
        assert seal_mode() == "inline"

    def test_refuses_an_unknown_mode_before_writing(self, settings):
        settings.AUDIT_SEAL_MODE = "sometimes"
        with pytest.raises(ImproperlyConfigured):
            append(1)
        assert AuditRecord.objects.count() == 0

    def test_manual_leaves_sealing_to_the_operator(self, settings, django_capture_on_commit_callbacks):
        settings.AUDIT_SEAL_MODE = "manual"
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            (record,) = append(1)
        assert [c for c in callbacks if c.__module__.startswith("rongcheng.audit")] == []  # no sealing scheduled
        assert list(AuditPending.objects.values_list("record_id", flat=True)) == [record.pk]
        assert AuditChainLink.objects.count() == 0


class TestSeal:
    def test_seals_in_order_with_the_expected_macs(self):
        records = append(3)
        result = audit_seal()
        assert (result.sealed, result.busy, result.remaining, result.head_sequence) == (3, False, False, 3)
        links = list(AuditChainLink.objects.order_by("sequence"))
        assert [(link.sequence, link.record_id) for link in links] == [(n + 1, r.pk) for n, r in enumerate(records)]
        key = chain_key()
        previous = GENESIS_MAC
        for link in links:
            record = AuditRecord.objects.filter(pk=link.record_id).values_list(
                "id",
                "occurred_at",
                "actor_kind",
                "actor_id",
                "actor_label",
                "action",
                "target_type",
                "target_id",
                "outcome",
                "source_address",
                "purpose",
                "detail",
                "request_id",
            )[0]
            canonical = record_canonical_bytes(record)
            expected = hmac_sm3(key, previous + link.sequence.to_bytes(8, "big") + canonical)
            assert bytes(link.mac) == expected == chain_mac(key, previous, link.sequence, record)
            previous = expected
        assert result.head_mac == previous.hex()
        assert AuditPending.objects.count() == 0

    def test_canonical_form_is_fixed(self):
        (record,) = append(1, detail={"b": 2, "a": "甲"})
        values = AuditRecord.objects.filter(pk=record.pk).values_list(
            "id",
            "occurred_at",
            "actor_kind",
            "actor_id",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "outcome",
            "source_address",
            "purpose",
            "detail",
            "request_id",
        )[0]
        document = json.loads(record_canonical_bytes(values))
        occurred = values[1].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert document == {
            "id": record.pk,
            "occurred_at": occurred,
            "actor_kind": "user",
            "actor_id": "7",
            "actor_label": "alice",
            "action": "registries.person.read",
            "target_type": "registries.person",
            "target_id": "100",
            "outcome": "success",
            "source_address": "10.0.0.8",
            "purpose": "核验身份",
            "detail": {"a": "甲", "b": 2},
        }
        assert b'"detail":{"a":"\xe7\x94\xb2","b":2}' in record_canonical_bytes(values)

    def test_a_request_id_is_sealed_with_the_record(self):
        with request_from("10.0.0.8") as context:
            (record,) = append(1)
        (without,) = append(1)
        audit_seal()
        values = {}
        for pk in (record.pk, without.pk):
            row = AuditRecord.objects.filter(pk=pk).values_list(*RECORD_FIELDS)[0]
            values[pk] = json.loads(record_canonical_bytes(row))
        assert values[record.pk]["request_id"] == context.request_id
        # A record without one (outside any request, or written before the trail kept them) hashes as it always did.
        assert "request_id" not in values[without.pk]
        assert set(values[without.pk]) == set(RECORD_FIELDS) - {"request_id"}
        assert audit_verify().ok

    def test_batches_continue_the_chain(self):
        append(5)
        first = audit_seal(limit=2)
        assert (first.sealed, first.head_sequence, first.remaining) == (2, 2, True)
        second = audit_seal(limit=2)
        assert (second.sealed, second.head_sequence, second.remaining) == (2, 4, True)
        third = audit_seal(limit=2)
        assert (third.sealed, third.head_sequence, third.remaining) == (1, 5, False)
        assert audit_seal() == SealResult(0, False, False, None)
        assert audit_verify().ok

    def test_a_record_committed_late_with_a_lower_id_is_sealed_after_higher_ones(self):
        """PostgreSQL hands out ids at INSERT; a record may become visible after a higher id was sealed."""
        early, late = append(2)
        raw_sql(
            "DELETE FROM audit_pending WHERE record_id = %s", [early.pk]
        )  # not committed yet, as seen by the sealer
        audit_seal()
        raw_sql("INSERT INTO audit_pending (record_id) VALUES (%s)", [early.pk])  # now it commits
        (third,) = append(1)
        audit_seal()
        assert list(AuditChainLink.objects.order_by("sequence").values_list("sequence", "record_id")) == [
            (1, late.pk),
            (2, early.pk),
            (3, third.pk),
        ]
        result = audit_verify()
        assert (result.ok, result.checked) == (True, 3)

    def test_a_record_queued_twice_is_sealed_once(self):
        (record,) = append(1)
        audit_seal()
        raw_sql("INSERT INTO audit_pending (record_id) VALUES (%s)", [record.pk])
        (other,) = append(1)
        result = audit_seal()
        assert result.sealed == 1
        assert list(AuditChainLink.objects.order_by("sequence").values_list("record_id", flat=True)) == [
            record.pk,
            other.pk,
        ]
        assert AuditPending.objects.count() == 0
        assert audit_verify().ok

    def test_sealing_after_commit_never_raises(self, monkeypatch, caplog):
        append(1)

        def broken(**_):
            raise RuntimeError("database went away")

        monkeypatch.setattr("rongcheng.audit.services.audit_seal", broken)
        audit_seal_soon()
        assert "sealing the audit chain failed" in caplog.text
        assert AuditPending.objects.count() == 1

    def test_a_page_of_records_is_sealed_by_exact_ids_with_the_expected_macs(self):
        """A page of a hundred and fifty records of one read (audit_record_many), one of them not yet visible to the
        sealer (its queue entry not committed): the others are sealed in one batch, each with the MAC of its values as
        the ORM reads them, and only the one left out stays queued (on PostgreSQL the records are read by one array
        of ids, `id = ANY(...)`, and the links written from arrays)."""
        audit_record_many(action="registries.person.read", actor=ALICE, target_type="registries.person",
                          target_ids=list(range(1000, 1150)), purpose="核验身份", source_address="10.0.0.8",
                          detail={"via": "exchange", "clear": []})  # fmt: skip
        ids = list(AuditRecord.objects.order_by("id").values_list("id", flat=True))
        hidden = ids[70]
        raw_sql("DELETE FROM audit_pending WHERE record_id = %s", [hidden])
        result = audit_seal()
        assert (result.sealed, result.remaining, result.head_sequence) == (149, False, 149)
        sealed = [pk for pk in ids if pk != hidden]
        links = list(AuditChainLink.objects.order_by("sequence").values_list("sequence", "record_id", "mac"))
        assert [(sequence, record) for sequence, record, _mac in links] == list(enumerate(sealed, start=1))
        key, previous = chain_key(), GENESIS_MAC
        for (sequence, record, mac), values in zip(
            links, AuditRecord.objects.filter(id__in=sealed).order_by("id").values_list(*RECORD_FIELDS), strict=True
        ):
            assert values[0] == record
            previous = chain_mac(key, previous, sequence, values)
            assert bytes(mac) == previous
        assert result.head_mac == previous.hex()
        assert AuditPending.objects.count() == 0
        raw_sql("INSERT INTO audit_pending (record_id) VALUES (%s)", [hidden])  # its transaction commits now
        assert audit_seal().sealed == 1
        assert AuditChainLink.objects.get(record_id=hidden).sequence == 150
        assert audit_verify().ok

    @on_postgresql
    def test_a_page_query_and_its_record_are_one_statement_with_the_rows_read_listed(
        self, django_capture_on_commit_callbacks
    ):
        """audit_record_page: the page's rows as the query gives them (the row past the limit included, so the
        caller can tell that more follow), and one record of the page listing the targets of the rows within the
        limit (as text, ascending) in its detail; sealed after commit with the expected MAC; no row, no record."""
        from django.db import transaction
        from django.test.utils import CaptureQueriesContext

        page = "SELECT n, 'row ' || n FROM generate_series(%s, %s) AS n ORDER BY n"
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            with request_from("10.0.0.8"), CaptureQueriesContext(connection) as statements:
                rows = audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                                         page_sql=page, page_params=[999, 1004], width=2, limit=5,
                                         purpose="核验身份", source_address="10.0.0.8",
                                         detail={"via": "exchange", "clear": []})  # fmt: skip
            assert len(statements.captured_queries) == 1
            # the targets listed by one ARRAY sorted once (an aggregate with its own ORDER BY sorted them again)
            (statement,) = (query["sql"] for query in statements.captured_queries)
            assert "jsonb_agg" not in statement
            assert "ARRAY(SELECT c0::bigint AS c FROM page ORDER BY c LIMIT" in statement
            assert rows == [(n, f"row {n}") for n in range(999, 1005)]
            assert audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                                     page_sql=page, page_params=[5, 4], width=2, limit=3) == []  # fmt: skip
        records = list(AuditRecord.objects.order_by("id"))
        assert [(r.action, r.actor_kind, r.actor_id, r.actor_label, r.target_type, r.target_id, r.outcome,
                 r.purpose, r.source_address, r.detail) for r in records] == [
            ("registries.person.read", "user", "7", "alice", "registries.person", "", "success", "核验身份",
             "10.0.0.8", {"via": "exchange", "clear": [], "targets": ["999", "1000", "1001", "1002", "1003"]})
        ]  # fmt: skip
        assert records[0].request_id
        assert AuditPending.objects.count() == 0
        assert list(AuditChainLink.objects.values_list("record_id", flat=True)) == [records[0].pk]
        assert audit_verify().ok

    @on_postgresql
    def test_rows_alongside_a_page_go_in_with_its_record_counting_the_rows_read(
        self, django_capture_on_commit_callbacks
    ):
        """audit_record_page's `alongside`: the caller's rows recording the same read (here a record of its own from
        audit_record_counted_sql) are written by the page's own statement, with `page_read(n)` the rows read within
        the limit (5 of the 6 rows the page query gives; 0 for an empty page, which still records the read); every
        record queued by the trigger, sealed after commit and the chain verified."""
        from django.db import transaction
        from django.test.utils import CaptureQueriesContext

        from rongcheng.audit.services import audit_record_counted_sql

        page = "SELECT n FROM generate_series(%s, %s) AS n ORDER BY n"

        def counted() -> tuple[str, list[Any]]:
            return audit_record_counted_sql(action="catalogue.exchange.query", actor=ALICE,
                                            target_type="catalogue.dataresource", target_id="310003/000001",
                                            count_key="rows", detail={"fields": ["name"]})  # fmt: skip

        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            with CaptureQueriesContext(connection) as statements:
                rows = audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                                         page_sql=page, page_params=[999, 1004], width=1, limit=5,
                                         alongside=[counted()])  # fmt: skip
            assert len(statements.captured_queries) == 1
            assert rows == [(n,) for n in range(999, 1005)]
            assert audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                                     page_sql=page, page_params=[5, 4], width=1, limit=3,
                                     alongside=[counted()]) == []  # fmt: skip
        records = list(AuditRecord.objects.order_by("id").values_list("action", "target_id", "detail"))
        assert sorted(records, key=lambda r: r[0], reverse=True) == [
            ("registries.person.read", "", {"targets": ["999", "1000", "1001", "1002", "1003"]}),
            ("catalogue.exchange.query", "310003/000001", {"fields": ["name"], "rows": 5}),
            ("catalogue.exchange.query", "310003/000001", {"fields": ["name"], "rows": 0}),
        ]  # fmt: skip
        assert AuditPending.objects.count() == 0
        assert AuditChainLink.objects.count() == 3
        assert audit_verify().ok
        with pytest.raises(AuditRecordInvalid):
            audit_record_counted_sql(action="catalogue.exchange.query", actor=ALICE, target_type="t", target_id="1",
                                     count_key="rows", detail={"rows": 1})  # fmt: skip

    @on_postgresql
    def test_a_page_record_is_found_by_each_target_it_lists_and_by_no_other(self, django_capture_on_commit_callbacks):
        """target_condition, the auditors' search by target: the page's record for each target read (numeric order
        is not text order: 999 and 1000 both), a single target's own record too, newest first; not for a target
        past the limit, nor for a prefix of a listed one."""
        from django.db import transaction

        page = "SELECT n FROM generate_series(%s, %s) AS n ORDER BY n"
        own = audit_record(action="registries.person.read", actor=ALICE, target_type="registries.person",
                           target_id=1000)  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                              page_sql=page, page_params=[999, 1001], width=1, limit=2)  # fmt: skip
        (paged,) = AuditRecord.objects.filter(target_id="", action="registries.person.read")

        def found(target: str) -> list[int]:
            return [r.pk for r in audit_record_search(search=AuditSearch(target_type="registries.person",
                                                                         target_id=target)).items]  # fmt: skip

        assert found("1000") == [paged.pk, own.pk]
        assert found("999") == [paged.pk]
        assert found("1001") == []
        assert found("99") == []
        assert found("10") == []

    @on_postgresql
    def test_a_target_inside_a_page_span_that_the_page_did_not_read_is_not_found(
        self, django_capture_on_commit_callbacks
    ):
        """The span index (first to last listed) only narrows the search: the list itself decides. A page of every
        other key (10, 12, 14, 16) is found for 12 and 16, not for 11 or 15 inside its span, nor 17 past it; and
        the search takes the span index, not a scan of the trail (EXPLAIN, sequential scans off)."""
        from django.db import transaction

        page = "SELECT n FROM generate_series(%s, %s, 2) AS n ORDER BY n"
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                              page_sql=page, page_params=[10, 16], width=1, limit=4)  # fmt: skip
        (paged,) = AuditRecord.objects.filter(target_id="", action="registries.person.read")
        assert paged.detail["targets"] == ["10", "12", "14", "16"]

        def found(target: str) -> list[int]:
            return [r.pk for r in audit_record_search(search=AuditSearch(target_type="registries.person",
                                                                         target_id=target)).items]  # fmt: skip

        assert (found("12"), found("16"), found("10")) == ([paged.pk], [paged.pk], [paged.pk])
        assert (found("11"), found("15"), found("17"), found("9"), found("x12")) == ([], [], [], [], [])
        raw_sql("SET LOCAL enable_seqscan = off")
        with connection.cursor() as cursor:
            query = AuditRecord.objects.filter(target_condition("12")).query
            sql, params = query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        assert "audit_record_targets_span_idx" in plan

    @on_postgresql
    def test_a_page_whose_first_column_is_not_an_integer_key_writes_nothing(self):
        """The targets are integer keys (the span index casts the first and last listed): a page keyed by text fails
        as a whole, and neither its record nor anything alongside is written."""
        from django.db import DataError, transaction

        from rongcheng.audit.services import audit_record_counted_sql

        along = audit_record_counted_sql(action="catalogue.exchange.query", actor=ALICE,
                                         target_type="catalogue.dataresource", target_id="310003/000001",
                                         count_key="rows", detail={})  # fmt: skip
        before = AuditRecord.objects.count()
        with pytest.raises(DataError), transaction.atomic():
            audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                              page_sql="SELECT 'a' || n FROM generate_series(%s, %s) AS n ORDER BY 1",
                              page_params=[1, 3], width=1, limit=3, alongside=[along])  # fmt: skip
        assert AuditRecord.objects.count() == before
        assert AuditPending.objects.count() == 0

    @on_postgresql
    def test_editing_the_list_of_targets_read_breaks_the_chain(self, django_capture_on_commit_callbacks):
        """The persons read are sealed with the page's record: a target taken off its list (someone hiding a read)
        or added is found by verification."""
        from django.db import transaction

        page = "SELECT n FROM generate_series(%s, %s) AS n ORDER BY n"
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                              page_sql=page, page_params=[1, 3], width=1, limit=3)  # fmt: skip
        audit_record(action="audit.search", actor=ALICE)
        audit_seal()
        (paged,) = AuditRecord.objects.filter(action="registries.person.read")
        assert audit_verify().ok
        raw_sql("SET LOCAL session_replication_role = replica")
        raw_sql("UPDATE audit_record SET detail = jsonb_set(detail, '{targets}', '[\"1\", \"3\"]') WHERE id = %s",
                [paged.pk])  # fmt: skip
        result = audit_verify()
        assert (result.ok, result.first_bad_record_id, result.reason) == (False, paged.pk, "content changed")

    @on_postgresql
    def test_a_page_record_refuses_a_detail_that_names_targets_itself(self):
        from django.db import transaction

        with transaction.atomic(), pytest.raises(AuditRecordInvalid):
            audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                              page_sql="SELECT 1", page_params=[], width=1, limit=1,
                              detail={"targets": ["2"]})  # fmt: skip
        assert AuditRecord.objects.count() == 0

    @pytest.mark.skipif(connection.vendor == "postgresql", reason="elsewhere than PostgreSQL")
    def test_a_page_query_with_its_records_needs_postgresql(self):
        with pytest.raises(ImproperlyConfigured):
            audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                              page_sql="SELECT 1", page_params=[], width=1, limit=1)  # fmt: skip
        assert AuditRecord.objects.count() == 0

    def test_seal_all(self):
        append(7)
        assert audit_seal_all(limit=3) == 7
        assert AuditChainLink.objects.count() == 7

    @on_postgresql
    def test_returns_at_once_when_another_sealer_holds_the_lock(self, django_db_blocker):
        """The lock is held from a second connection, as another process would."""
        import psycopg

        append(2)
        settings_dict = connection.settings_dict
        other = psycopg.connect(
            dbname=settings_dict["NAME"],
            user=settings_dict["USER"],
            host=settings_dict["HOST"],
            port=settings_dict["PORT"] or 5432,
        )
        try:
            other.execute("SELECT pg_advisory_lock(%s)", [SEALER_LOCK_ID])
            result = audit_seal()
            assert (result.sealed, result.busy) == (0, True)
            audit_seal_soon()  # returns without waiting or raising
            assert AuditChainLink.objects.count() == 0
            # Released by the other process before the next seal: closing alone returns before the server's backend
            # has exited and let go of the lock.
            other.execute("SELECT pg_advisory_unlock(%s)", [SEALER_LOCK_ID])
        finally:
            other.close()
        assert audit_seal().sealed == 2


def _old_and_new(settings, count_old=3, count_new=2):
    settings.AUDIT_RETENTION_DAYS = 0
    old = append(count_old)
    cut = a_moment_later()
    new = append(count_new, action="registries.person.update")
    audit_seal()
    return old, cut, new


class TestPurge:
    def test_refuses_within_retention_and_changes_nothing(self, tmp_path):
        append(2)
        audit_seal()
        before = timezone.now() - dt.timedelta(days=179)
        with pytest.raises(AuditRetentionNotReached):
            audit_purge(before=before, export_to=tmp_path / "purged.jsonl", actor=ALICE)
        assert AuditRecord.objects.count() == 2
        assert AuditChainLink.objects.count() == 2
        assert AuditAnchor.objects.count() == 0
        assert list(tmp_path.iterdir()) == []

    def test_nothing_older_than_retention(self, tmp_path):
        append(2)
        audit_seal()
        result = audit_purge(
            before=timezone.now() - dt.timedelta(days=181), export_to=tmp_path / "purged.jsonl", actor=ALICE
        )
        assert (result.purged, result.export, result.anchor) == (0, None, None)
        assert AuditRecord.objects.count() == 2
        assert list(tmp_path.iterdir()) == []

    def test_exports_then_deletes_and_verification_continues(self, settings, tmp_path):
        old, cut, new = _old_and_new(settings)
        target = tmp_path / "purged.jsonl"
        result = audit_purge(before=cut, export_to=target, actor=Actor.system("ops"))

        assert result.purged == 3
        assert result.export is not None
        assert (result.export.count, result.export.first_sequence, result.export.last_sequence) == (3, 1, 3)
        lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
        assert lines[0]["format"] == "rongcheng-audit-export/1"
        assert [line["record"]["id"] for line in lines[1:]] == [r.pk for r in old]
        assert [line["sequence"] for line in lines[1:]] == [1, 2, 3]
        assert lines[1]["previous_mac"] == GENESIS_MAC.hex()
        key = chain_key()
        for line in lines[1:]:  # every exported line can be checked offline with the key
            body = json.dumps(line["record"], ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
            mac = hmac_sm3(key, bytes.fromhex(line["previous_mac"]) + line["sequence"].to_bytes(8, "big") + body)
            assert mac.hex() == line["mac"]

        remaining = list(AuditRecord.objects.order_by("id").values_list("id", "action"))
        purge_record = remaining[-1]
        assert remaining[:-1] == [(r.pk, "registries.person.update") for r in new]
        assert purge_record[1] == "audit.purge"
        assert AuditRecord.objects.get(pk=purge_record[0]).detail == {
            "purged": 3,
            "before": cut.isoformat(),
            "first_sequence": 1,
            "last_sequence": 3,
            "file": "purged.jsonl",
            "sm3": result.export.digest,
        }
        assert list(AuditChainLink.objects.order_by("sequence").values_list("sequence", flat=True)) == [4, 5]
        anchor = AuditAnchor.objects.get()
        assert (anchor.sequence, anchor.purged_count, anchor.export_name) == (3, 3, "purged.jsonl")
        assert bytes(anchor.mac).hex() == lines[-1]["mac"]

        audit_seal()
        verified = audit_verify()
        assert (verified.ok, verified.checked, verified.head_sequence) == (True, 3, 6)

    def test_purges_everything_sealed_then_chains_on(self, settings, tmp_path):
        settings.AUDIT_RETENTION_DAYS = 0
        append(2)
        audit_seal()
        cut = a_moment_later()
        result = audit_purge(before=cut, export_to=tmp_path / "all.jsonl", actor=ALICE)
        assert result.purged == 2
        assert AuditChainLink.objects.count() == 0
        audit_seal()  # the purge's own record chains onto the anchor
        append(1)
        audit_seal()
        assert list(AuditChainLink.objects.order_by("sequence").values_list("sequence", flat=True)) == [3, 4]
        verified = audit_verify()
        assert (verified.ok, verified.checked) == (True, 2)

    def test_refuses_to_overwrite_an_export(self, settings, tmp_path):
        _old_and_new(settings)
        target = tmp_path / "purged.jsonl"
        target.write_text("earlier export\n", encoding="utf-8")
        with pytest.raises(AuditExportExists):
            audit_purge(before=timezone.now(), export_to=target, actor=ALICE)
        assert target.read_text(encoding="utf-8") == "earlier export\n"
        assert AuditRecord.objects.count() == 5
        assert AuditAnchor.objects.count() == 0

    def test_refuses_to_purge_a_broken_segment(self, settings, tmp_path):
        old, cut, _new = _old_and_new(settings)
        raw_sql("SET LOCAL session_replication_role = replica" if connection.vendor == "postgresql" else "SELECT 1")
        raw_sql("UPDATE audit_record SET purpose = 'edited' WHERE id = %s", [old[1].pk])
        with pytest.raises(AuditChainBroken):
            audit_purge(before=cut, export_to=tmp_path / "purged.jsonl", actor=ALICE)
        assert AuditRecord.objects.count() == 5
        assert AuditChainLink.objects.count() == 5
        assert list(tmp_path.iterdir()) == []


class TestExport:
    def test_exports_sealed_records_and_is_audited(self, tmp_path):
        records = append(3)
        audit_seal()
        target = tmp_path / "trail.jsonl"
        result = audit_export(to=target, actor=ALICE)
        lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
        assert (result.count, result.first_sequence, result.last_sequence) == (3, 1, 3)
        assert [line["record"]["id"] for line in lines[1:]] == [r.pk for r in records]
        export_record = AuditRecord.objects.order_by("-id").first()
        assert export_record is not None
        assert (export_record.action, export_record.detail["count"], export_record.detail["sm3"]) == (
            "audit.export",
            3,
            result.digest,
        )
        assert result.digest == sm3_digest(target.read_bytes()).hex()

    def test_since_filters(self, tmp_path):
        append(2)
        since = a_moment_later()
        later = append(1)
        audit_seal()
        result = audit_export(to=tmp_path / "recent.jsonl", actor=ALICE, since=since)
        lines = [json.loads(line) for line in (tmp_path / "recent.jsonl").read_text(encoding="utf-8").splitlines()]
        assert result.count == 1
        assert [line["record"]["id"] for line in lines[1:]] == [later[0].pk]
        assert lines[1]["sequence"] == 3


@pytest.mark.django_db(transaction=True)
def test_export_and_purge_with_real_commits(settings, tmp_path):
    """Outside a test transaction: the snapshot walk, the triggers' purge flag and the anchor, all committed."""
    old, cut, new = _old_and_new(settings)
    exported = audit_export(to=tmp_path / "all.jsonl", actor=ALICE)
    assert exported.count == 5
    result = audit_purge(before=cut, export_to=tmp_path / "purged.jsonl", actor=ALICE)
    assert result.purged == 3
    assert list(AuditRecord.objects.filter(pk__in=[r.pk for r in old])) == []
    assert AuditRecord.objects.filter(pk__in=[r.pk for r in new]).count() == 2
    audit_seal()
    verified = audit_verify()
    assert (verified.ok, verified.checked) == (True, 4)  # 2 new, the export's and the purge's own records
