"""The exchange-log writer (settings.EXCHANGE_LOG_WRITE = "background", ADR 0017): every call of a department system
still leaves exactly one row, written by the process's writer thread a moment after the answer, or by the call
itself when the writer is a whole queue behind, or at the process's normal exit (a granian worker is a
multiprocessing child: no atexit there). PostgreSQL only: on SQLite each row is written at once, as the suite's other
tests (inline, conftest.py) check through test_machine_path."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client
from tests.api_callers import callers

from rongcheng.operations import services
from rongcheng.operations.models import ExchangeRecord
from rongcheng.operations.services import exchange_log_flush, exchange_log_stop, exchange_record_later

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the writer's own connection sees only committed rows
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the writer batches on PostgreSQL only"),
]

URL = "/api/v1/registries/persons?name=%E5%BC%A0&purpose=service_hall"


@pytest.fixture
def background(settings: Any) -> Iterator[None]:
    settings.EXCHANGE_LOG_WRITE = "background"
    yield
    exchange_log_stop()  # no thread, and no connection of its own, outlives the test


def _record(request_id: str, status: int = 200) -> dict[str, Any]:
    now = dt.datetime.now(tz=dt.UTC)
    return {
        "client": "system-caller", "service": "GET /api/v1/registries/persons", "purpose": "service_hall",
        "request_id": request_id, "request_in_at": now, "request_out_at": now, "response_in_at": now,
        "response_out_at": now, "request_bytes": 0, "response_bytes": 10, "status": status,
    }  # fmt: skip


def _rows_within(count: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while ExchangeRecord.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return ExchangeRecord.objects.count()


def test_every_call_leaves_exactly_one_row_written_by_the_writer(background: None) -> None:
    caller = next(caller for caller in callers() if caller.kind == "client")
    client = Client(headers=caller.headers)
    calls = 60
    for _ in range(calls):
        assert client.get(URL).status_code == 200
    client.get("/api/v1/registries/persons/999999?purpose=service_hall")  # a 404 is a call too
    assert _rows_within(calls + 1) == calls + 1  # without any flush: the thread wrote them
    time.sleep(3 * services.EXCHANGE_GATHER_SECONDS)
    records = list(ExchangeRecord.objects.order_by("pk"))
    assert len(records) == calls + 1  # and no more
    assert len({record.request_id for record in records}) == calls + 1
    assert sorted(record.status for record in records) == [200] * calls + [404]
    for record in records:
        assert record.client_id == "system-caller"
        assert record.purpose == "service_hall"
        assert record.request_in_at <= record.request_out_at <= record.response_in_at <= record.response_out_at


def test_the_writer_appends_many_rows_by_one_statement(background: None, monkeypatch: Any) -> None:
    statements: list[int] = []
    original = services._exchange_insert_sql

    def counted(rows: int) -> str:
        statements.append(rows)
        return original(rows)

    monkeypatch.setattr(services, "_exchange_insert_sql", counted)
    monkeypatch.setattr(services, "EXCHANGE_GATHER_SECONDS", 5.0)  # the test flushes before the writer wakes
    ids = [uuid.uuid4().hex for _ in range(services.EXCHANGE_BATCH + 20)]
    for request_id in ids:
        exchange_record_later(**_record(request_id))
    assert ExchangeRecord.objects.count() == 0  # held, not written by the call
    assert exchange_log_flush() == len(ids)
    assert statements == [services.EXCHANGE_BATCH, 20]  # a batch per statement, at most EXCHANGE_BATCH rows each
    assert sorted(ExchangeRecord.objects.values_list("request_id", flat=True)) == sorted(ids)


def test_a_call_writes_its_own_row_when_the_writer_is_a_queue_behind(background: None, monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "EXCHANGE_QUEUE_LIMIT", 0)
    exchange_record_later(**_record("behind"))
    assert list(ExchangeRecord.objects.values_list("request_id", flat=True)) == ["behind"]  # at once


def test_a_row_the_database_refuses_is_logged_and_the_writer_goes_on(background: None, caplog: Any) -> None:
    exchange_record_later(**{**_record("x" * 64), "response_out_at": None})  # NOT NULL: the statement fails
    assert exchange_log_flush() == 0
    assert "1 exchange records not written" in caplog.text
    exchange_record_later(**_record("after"))
    assert _rows_within(1) == 1


def _child_adds_rows_and_exits(ids: list[str]) -> None:
    # The parent's connection object is kept (not closed: its socket is the parent's) and a new one opened here.
    kept = [connections[alias].connection for alias in connections]
    for alias in connections:
        connections[alias].connection = None
    for request_id in ids:
        exchange_record_later(**_record(request_id))
    _child_adds_rows_and_exits.kept = kept  # type: ignore[attr-defined]  # alive until os._exit
    # returns at once: multiprocessing ends the child without atexit; its finaliser writes what the writer holds


def test_a_worker_that_exits_normally_writes_what_its_writer_holds(background: None, monkeypatch: Any) -> None:
    monkeypatch.setattr(services, "EXCHANGE_GATHER_SECONDS", 30.0)  # the thread would not write them in time
    ids = [uuid.uuid4().hex for _ in range(7)]
    child = multiprocessing.get_context("fork").Process(target=_child_adds_rows_and_exits, args=(ids,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert sorted(ExchangeRecord.objects.values_list("request_id", flat=True)) == sorted(ids)
    assert connection.is_usable()  # the parent's connection survived the child
