"""Bounded types for API parameters and fields, so the OpenAPI document states the range the server accepts and a
value outside it is a 422 problem, never an overflow deep in the database driver.

Row identifiers are 64-bit signed integers on both SQLite and PostgreSQL; a calendar year is what `datetime.date`
represents.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic.config import JsonDict

MAX_ROW_ID = 2**63 - 1
# Documented, and enforced by the services with their own named rule (`reason.required`...), not by the schema.
NOT_BLANK: JsonDict = {"minLength": 1, "pattern": r"\S"}

RecordId = Annotated[int, Field(ge=1, le=MAX_ROW_ID, description="a record's number")]
Year = Annotated[int, Field(ge=1, le=9999, description="a calendar year, 1 to 9999")]

# Identifiers: the document states their shape (pattern) and names their format, whose check characters a JSON
# Schema cannot express; kernel.identifiers enforces both and says which rule failed. A client's test generator
# (schemathesis in tests/test_schemathesis.py) registers these formats to make valid values.
ID_NUMBER_FORMAT = "gb11643-id-number"
CREDIT_CODE_FORMAT = "gb32100-credit-code"
HOLDER_CODE_FORMAT = "gb11643-id-number-or-gb32100-credit-code"
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9X]$"
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{18}$"  # GB 32100: digits and capitals other than I O S V Z

IdNumberText = Annotated[
    str,
    Field(
        description="GB 11643 citizen ID number: 17 digits and a check character (a digit or upper-case X)",
        json_schema_extra={"pattern": ID_NUMBER_PATTERN, "format": ID_NUMBER_FORMAT},
    ),
]
CreditCodeText = Annotated[
    str,
    Field(
        description="GB 32100 unified social credit code: 18 digits and upper-case letters, with check characters",
        json_schema_extra={"pattern": CREDIT_CODE_PATTERN, "format": CREDIT_CODE_FORMAT},
    ),
]
HolderCodeText = Annotated[
    str,
    Field(
        description="a person's ID number (GB 11643) or an entity's unified social credit code (GB 32100)",
        json_schema_extra={"pattern": CREDIT_CODE_PATTERN, "format": HOLDER_CODE_FORMAT},
    ),
]
