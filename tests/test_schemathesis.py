"""Schemathesis against the served OpenAPI document, with every check on, as a resident, a staff officer and a
department system holding a client-credentials token.

Bounded to stay within a few minutes on a small machine: a few examples per operation, each sent as all three
callers, with a per-example deadline. The hostile-input test (test_api_hostile_input.py) covers the extremes of every
route exhaustively; this one looks for what nobody thought of.

Two things a JSON Schema cannot say are told to schemathesis here rather than weakened in the document:
- identifiers carry check characters: their `format`s get generators of valid values (from the kernel's makers);
- some rules span fields or records (a reason required by some transitions only, a grantee that must exist). A
  schema-valid request may break one and be refused with 422; the check below then requires that every error is
  one of the platform's named rules (`area.rule`), never the schema validation's own (`missing`,
  `string_too_short`...), which would mean the document and the server disagree.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from rongcheng.config.wsgi import application
from rongcheng.kernel.identifiers import credit_code_make, id_number_make
from rongcheng.kernel.schema_types import CREDIT_CODE_FORMAT, HOLDER_CODE_FORMAT, ID_NUMBER_FORMAT
from rongcheng.licences.identifiers import IDENTIFIER_FORMAT, identifier_make
from tests.api_callers import Caller, callers

pytestmark = [pytest.mark.django_db, pytest.mark.schemathesis]

EXAMPLES = 3

id_numbers = st.builds(
    lambda days, sequence: id_number_make(
        division_code="350102", birth_date=dt.date(1950, 1, 1) + dt.timedelta(days=days), sequence=sequence
    ),
    st.integers(0, 20000),
    st.integers(0, 999),
)
credit_codes = st.builds(
    lambda body: credit_code_make(
        registration_department="9", category="1", division_code="350102", organization_body=body
    ),
    st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
)
schemathesis.openapi.format(ID_NUMBER_FORMAT, id_numbers)
schemathesis.openapi.format(CREDIT_CODE_FORMAT, credit_codes)
schemathesis.openapi.format(HOLDER_CODE_FORMAT, st.one_of(id_numbers, credit_codes))
schemathesis.openapi.format(
    IDENTIFIER_FORMAT,
    st.builds(
        lambda serial: str(identifier_make(type_code="11100000MB0000000X001", issuer_code="FZGSJ0", serial=serial)),
        st.text("0123456789", min_size=1, max_size=8),
    ),
)

CONFIG = SchemathesisConfig.from_dict(
    {
        # 410: the retired lookups with a personal identifier in the path answer only that, naming their successor.
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", 401, 403, 404, 409, 410, 422, 429]}
        },
        # The coverage phase's boundary cases are what test_api_hostile_input.py sends to every route already;
        # fuzzing (positive and negative data) stays, within the time CI can give.
        "phases": {"coverage": {"enabled": False}},
    }
)
# The document as the server serves it (schemathesis's WSGI transport calls itself localhost, an allowed host).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)


@schemathesis.check
def schema_valid_requests_break_only_named_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    errors = json.loads(response.content).get("errors", [])
    schema_rules = sorted({e["rule"] for e in errors if "." not in e["rule"]})
    if schema_rules:
        raise AssertionError(f"A schema-valid request failed the server's schema validation: {schema_rules}")
    return None


@pytest.fixture
def world(settings) -> Iterator[list[Caller]]:
    """The callers; and, as Django's test client does, the test's database connection kept open across requests
    (the WSGI handler would close it at the end of each, and with it the test's transaction on PostgreSQL)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # setup speed only
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield callers()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=2000, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_the_api_keeps_its_contract_for_every_kind_of_caller(case, world):
    for caller in world:
        case.call_and_validate(headers=caller.headers)
