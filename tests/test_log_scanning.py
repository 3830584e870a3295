"""The log scanner of the suite finds what it must (and the platform's own log lines stay clean: conftest.py)."""

from __future__ import annotations

import datetime as dt
import logging

from rongcheng.kernel.identifiers import credit_code_make, id_number_make
from tests.log_scanning import PersonalIdentifiersInLogs


def test_the_scanner_finds_id_numbers_phones_and_credit_codes_of_individual_businesses():
    scanner = PersonalIdentifiersInLogs()
    logger = logging.getLogger("rongcheng.test.scanner")
    logger.propagate = False
    logger.addHandler(scanner)
    try:
        id_number = id_number_make(division_code="350102", birth_date=dt.date(1985, 3, 12), sequence=1)
        individual = credit_code_make(registration_department="9", category="2", division_code="350102",
                                      organization_body="MA2YXL3E")  # fmt: skip
        logger.warning("Not Found: /api/v1/registries/persons/by-id-number/%s", id_number)
        logger.warning("SMS to %s", "13812345678")
        logger.warning("entity %s", individual)
        logger.warning("clean: 350102********0018, 138****5678, record 350102, 2026-12-04 20:00:00")
        logger.warning("an invalid number 350102198503120010 is not an identifier")
    finally:
        logger.removeHandler(scanner)
    assert scanner.findings == [
        f"rongcheng.test.scanner: Not Found: /api/v1/registries/persons/by-id-number/{id_number}",
        "rongcheng.test.scanner: SMS to 13812345678",
        f"rongcheng.test.scanner: entity {individual}",
    ]
