"""Structured logs: one JSON object a line on standard output, for the city's log collector.

Every line carries the time, level, logger and message, and the request id of the request or job it belongs to;
access lines add route (the template, never the path), method, status, duration, client address and user id. No
line carries personal data: the platform never logs a name, an ID number or a phone, and anything that looks like an
ID number or a phone in a message (a client's URL in a third-party log line) is masked as the console formatter does.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from rongcheng.kernel.context import current
from rongcheng.kernel.logmask import personal_identifiers_masked

_ACCESS_FIELDS = ("route", "method", "status", "duration_ms", "client", "user_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = current()
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": personal_identifiers_masked(record.getMessage()),
            "request_id": getattr(record, "request_id", "") or (context.request_id if context else ""),
        }
        if context is not None and context.job:
            line["job"] = context.job
        for field in _ACCESS_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["exception"] = personal_identifiers_masked(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)
