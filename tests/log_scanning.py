"""The suite-wide search of the log for personal identifiers (conftest.py installs it on the root logger)."""

from __future__ import annotations

import logging
import re

from rongcheng.kernel.identifiers import credit_code_is_valid, id_number_is_valid


class PersonalIdentifiersInLogs(logging.Handler):
    """Every record the platform logs during the suite (the root logger's, so Django's request log, the live
    server's and every app's), searched for ID numbers, phone numbers and credit codes of individual businesses:
    none may be logged (PIPL; a log is kept and shipped where the data is not protected)."""

    ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
    PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
    PERSON_CREDIT_CODE = re.compile(r"(?<![0-9A-Z])92\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])")

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.findings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not this handler's business
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        found = [m for m in self.ID_NUMBER.findall(text) if id_number_is_valid(m.upper())]
        found += self.PHONE.findall(text)
        found += [m for m in self.PERSON_CREDIT_CODE.findall(text) if credit_code_is_valid(m)]
        if found:
            self.findings.append(f"{record.name}: {text[:300]}")
