"""The console's formatter masks ID numbers and phone numbers a client put in a URL; the record stays as it was."""

from __future__ import annotations

import logging

from rongcheng.kernel.logmask import MaskingFormatter, personal_identifiers_masked


def test_valid_id_numbers_and_phones_are_masked_and_nothing_else():
    line = "Not Found: /registries/persons/350102198503120018/ 13812345678 350102198503120010 20261204201500123"
    assert personal_identifiers_masked(line) == (
        "Not Found: /registries/persons/350102********0018/ 138****5678 350102198503120010 20261204201500123"
    )


def test_the_formatter_leaves_the_record_unchanged():
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/x/13812345678",),
                               None)  # fmt: skip
    assert MaskingFormatter().format(record) == "Not Found: /x/138****5678"
    assert record.getMessage() == "Not Found: /x/13812345678"
