"""Bounded types for API parameters and fields, so the OpenAPI document states the range the server accepts and a
value outside it is a 422 problem, never an overflow deep in the database driver.

Row identifiers are 64-bit signed integers on both SQLite and PostgreSQL; a calendar year is what `datetime.date`
represents.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ROW_ID = 2**63 - 1

RecordId = Annotated[int, Field(ge=1, le=MAX_ROW_ID, description="a record's number")]
Year = Annotated[int, Field(ge=1, le=9999, description="a calendar year, 1 to 9999")]
