"""Hostile input on every route of the exchange, the catalogue pages and the CKAN Action API: control characters,
out-of-range numbers, wrong types, long strings, deep JSON. The exchange answers a problem document its OpenAPI
declares; the CKAN API answers in CKAN's envelope; the pages answer the error page; nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rongcheng.audit.models import AuditRecord
from rongcheng.catalogue import services
from rongcheng.catalogue.models import DataRequest, Dataset, ExchangeUse
from rongcheng.catalogue.tests import factories as f
from rongcheng.catalogue.tests.test_exchange_api import _rows_url, _system, shared  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def _documented(path: str, method: str, status: int) -> bool:
    document = Client().get("/api/v1/openapi.json").json()
    template = next(p for p in document["paths"] if p.startswith("/api/v1/exchange/resources/") and p.endswith(path))
    return str(status) in document["paths"][template][method]["responses"]


def test_the_exchange_answers_hostile_input_with_documented_problems_and_records_no_use(shared):  # noqa: F811
    resource, consumer = shared
    token = _system(consumer)
    auth = {"Authorization": f"Bearer {token}"}
    cls, _sep, seq = resource.code.partition("/")
    base = f"/api/v1/exchange/resources/{cls}/{seq}"
    cases = [
        (f"{base}/rows", {"purpose": "审核\x00"}, 400),
        (f"{base}/rows", {"purpose": "审核", "fields": "name\x1b"}, 400),
        (f"{base}/rows", {"purpose": "审核", "offset": "-1"}, 422),
        (f"{base}/rows", {"purpose": "审核", "limit": "100000"}, 422),
        (f"{base}/rows", {"purpose": "审核", "limit": "ten"}, 422),
        (f"{base}/rows", {"purpose": "审核", "offset": str(2**70)}, 422),
        (f"{base}/rows", {"purpose": "审" * 201}, 422),
        (f"{base}/rows", {}, 422),
        (f"{base}/rows", {"purpose": "审核", "fields": "legal_person"}, 403),
        (f"{base}/rows", {"purpose": "审核", "fields": "x," * 900}, 403),
        (f"{base}/rows", {"purpose": "审核", "fields": "x" * 5000}, 422),
        (f"/api/v1/exchange/resources/{'9' * 3000}/{seq}/rows", {"purpose": "审核"}, 404),
        (f"/api/v1/exchange/resources/{cls}/%00/rows", {"purpose": "审核"}, 400),
        (f"{base}/file", {"purpose": "\x7f"}, 400),
        (f"{base}/file", {"purpose": "审核", "fields": "capital"}, 403),
    ]
    for path, query, status in cases:
        response = Client().get(path, query, headers=auth)
        assert response.status_code == status, (path, query, response.content[:200])
        assert response["Content-Type"] == "application/problem+json", (path, query)
        assert _documented(path.rpartition("/")[2], "get", status), (path, status)
    assert not ExchangeUse.objects.exists()
    assert not AuditRecord.objects.filter(action__startswith="catalogue.exchange", outcome="success").exists()


@pytest.mark.parametrize("path", ["/catalogue/", "/catalogue/sharing/", "/opendata/", "/opendata/request/",
                                  "/opendata/catalog.jsonld"])  # fmt: skip
def test_pages_refuse_control_characters(client, path):
    client.force_login(f.editor())
    assert client.get(path, {"q": "\x00企业"}).status_code == 400


def test_a_data_request_with_control_characters_stores_nothing():
    response = Client().post("/opendata/request/", {"title": "公交\x00", "description": "需要公交线路数据"})
    assert response.status_code == 400
    assert not DataRequest.objects.exists()


def _action(name: str, *, body: object = None, query: dict[str, str] | None = None, token: str = "") -> Any:
    headers = {"Authorization": token} if token else {}
    if body is None:
        return Client().get(f"/opendata/api/3/action/{name}", query or {}, headers=headers)
    payload = body if isinstance(body, str) else json.dumps(body)
    return Client().post(f"/opendata/api/3/action/{name}", payload, content_type="application/json", headers=headers)


def test_the_ckan_api_answers_hostile_input_in_its_envelope_and_stores_nothing():
    resource_id = str(f.published("market-entities").resources.get().uuid)
    _token, raw = services.api_token_issue(department_code="FZ-GSJ", name="t", actor=f.SYSTEM)
    cases = [
        (_action("package_search", query={"q": "\x00"}), 400, "Bad Request"),
        (_action("package_search", query={"rows": "-1"}), 409, "Validation Error"),
        (_action("package_search", query={"rows": "many"}), 409, "Validation Error"),
        (_action("package_search", query={"sort": "name; drop table"}), 409, "Validation Error"),
        (_action("package_search", query={"start": str(2**70)}), 409, "Validation Error"),
        (_action("datastore_search", query={"resource_id": resource_id, "offset": str(2**63)}), 409,
         "Validation Error"),
        (_action("package_show", query={"id": "x" * 3000}), 404, "Not Found Error"),
        (_action("package_show\x01"), 400, "Bad Request"),
        (_action("datastore_search", body={"resource_id": resource_id, "filters": {"a\x00": 1}}), 400, "Bad Request"),
        (_action("datastore_search", body={"resource_id": resource_id, "filters": {"code'; --": 1}}), 409,
         "Validation Error"),
        (_action("datastore_search", body={"resource_id": resource_id, "limit": "x" * 10000}), 409,
         "Validation Error"),
        (_action("package_create", body={"name": "evil", "owner_org": "fz-gsj", "title": "坏\u0000"}, token=raw),
         400, "Bad Request"),
        (_action("package_create", body="[" * 5000 + "]" * 5000, token=raw), 400, "Bad Request"),
        (_action("package_create", body="{not json", token=raw), 400, "Bad Request"),
        (_action("package_create", body={"name": "Evil Name!", "owner_org": "fz-gsj", "title": "t"}, token=raw),
         409, "Validation Error"),
        # a body over the server's limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB): the envelope, not the HTML error page
        (_action("package_search", body={"q": "x" * (3 * 1024 * 1024)}), 413, "Bad Request"),
        (_action("package_create", body={"name": "big", "owner_org": "fz-gsj", "notes": "x" * (3 * 1024 * 1024)},
                 token=raw), 413, "Bad Request"),
        (Client().post("/opendata/api/3/action/package_search", {"q": "x" * (3 * 1024 * 1024)}), 413, "Bad Request"),
    ]  # fmt: skip
    for response, status, kind in cases:
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        body = response.json()
        assert (response.status_code, body["success"], body["error"]["__type"]) == (status, False, kind), body
    assert list(Dataset.objects.values_list("name", flat=True)) == ["market-entities"]
