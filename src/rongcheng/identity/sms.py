"""Senders of SMS-style one-time codes. `settings.IDENTITY_SMS_SENDER` names the class (a dotted path); a city plugs
in its SMS gateway there. The demo writes each message to a file in the data directory (or to the console)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from rongcheng.identity import policy
from rongcheng.kernel.masking import mask_phone

logger = logging.getLogger(__name__)


class CodeSender(Protocol):
    def send(self, *, phone: str, text: str) -> None: ...


def outbox_path() -> Path:
    return Path(getattr(settings, "IDENTITY_SMS_OUTBOX", Path(settings.DATA_DIR) / "sms-outbox.jsonl"))


class FileSender:
    """Appends one JSON line per message to the outbox (mode 0600): the demo's phone."""

    def send(self, *, phone: str, text: str) -> None:
        path = outbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as outbox:
            outbox.write(json.dumps({"phone": phone, "text": text}, ensure_ascii=False) + "\n")


class ConsoleSender:
    """Logs each message at WARNING, which the default logging configuration prints; the number masked (no phone
    number in a log line)."""

    def send(self, *, phone: str, text: str) -> None:
        logger.warning("SMS to %s: %s", mask_phone(phone), text)


def outbox_read() -> list[dict[str, Any]]:
    path = outbox_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sender() -> CodeSender:
    sender_class: type[CodeSender] = import_string(policy.sms_sender_path())
    return sender_class()
