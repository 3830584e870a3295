"""The log's last line of defence: ID numbers and phone numbers masked in every line the console handler writes.

The platform does not log them (the test suite searches every record), but a client may put one in any URL, and
Django logs the path of every refused request ("Not Found: /…"). The formatter masks the written line and leaves the
record itself unchanged for any other handler.
"""

from __future__ import annotations

import logging
import re

from rongcheng.kernel.identifiers import id_number_is_valid
from rongcheng.kernel.masking import mask_id_number, mask_phone

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def personal_identifiers_masked(text: str) -> str:
    text = ID_NUMBER.sub(lambda m: mask_id_number(m[0]) if id_number_is_valid(m[0].upper()) else m[0], text)
    return PHONE.sub(lambda m: mask_phone(m[0]), text)


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return personal_identifiers_masked(super().format(record))
