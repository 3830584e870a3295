"""Pages of uploaded rows built by PostgreSQL (catalogue.exchange_pages): the same rows, the same masking and the same
records as the page built in Python, whatever the values; the masked fields come from the masked form each row keeps
since its upload (ADR 0021), and a row without one sends its page to Python."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test import Client

from rongcheng.audit.models import AuditRecord
from rongcheng.catalogue import services
from rongcheng.catalogue.api import RowsPage
from rongcheng.catalogue.models import ExchangeUse, ResourceRow
from rongcheng.catalogue.tests import factories as f
from rongcheng.catalogue.tests.test_exchange_api import _rows_url, _system
from rongcheng.hall.selectors import city_today
from rongcheng.kernel.masking import mask_by_shape

pytestmark = pytest.mark.django_db
ITEMS = [
    {"name": "credit_code", "type": "text", "description": "统一社会信用代码"},
    {"name": "name", "type": "text", "description": "名称"},
    {"name": "capital", "type": "number", "description": "注册资本（万元）", "personal": True},
    {"name": "legal_person", "type": "text", "description": "法定代表人", "personal": True},
]
# (legal_person, whether PostgreSQL's own masking, before ADR 0021, could mask it): names, ID numbers of 18 and 15
# characters, phones of 11 and of other lengths, short digit strings, one character, and digits Python counts that
# PostgreSQL's [0-9] does not. Every one of them keeps its masked form at upload: every page is built by PostgreSQL.
VALUES = [
    ("张三", True),
    ("欧阳修远", True),
    ("张", True),
    ("Zhang San", True),
    ("350102198503120018", True),
    ("35010219850312001X", True),
    ("350102850312001", True),
    ("13812345678", True),
    ("1381234567", True),
    ("1234567", True),
    ("123456", True),
    ("5", True),
    ("张１２３４５６７", True),
    ("１２３４５６７８９０１", False),
    ("12３4567", False),
    ("٣٥٠١٠٢١٩٨٥٠٣١٢٠٠١٨", False),
    ("3501０2198503120018", False),
]


def _resource_with_rows():
    resource = f.resource(items=ITEMS)
    lines = ["credit_code,name,capital,legal_person"]
    for n, (value, _exact) in enumerate(VALUES):
        lines.append(f"91350100MA2XXXX{n:03d},榕城第{n}号有限公司,{n * 10 + 0.5},{value}")
    lines.append("91350100MA2XXXX999,无代表人有限公司,1,")  # an empty personal value: stored as null
    content = ("\n".join(lines) + "\n").encode()
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=content, actor=f.editor())
    return resource


def _granted(resource, items, clear=(), department=None):
    asker = f.requester(department)
    request = services.sharing_request_submit(
        resource_code=resource.code, items=list(items), clear_items=list(clear), purpose="企业开办审核",
        scenario="开办企业时核对名称", period_from=city_today(), period_until=city_today() + dt.timedelta(days=90),
        actor=asker,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward(resource.provider),
                                        clear_items=list(clear))  # fmt: skip
    return asker


def _expected(resource, fields, masked, offset, limit):
    """The page as Python builds it from the stored rows (as the database gives them back): projected, each masked
    value by kernel.masking.mask_by_shape."""
    stored = ResourceRow.objects.filter(resource=resource, row_number__gt=offset).order_by("row_number")
    return [{name: mask_by_shape(row.data.get(name)) if name in masked else row.data.get(name) for name in fields}
            for row in stored[:limit]]  # fmt: skip


def test_every_row_is_masked_as_python_masks_it_whichever_side_builds_the_page():
    resource = _resource_with_rows()
    asker = _granted(resource, ["credit_code", "name", "legal_person"])
    fields = ["credit_code", "name", "legal_person"]
    for n, (_value, exact) in enumerate([*VALUES, (None, True)]):
        for _ in range(2):  # the first read of a shape is built in Python, the next ones by PostgreSQL
            page = services.exchange_read(resource_code=resource.code, fields=None, purpose="核验", offset=n,
                                          limit=1, user=asker, as_json=True)  # fmt: skip
            assert page.rows == _expected(resource, fields, {"legal_person"}, n, 1), VALUES[n : n + 1]
            assert page.more == (n < len(VALUES))
        if connection.vendor == "postgresql":  # even a value PostgreSQL could not judge as Python does (ADR 0021)
            assert page.rows_json is not None, (VALUES[n : n + 1], exact)
    reads = 2 * (len(VALUES) + 1)
    assert ExchangeUse.objects.filter(grant__resource=resource).count() == reads
    assert all(use.rows == 1 for use in ExchangeUse.objects.filter(grant__resource=resource))
    assert AuditRecord.objects.filter(action="catalogue.exchange.query", outcome="success").count() == reads


def test_a_whole_page_a_projection_and_items_in_clear_match_the_python_page():
    resource = _resource_with_rows()
    asker = _granted(resource, ["credit_code", "name", "capital", "legal_person"], clear=["legal_person"])
    for fields, masked in ((None, {"capital"}), (["legal_person", "name"], set()), (["capital"], {"capital"})):
        wanted = fields or ["credit_code", "name", "capital", "legal_person"]
        for _ in range(2):
            page = services.exchange_read(resource_code=resource.code, fields=fields, purpose="核验", offset=0,
                                          limit=100, user=asker, as_json=True)  # fmt: skip
            assert page.fields == wanted
            assert page.rows == _expected(resource, wanted, masked, 0, 100)
            assert [set(row) for row in page.rows] == [set(wanted)] * len(page.rows)  # only the fields asked for
            assert page.more is False
        if connection.vendor == "postgresql":  # a masked number too: its masked text was kept at upload (ADR 0021)
            assert page.rows_json is not None


def test_a_caller_that_wants_rows_gets_them_masked_in_python_and_recorded_as_ever():
    resource = _resource_with_rows()
    asker = _granted(resource, ["credit_code", "name", "legal_person"])
    fields = ["credit_code", "name", "legal_person"]
    for _ in range(3):  # no shape is guessed for it: never a page built by PostgreSQL
        page = services.exchange_read(resource_code=resource.code, fields=None, purpose="核验", offset=0, limit=5,
                                      user=asker)  # fmt: skip
        assert page.rows_json is None
        assert page.rows == _expected(resource, fields, {"legal_person"}, 0, 5)
    assert ExchangeUse.objects.filter(grant__resource=resource, rows=5).count() == 3
    assert AuditRecord.objects.filter(action="catalogue.exchange.query", outcome="success").count() == 3


def test_the_api_sends_the_page_the_database_built_as_a_rows_page():
    resource = _resource_with_rows()
    asker = _granted(resource, ["name", "legal_person"])
    token = _system(asker.department)
    bodies = []
    for _ in range(2):
        response = Client().get(_rows_url(resource, purpose="核验", limit=3, offset=0),
                                HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/json; charset=utf-8"
        body = json.loads(response.content)
        assert list(body) == list(RowsPage.model_fields)
        RowsPage.model_validate(body)
        bodies.append(body)
    assert bodies[0] == bodies[1] == {
        "resource_code": resource.code, "fields": ["name", "legal_person"],
        "rows": _expected(resource, ["name", "legal_person"], {"legal_person"}, 0, 3), "offset": 0, "limit": 3,
        "next_offset": 3,
    }  # fmt: skip
    assert bodies[0]["rows"][0] == {"name": "榕城第0号有限公司", "legal_person": "张*"}
    past = Client().get(_rows_url(resource, purpose="核验", limit=3, offset=100), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (past.json()["rows"], past.json()["next_offset"]) == ([], None)
    assert [use.rows for use in ExchangeUse.objects.order_by("pk")] == [3, 3, 0]
