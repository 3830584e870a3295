"""The served OpenAPI document is the API's contract: every operation declares the problem documents it can answer,
and no two schemas share a name (ninja would publish one under the other's name)."""

from __future__ import annotations

import typing
from collections import defaultdict
from typing import Any, get_args

import pytest
from django.test import Client
from pydantic import BaseModel

from rongcheng.config.api import api, problem_statuses
from rongcheng.hall.api import OfficerTransition
from rongcheng.hall.workflow import TRANSITIONS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    served: dict[str, Any] = Client().get("/api/v1/openapi.json").json()
    return served


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in document["paths"].items() for m, op in item.items()]


def test_every_operation_declares_its_problem_responses_with_the_problem_schema(document):
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    for method, path, operation in _operations(document):
        declared = {int(status): response for status, response in operation["responses"].items()}
        expected = {400, 404, 422, 429}
        if operation.get("security"):
            expected |= {401, 403}
        if method in ("post", "put", "patch", "delete"):
            expected.add(409)
        if "requestBody" in operation:
            expected.add(413)
        assert expected <= set(declared), f"{method.upper()} {path} lacks {sorted(expected - set(declared))}"
        assert set(problem_statuses(method, operation)) <= set(declared)
        for status, response in declared.items():
            if status >= 400:
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, f"{method.upper()} {path} {status}"


def _models(annotation: Any, seen: set[type]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            _models(field.annotation, seen)
        return
    for argument in get_args(annotation):
        _models(argument, seen)


def test_no_two_schemas_of_the_api_share_a_name(document):
    seen: set[type] = set()
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                for model in operation.models:
                    _models(model, seen)
                for model in operation.response_models.values():
                    _models(model, seen)
    by_name: dict[str, set[str]] = defaultdict(set)
    for model in seen:
        by_name[model.__name__].add(f"{model.__module__}.{model.__qualname__}")
    published = set(document["components"]["schemas"])
    shared = {name: sorted(owners) for name, owners in by_name.items() if name in published and len(owners) > 1}
    assert shared == {}
    assert {"ApplicationTransitionIn", "LicenceTransitionIn"} <= published


def test_the_documented_officer_transitions_are_the_workflow_tables(document):
    assert set(typing.get_args(OfficerTransition)) == {n for n, t in TRANSITIONS.items() if t.role == "officer"}
    schema = document["components"]["schemas"]["ApplicationTransitionIn"]["properties"]["transition"]
    assert set(schema["enum"]) == set(typing.get_args(OfficerTransition))
    licence = document["components"]["schemas"]["LicenceTransitionIn"]
    assert set(licence["properties"]["action"]["enum"]) == {"suspend", "reinstate", "revoke", "cancel", "expire"}
    assert "reason" in licence["required"]
