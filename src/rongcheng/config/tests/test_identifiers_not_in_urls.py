"""No route takes a personal identifier in its URL (path or query string), where proxies, browser histories and the
server's own log would keep it: every page pattern and every API operation is checked, not only the ones known."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from rongcheng.config.api import api

PERSONAL = re.compile(r"id_number|credit_code|holder_code|phone|mobile", re.IGNORECASE)
# The withdrawn lookups: they answer 410 naming the new route, and never read or echo the value.
WITHDRAWN = {
    "api/v1/registries/persons/by-id-number/<id_number>",
    "api/v1/registries/entities/by-credit-code/<credit_code>",
}


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def test_no_url_pattern_has_a_personal_identifier_in_its_path():
    routes = list(_routes(get_resolver().url_patterns))
    assert "api/v1/registries/persons/by-id-number" in routes
    assert sorted(route for route in routes if PERSONAL.search(route)) == sorted(WITHDRAWN)


@pytest.mark.parametrize("where", ["path", "query"])
def test_no_api_operation_takes_a_personal_identifier_as_a_parameter(where):
    schema = api.get_openapi_schema(path_prefix="/api/v1")
    found = [
        (path, method, parameter["name"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == where and PERSONAL.search(parameter["name"]) and not operation.get("deprecated")
    ]
    assert found == []
