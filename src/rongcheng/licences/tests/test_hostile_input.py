"""Hostile input to the public and issuing endpoints: any JSON gets a problem document or an answer, never a 500."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rongcheng.licences.models import Licence
from rongcheng.licences.tests.factories import MARRIAGE_TYPE_CODE, department, marriage_type, officer, with_key

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)


@pytest.fixture
def clerk_client(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "licences.verify": {"address": "100000/60"}}
    dept = with_key(department())
    marriage_type(dept)
    client = Client()
    client.force_login(officer(dept))
    return client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=json_values, face=json_values, code=st.text(max_size=20))
def test_no_body_breaks_the_api(clerk_client, document, face, code):
    answer = Client().post("/api/v1/licences/documents/verify", json.dumps(document), content_type="application/json")
    assert answer.status_code in (200, 422)
    if answer.status_code == 200:
        assert answer.json()["authentic"] is False
    body = {"licence_type": MARRIAGE_TYPE_CODE, "holder_code": code, "face": face}
    issued = clerk_client.post("/api/v1/licences/", json.dumps(body), content_type="application/json")
    assert issued.status_code in (404, 422), issued.content
    assert Licence.objects.count() == 0
    # Percent-encoded whole: a raw tab or line break would be dropped by the URL parser before it reached the server.
    verify = Client().get("/api/v1/licences/verify/" + quote(code, safe=""))
    # A control character is refused at the edge (config.middleware) before the identifier is parsed.
    assert verify.status_code in ((400,) if re.search(r"[\x00-\x1f\x7f-\x9f]", code) else (404, 422))
