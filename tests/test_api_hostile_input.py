"""Every route of the API, as each kind of caller, answers hostile input with a problem document and never a 500.

The routes are read from the served OpenAPI document, so a new route is covered without touching this file. Each is
called with an oversized body, with out-of-range numbers and with over-long strings in every path parameter, query
parameter and body field the document declares.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rongcheng.config.api import api
from tests.api_callers import Caller, callers

pytestmark = pytest.mark.django_db

HUGE = 10**30
LONG = "字" * 5000
OVER_UPLOAD_LIMIT = 3 * 1024 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE is Django's 2.5 MB
PREFIX = "/api/v1"


def _document() -> dict[str, Any]:
    return api.get_openapi_schema(path_prefix=PREFIX)


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in _document()["paths"].items()
        for method, operation in item.items()
    ]


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0], components)
    if "anyOf" in schema:
        concrete = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _resolve(concrete[0], components) if concrete else schema
    return schema


def _hostile(schema: dict[str, Any], components: dict[str, Any], number: int | str, depth: int = 0) -> Any:
    """A value of the schema's shape with every string over-long and every number out of range."""
    schema = _resolve(schema, components)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        return {
            name: _hostile(sub, components, number, depth + 1) for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [_hostile(schema.get("items", {}), components, number, depth + 1)]
    if kind in ("integer", "number"):
        return number
    if kind == "boolean":
        return True
    return LONG


def _url(path: str, operation: dict[str, Any], number: int | str, components: dict[str, Any]) -> tuple[str, dict]:
    query: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        value = _hostile(parameter.get("schema", {}), components, number)
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query":
            query[parameter["name"]] = value
    return path, query


def _call(client: Client, caller: Caller | None, method: str, path: str, query: dict, body: bytes | None,
          content_type: str = "application/json"):  # fmt: skip
    headers = caller.headers if caller else {}
    if query:
        from urllib.parse import urlencode

        path = f"{path}?{urlencode(query)}"
    return client.generic(method, path, body or b"", content_type=content_type, headers=headers)


def _fault(response) -> str | None:
    """What is wrong with the answer to hostile input, if anything: a 5xx, or an error that is not a problem."""
    if response.status_code >= 500:
        return str(response.status_code)
    if response.status_code >= 400:
        if response["Content-Type"] != "application/problem+json":
            return f"{response.status_code} as {response['Content-Type']}"
        if json.loads(response.content)["status"] != response.status_code:
            return f"{response.status_code} with another status in the document"
    return None


@pytest.fixture
def every_caller(settings) -> list[Caller | None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # setup speed only
    return [None, *callers()]


@pytest.mark.parametrize("number", [HUGE, -1, 10000])
def test_out_of_range_numbers_and_long_strings_are_refused_as_problems(every_caller, number):
    document = _document()
    components = document["components"]["schemas"]
    client = Client(raise_request_exception=False)
    faults = []
    for method, path, operation in _operations():
        url, query = _url(path, operation, number, components)
        body_schema = operation.get("requestBody", {}).get("content", {})
        for caller in every_caller:
            if "application/json" in body_schema:
                body = json.dumps(_hostile(body_schema["application/json"]["schema"], components, number)).encode()
                response = _call(client, caller, method, url, query, body)
            elif "multipart/form-data" in body_schema:
                response = _call(client, caller, method, url, query, _multipart(LONG + ".pdf"),
                                 f"multipart/form-data; boundary={BOUNDARY}")  # fmt: skip
            else:
                response = _call(client, caller, method, url, query, None)
            fault = _fault(response)
            if fault:
                faults.append(f"{caller.kind if caller else 'anonymous'} {method} {path}: {fault}")
    assert not faults, "\n".join(faults)


BOUNDARY = "rongcheng-boundary"


def _multipart(file_name: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        f"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n%%EOF\n\r\n--{BOUNDARY}--\r\n"
    ).encode()


def test_an_oversized_body_is_a_413_problem_on_every_route(every_caller):
    client = Client(raise_request_exception=False)
    oversized = json.dumps({"padding": "x" * OVER_UPLOAD_LIMIT}).encode()
    # A form field, unlike a file, counts towards Django's limit.
    oversized_form = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="padding"\r\n\r\n{"x" * OVER_UPLOAD_LIMIT}\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()
    components = _document()["components"]["schemas"]
    faults = []
    for method, path, operation in _operations():
        if "requestBody" not in operation:
            continue
        url, _query = _url(path, operation, 1, components)
        multipart = "multipart/form-data" in operation["requestBody"]["content"]
        for caller in every_caller:
            if multipart:
                response = _call(client, caller, method, url, {}, oversized_form,
                                 f"multipart/form-data; boundary={BOUNDARY}")  # fmt: skip
            else:
                response = _call(client, caller, method, url, {}, oversized)
            fault = _fault(response)
            if fault is None and response.status_code not in (401, 403, 404, 413):
                fault = f"{response.status_code}, not 413"
            if fault:
                faults.append(f"{caller.kind if caller else 'anonymous'} {method} {path}: {fault}")
    assert not faults, "\n".join(faults)
