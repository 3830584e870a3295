"""Several writers at once, with real commits: the chain must neither serialise them nor lose or double a record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from django.db import close_old_connections, connection, connections, transaction

from rongcheng.audit.models import AuditChainLink, AuditPending, AuditRecord
from rongcheng.audit.selectors import audit_verify
from rongcheng.audit.services import SEALER_LOCK_ID, Actor, audit_record, audit_seal_all
from rongcheng.audit.tests.helpers import on_postgresql, on_sqlite

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 4
RECORDS_EACH = 25


def _in_thread(target, *args):
    """Django gives each thread its own connection; close it, or the test database cannot be dropped."""
    errors = []

    def run():
        try:
            target(*args)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _writer(number, start):
    start.wait()
    for index in range(RECORDS_EACH):
        with transaction.atomic():
            audit_record(
                action="registries.person.read",
                actor=Actor("user", str(number), f"writer-{number}"),
                target_type="registries.person",
                target_id=f"{number}-{index}",
            )


@on_postgresql
def test_concurrent_writers_every_record_sealed_exactly_once():
    start = threading.Barrier(WRITERS)
    threads = [_in_thread(_writer, number, start) for number in range(WRITERS)]
    for thread, _ in threads:
        thread.join(timeout=60)
    assert [errors for _, errors in threads] == [[]] * WRITERS
    close_old_connections()
    audit_seal_all()  # whatever the writers' own after-commit seals left

    total = WRITERS * RECORDS_EACH
    assert AuditRecord.objects.count() == total
    assert AuditPending.objects.count() == 0
    links = list(AuditChainLink.objects.order_by("sequence").values_list("sequence", "record_id"))
    assert [sequence for sequence, _ in links] == list(range(1, total + 1))
    assert sorted(record_id for _, record_id in links) == sorted(AuditRecord.objects.values_list("id", flat=True))
    result = audit_verify()
    assert (result.ok, result.checked, result.unsealed) == (True, total, 0)


@on_postgresql
@pytest.mark.parametrize("mode", ["inline", "background"])
def test_after_commit_sealing_leaves_nothing_behind(mode, settings, monkeypatch):
    """No explicit seal: the after-commit sealing must cover every record, including the last ones."""
    settings.AUDIT_SEAL_MODE = mode
    monkeypatch.setattr("rongcheng.audit.services.SEAL_IDLE_CLOSE_SECONDS", 0.05)
    start = threading.Barrier(WRITERS)
    threads = [_in_thread(_writer, number, start) for number in range(WRITERS)]
    for thread, _ in threads:
        thread.join(timeout=60)
    assert [errors for _, errors in threads] == [[]] * WRITERS
    deadline = time.monotonic() + 5  # a sealer that hit its round limit handed over to a timer thread
    while AuditPending.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert AuditPending.objects.count() == 0
    assert AuditChainLink.objects.count() == WRITERS * RECORDS_EACH
    assert audit_verify().ok
    time.sleep(0.3)  # the background thread closes its idle connection, which would keep the test database open


@on_sqlite
@pytest.mark.parametrize("mode", ["inline", "background"])
def test_concurrent_writers_on_a_sqlite_file(mode, tmp_path):
    """No explicit seal afterwards: the writers' after-commit seals must cover every record, the last ones too."""
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        "RONGCHENG_DATA_DIR": str(tmp_path),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "rongcheng.audit.tests.concurrent_writers", str(WRITERS), str(RECORDS_EACH), mode],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    total = WRITERS * RECORDS_EACH
    assert json.loads(completed.stdout.splitlines()[-1]) == {
        "errors": [],
        "records": total,
        "pending": 0,
        "sequences_dense": True,
        "distinct_records_linked": total,
        "verify_ok": True,
        "verify_checked": total,
    }


@on_postgresql
def test_a_lower_id_committing_after_a_higher_one_was_sealed():
    inserted, release = threading.Event(), threading.Event()
    ids = {}

    def slow_writer():
        with transaction.atomic():
            ids["slow"] = audit_record(action="registries.person.read", actor=Actor.system(), target_id="slow").pk
            inserted.set()
            release.wait(timeout=30)

    thread, errors = _in_thread(slow_writer)
    assert inserted.wait(timeout=30)
    with transaction.atomic():  # commits, and seals after commit, while the slow writer is still open
        fast = audit_record(action="registries.person.read", actor=Actor.system(), target_id="fast")
    assert fast.pk > ids["slow"]
    assert list(AuditChainLink.objects.values_list("sequence", "record_id")) == [(1, fast.pk)]
    assert list(AuditPending.objects.values_list("record_id", flat=True)) == []  # the open one is invisible

    release.set()
    thread.join(timeout=30)
    assert errors == []
    assert list(AuditChainLink.objects.order_by("sequence").values_list("sequence", "record_id")) == [
        (1, fast.pk),
        (2, ids["slow"]),
    ]
    assert audit_verify().ok


@on_postgresql
def test_appending_never_waits_for_a_busy_sealer():
    import psycopg

    settings_dict = connection.settings_dict
    sealer = psycopg.connect(
        dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"], port=settings_dict["PORT"]
    )
    try:
        sealer.execute("SELECT pg_advisory_lock(%s)", [SEALER_LOCK_ID])
        began = time.monotonic()
        for index in range(20):
            with transaction.atomic():
                audit_record(action="registries.person.read", actor=Actor.system(), target_id=str(index))
        assert time.monotonic() - began < 5
        assert AuditChainLink.objects.count() == 0
        assert AuditPending.objects.count() == 20
    finally:
        sealer.close()
    assert audit_seal_all() == 20
    assert audit_verify().ok


@on_postgresql
def test_a_sealer_at_its_round_limit_hands_over_to_a_background_thread(monkeypatch):
    monkeypatch.setattr("rongcheng.audit.services.SEAL_SOON_ROUNDS", 0)
    with transaction.atomic():
        record = audit_record(action="registries.person.read", actor=Actor.system(), target_id="1")
    assert AuditPending.objects.filter(record_id=record.pk).exists()  # the request itself did not seal
    deadline = time.monotonic() + 5
    while AuditPending.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(AuditChainLink.objects.values_list("sequence", "record_id")) == [(1, record.pk)]


def test_a_record_committed_while_the_inline_sealer_holds_its_lock_is_sealed(settings, monkeypatch):
    """The sealer looked at an empty queue; before it let go, another request committed and found it busy.

    That request returns without sealing (it never waits), so the sealer must look again after letting go.
    """
    from rongcheng.audit import services

    settings.AUDIT_SEAL_MODE = "inline"
    real_seal = services.audit_seal
    committed = []

    def another_request_commits_meanwhile():
        with transaction.atomic():
            committed.append(audit_record(action="registries.person.read", actor=Actor.system(), target_id="late").pk)

    def seal_then_another_request_commits(**arguments):
        result = real_seal(**arguments)
        if not committed:  # the first look found nothing; this process's sealer lock is still held
            thread, errors = _in_thread(another_request_commits_meanwhile)
            thread.join(timeout=30)
            assert errors == []
        return result

    monkeypatch.setattr(services, "audit_seal", seal_then_another_request_commits)
    assert not AuditPending.objects.exists()
    services.audit_seal_soon()
    assert list(AuditPending.objects.values_list("record_id", flat=True)) == []
    assert list(AuditChainLink.objects.values_list("sequence", "record_id")) == [(1, committed[0])]
    assert audit_verify().ok
