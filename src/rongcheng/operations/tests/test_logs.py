"""The JSON log lines: one object a line, request id and access fields, no personal identifier."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from rongcheng.kernel.context import from_request, running
from rongcheng.operations.logs import JsonFormatter


class _Request:
    META = {"REMOTE_ADDR": "198.51.100.4", "HTTP_X_REQUEST_ID": "log-test-000001"}


def test_an_access_line_is_one_json_object_with_the_request_id():
    record = logging.LogRecord("rongcheng.access", logging.INFO, __file__, 1, "request", None, None)
    for key, value in {"route": "/hall/<int:pk>/", "method": "GET", "status": 200, "duration_ms": 3.2,
                       "client": "198.51.100.4", "user_id": "42"}.items():  # fmt: skip
        setattr(record, key, value)
    with running(from_request(_Request())):
        line = json.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "route", "status", "user_id")} == {
        "level": "INFO", "logger": "rongcheng.access", "message": "request", "request_id": "log-test-000001",
        "route": "/hall/<int:pk>/", "status": 200, "user_id": "42",
    }  # fmt: skip


def test_a_phone_number_in_a_message_is_masked():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: /x/%s", ("13912345678",), None
    )
    line = json.loads(JsonFormatter().format(record))
    assert "13912345678" not in line["message"]


@pytest.mark.django_db
def test_every_request_writes_one_access_line_by_route(caplog):
    with caplog.at_level(logging.INFO, logger="rongcheng.access"):
        Client().get("/licences/verify/ABC/", HTTP_X_REQUEST_ID="log-test-000002")
    lines = [r for r in caplog.records if r.name == "rongcheng.access"]
    assert len(lines) == 1
    assert (lines[0].route, lines[0].method, lines[0].client, lines[0].user_id) == (
        "/licences/verify/<str:identifier>/",
        "GET",
        "127.0.0.1",
        "",
    )
    assert getattr(lines[0], "request_id", None) == "log-test-000002"
