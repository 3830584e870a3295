"""Uploaded rows keep the masked form of their personal data items (`ResourceRow.masked`, ADR 0021): the exchange's
page built by PostgreSQL takes its masked fields from there, and answers exactly what masking the stored rows in Python
answers, byte for byte what PostgreSQL's masking gave before; a row without the form sends its page to Python; the
forms follow an editor's change of the personal items; the migration works them out for rows uploaded before."""

from __future__ import annotations

import csv
import importlib
import io
import json
import random
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client

from rongcheng.catalogue import services
from rongcheng.catalogue.models import ResourceRow, masked_form
from rongcheng.catalogue.tests import factories as f
from rongcheng.catalogue.tests.test_exchange_api import _rows_url, _system
from rongcheng.catalogue.tests.test_exchange_pages import _expected, _granted
from rongcheng.kernel.models import EventOutbox

pytestmark = pytest.mark.django_db
ITEMS: list[dict[str, Any]] = [
    {"name": "code", "type": "text", "description": "编号"},
    {"name": "holder", "type": "text", "description": "持有人", "personal": True},
    {"name": "phone", "type": "text", "description": "联系电话", "personal": True},
    {"name": "amount", "type": "number", "description": "金额", "personal": True},
    {"name": "count", "type": "integer", "description": "人数", "personal": True},
    {"name": "flag", "type": "boolean", "description": "是否在册", "personal": True},
    {"name": "day", "type": "date", "description": "登记日期", "personal": True},
    {"name": "note", "type": "text", "description": "备注"},
]
NAMES = [item["name"] for item in ITEMS]
PERSONAL = [item["name"] for item in ITEMS if item.get("personal")]
TEXTS = ["张", "张三", "欧阳修远", "林则徐", "Zhang San", "350102198503120018", "35010219850312001X",
         "350102850312001", "13812345678", "1381234567", "1234567", "123456", "5", "00", "0", "true",
         "张１２３４５６７", "１２３４５６７８９０１", "12３4567", "3501０2198503120018", "a"]  # fmt: skip
NUMBERS = ["0", "-0", "1.50", "1e20", "1e16", "0.000001", "12345678", "13812345678", "350102198503120018", "-3.5",
           "100", "0.1"]  # fmt: skip
INTEGERS = ["0", "7", "-5", "1234567", "13812345678", "350102198503120018", "350102850312001", "100000000000000000000"]
VALUES = {"code": TEXTS, "holder": TEXTS, "phone": TEXTS, "amount": NUMBERS, "count": INTEGERS,
          "flag": ["是", "否", "true", "0"], "day": ["2017-03-01", "1999-12-31"], "note": TEXTS}  # fmt: skip


def _random_rows(count: int, seed: int) -> list[list[str]]:
    """Rows of cells drawn from odd values; an empty cell (a null) one time in six; random ID numbers and names."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        row = []
        for name in NAMES:
            pick = rng.random()
            if pick < 1 / 6:
                row.append("")
            elif pick < 1 / 4 and VALUES[name] is TEXTS:
                row.append("".join(rng.choice("0123456789") for _ in range(rng.choice((6, 7, 11, 15, 17, 18, 19)))))
            elif pick < 1 / 3 and VALUES[name] is TEXTS:
                row.append("".join(rng.choice("林陈张黄王李欧阳") for _ in range(rng.randint(1, 4))))
            else:
                row.append(rng.choice(VALUES[name]))
        row[0] = row[0] or f"R{n}"
        rows.append(row)
    return rows


def _uploaded(rows: list[list[str]], items=ITEMS):
    resource = f.resource(items=items)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([item["name"] for item in items])
    writer.writerows(rows)
    services.resource_rows_upload(code=resource.code, file_name="a.csv", content=buffer.getvalue().encode(),
                                  actor=f.editor())  # fmt: skip
    return resource


def _as_postgresql_builds(rows) -> Any:
    """The JSON text PostgreSQL gives for these rows as its exchange pages always built them (json_agg of jsonb
    values): the bytes its masking in SQL sent before ADR 0021 for the same masked values."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT json_agg(e ORDER BY n)::text FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY "
                       "AS t(e, n)", [json.dumps(rows, ensure_ascii=False)])  # fmt: skip
        return cursor.fetchone()[0]


def _kept(resource, masked, offset, limit) -> bool:
    rows = ResourceRow.objects.filter(resource=resource, row_number__gt=offset).order_by("row_number")[:limit]
    return all(row.masked is not None and set(masked) <= set(row.masked) for row in rows)


def _read(resource, asker, fields, offset, limit):
    return services.exchange_read(resource_code=resource.code, fields=fields, purpose="核验", offset=offset,
                                  limit=limit, user=asker, as_json=True)  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_rows_of_odd_values_answer_the_same_json_whichever_side_builds_the_page(seed):
    resource = _uploaded(_random_rows(60, seed))
    everyone = _granted(resource, NAMES)
    some_clear = _granted(
        resource, NAMES, clear=["holder", "amount"], department=f.department("FZ-GAJ", "福州市公安局")
    )
    shapes = [
        (everyone, None),
        (everyone, ["holder", "code"]),
        (everyone, ["amount", "flag", "note"]),
        (everyone, ["day", "count", "phone", "holder"]),
        (some_clear, None),
        (some_clear, ["amount", "phone"]),
    ]
    built = fallen_back = 0
    for asker, fields in shapes:
        wanted = fields or NAMES
        clear = {"holder", "amount"} if asker is some_clear else set()
        masked = [name for name in wanted if name in PERSONAL and name not in clear]
        for offset, limit in ((0, 100), (0, 7), (7, 7), (14, 13), (27, 5), (55, 10)):
            expected = _expected(resource, wanted, masked, offset, limit)
            first = _read(resource, asker, fields, offset, limit)  # built in Python (no shape guessed yet) or not
            second = _read(resource, asker, fields, offset, limit)
            assert first.rows == second.rows == expected, (fields, offset, limit)
            assert second.more == (offset + limit < 60)
            if connection.vendor == "postgresql":
                kept = _kept(resource, masked, offset, limit)
                assert (second.rows_json is not None) == kept, (fields, offset, limit)
                if kept:  # byte for byte the JSON PostgreSQL built before ADR 0021
                    assert second.rows_json == _as_postgresql_builds(expected), (fields, offset, limit)
                    built += 1
                else:
                    fallen_back += 1
    if connection.vendor == "postgresql":
        assert built
        assert fallen_back  # both sides were tried: numbers such as 1e20 keep no masked form


def test_the_api_sends_the_same_rows_either_way():
    resource = _uploaded(_random_rows(40, 7))
    asker = _granted(resource, NAMES, clear=["phone"])
    token = _system(asker.department)
    bodies = []
    for _ in range(3):
        response = Client().get(_rows_url(resource, purpose="核验", limit=40, offset=0),
                                HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
        assert response.status_code == 200, response.content
        bodies.append(json.loads(response.content))
    masked = [name for name in PERSONAL if name != "phone"]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["rows"] == _expected(resource, NAMES, masked, 0, 40)


def test_an_upload_keeps_the_masked_form_of_each_personal_item():
    resource = _uploaded([["R1", "欧阳修远", "13812345678", "12.5", "7", "是", "2017-03-01", "备注"],
                          ["R2", "", "350102198503120018", "1e20", "", "否", "", ""]])  # fmt: skip
    rows = list(ResourceRow.objects.filter(resource=resource).order_by("row_number"))
    assert [row.masked for row in rows] == [
        {"holder": "欧***", "phone": "138****5678", "amount": "1***", "count": "7", "flag": "T***",
         "day": "2*********"},
        {"holder": None, "phone": "350102********0018", "count": None, "flag": "F****", "day": None},  # no 1e20
    ]  # fmt: skip


def test_masked_form_leaves_out_a_value_the_database_may_give_back_otherwise():
    personal = ["a", "b", "c", "d", "e", "f", "g", "h"]
    data = {"a": 1e20, "b": -0.0, "c": float("inf"), "d": 1e-06, "e": 0.5, "f": 10**20, "g": "", "h": [1]}
    assert masked_form(data, personal) == {"e": "0**", "f": "*" * 17 + "0000", "g": ""}
    assert masked_form({}, ["x"]) == {"x": None}  # an item the row lacks is projected as null


def test_rows_without_their_masked_form_are_masked_in_python():
    resource = _uploaded(_random_rows(20, 11))
    asker = _granted(resource, NAMES)
    ResourceRow.objects.filter(resource=resource, row_number__in=[3, 4]).update(masked=None)
    for offset in (0, 0, 5, 5):
        page = _read(resource, asker, None, offset, 5)
        assert page.rows == _expected(resource, NAMES, PERSONAL, offset, 5)
        if connection.vendor == "postgresql" and offset == 0:
            assert page.rows_json is None


def _announced(resource) -> list[dict[str, Any]]:
    rows = EventOutbox.objects.filter(event_type="rongcheng.catalogue.events.PersonalItemsChanged").order_by("id")
    return [{k: v for k, v in row.payload.items() if k in ("resource_code", "version")} for row in rows
            if row.payload["resource_code"] == resource.code]  # fmt: skip


def test_the_masked_forms_follow_an_editors_change_of_the_personal_items():
    items = [{**item, "personal": item["name"] in ("holder",)} for item in ITEMS]
    resource = _uploaded(_random_rows(30, 5), items=items)
    asker = _granted(resource, NAMES)
    _read(resource, asker, None, 0, 30)  # the shape of this consumer's reads is known: the next pages come built
    before = dict(ResourceRow.objects.filter(resource=resource).values_list("pk", "masked"))
    assert {tuple(form or ()) for form in before.values()} == {("holder",)}
    editor = f.editor(resource.provider)
    renamed = [{**item, "name": "mobile" if item["name"] == "phone" else item["name"],
                "personal": item["name"] in ("phone", "note")} for item in items]  # fmt: skip
    services.data_resource_update(code=resource.code, changes={"items": renamed}, actor=editor)
    # PersonalItemsChanged, owed to the worker's subscriber in the editor's transaction: the worker renews the forms
    resource.refresh_from_db()
    assert _announced(resource) == [{"resource_code": resource.code, "version": resource.version}]
    # the editor's request wrote no form: until the worker has, the pages are masked in Python and still right
    assert dict(ResourceRow.objects.filter(resource=resource).values_list("pk", "masked")) == before
    asker = _granted(resource, [item["name"] for item in renamed], department=f.department("FZ-GAJ", "福州市公安局"))
    wanted = [item["name"] for item in renamed]
    for _ in range(2):
        page = _read(resource, asker, None, 0, 30)
        assert page.rows == _expected(resource, wanted, ["mobile", "note"], 0, 30)
        assert all(row["mobile"] is None for row in page.rows)  # uploaded before the rename: projected as null
    assert page.rows_json is None  # the forms it needs are not kept yet
    assert services.masked_forms_renew(resource_code=resource.code) == 30
    for row in ResourceRow.objects.filter(resource=resource):
        assert row.masked == masked_form(row.data, ["mobile", "note"])
    page = _read(resource, asker, None, 0, 30)
    assert page.rows == _expected(resource, wanted, ["mobile", "note"], 0, 30)
    if connection.vendor == "postgresql":
        assert page.rows_json is not None  # the new forms kept: built by PostgreSQL, not masked in Python
    # an edit that leaves the personal items as they are announces nothing and leaves the rows alone
    ResourceRow.objects.filter(resource=resource, row_number=1).update(masked={"kept": "as is"})
    services.data_resource_update(code=resource.code, changes={"summary": "新的摘要。"}, actor=editor)
    assert len(_announced(resource)) == 1
    assert ResourceRow.objects.get(resource=resource, row_number=1).masked == {"kept": "as is"}


def test_renewing_the_masked_forms_of_a_resource_gone_or_empty_writes_nothing():
    resource = f.resource(items=ITEMS)
    assert services.masked_forms_renew(resource_code=resource.code) == 0
    assert services.masked_forms_renew(resource_code="NO-SUCH-CODE") == 0


def test_the_migration_works_out_the_masked_forms_of_rows_uploaded_before():
    resource = _uploaded(_random_rows(25, 13))
    kept = dict(ResourceRow.objects.filter(resource=resource).values_list("row_number", "masked"))
    ResourceRow.objects.update(masked=None)
    migration = importlib.import_module("rongcheng.catalogue.migrations.0005_resourcerow_masked")
    migration.masked_forms_backfill(apps, None)
    rows = list(ResourceRow.objects.filter(resource=resource).order_by("row_number"))
    assert [row.masked for row in rows] == [masked_form(row.data, PERSONAL) for row in rows]  # as read back
    for row in rows:  # as the upload kept them, but for a number read back otherwise (1e20: 100000000000000000000)
        before = kept[row.row_number] or {}
        assert {k: v for k, v in (row.masked or {}).items() if k in before} == before
