"""The OpenAPI 3.0 definition of /ogc (the landing page's `service-desc`): every path, with each collection's
items path listing its own queryables, so that every parameter the server accepts is declared."""

from __future__ import annotations

from typing import Any

from rongcheng.spatial.services import Layer

_F = {"name": "f", "in": "query", "required": False, "description": "The format: json or html.",
      "schema": {"type": "string", "enum": ["json", "html"]}, "style": "form", "explode": False}  # fmt: skip
_EXCEPTION = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}
_ERRORS = {
    "400": {"description": "A parameter is invalid or unknown.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}}},
    "404": {"description": "No such collection or feature.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}}},
}  # fmt: skip


def _ok(description: str, media: str = "application/json") -> dict[str, Any]:
    return {
        "description": description,
        "content": {media: {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}},
    }


def _items_parameters(layer: Layer) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        _F,
        {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
         "description": "minLon,minLat,maxLon,maxLat in CRS84 (or six numbers with heights).",
         "schema": {"type": "array", "oneOf": [{"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}],
                    "items": {"type": "number"}}},
        {"name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
         "description": "An instant or an interval (start/end, '..' for an open end), RFC 3339.",
         "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10}},
        {"name": "offset", "in": "query", "required": False, "style": "form", "explode": False,
         "description": "How many matching features to skip (the next and prev links carry it).",
         "schema": {"type": "integer", "minimum": 0, "default": 0}},
    ]  # fmt: skip
    if layer.pages_by_key:
        parameters.append(
            {"name": "cursor", "in": "query", "required": False, "style": "form", "explode": False,
             "description": "Where the next page starts: the next links of this collection carry it (every page then "
                            "costs what the first does); not a value to write by hand.",
             "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,24}$"}}
        )  # fmt: skip
    for q in layer.queryables:
        parameters.append(
            {"name": q.name, "in": "query", "required": False, "style": "form", "explode": False,
             "description": str(q.title), "schema": {"type": q.type}}
        )  # fmt: skip
    return parameters


def openapi_document(base: str, layers: list[Layer]) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Landing page", "operationId": "getLandingPage", "tags": ["Capabilities"],
                      "parameters": [_F], "responses": {"200": _ok("Links to the API's resources"), **_ERRORS}}},
        "/conformance": {"get": {"summary": "Conformance classes", "operationId": "getConformanceDeclaration",
                                 "tags": ["Capabilities"], "parameters": [_F],
                                 "responses": {"200": _ok("The conformance classes"), **_ERRORS}}},
        "/collections": {"get": {"summary": "The collections", "operationId": "getCollections",
                                 "tags": ["Capabilities"], "parameters": [_F],
                                 "responses": {"200": _ok("The collections"), **_ERRORS}}},
        "/openapi": {"get": {"summary": "This API definition", "operationId": "getApiDefinition",
                             "tags": ["Capabilities"],
                             "responses": {"200": {"description": "OpenAPI 3.0",
                                                   "content": {"application/vnd.oai.openapi+json;version=3.0":
                                                               {"schema": {"type": "object"}}}}}}},
    }  # fmt: skip
    for layer in layers:
        root = f"/collections/{layer.id}"
        title = str(layer.title)
        paths[root] = {"get": {"summary": f"{title}: description", "operationId": f"describe-{layer.id}",
                               "tags": [layer.id], "parameters": [_F],
                               "responses": {"200": _ok("The collection"), **_ERRORS}}}  # fmt: skip
        paths[f"{root}/items"] = {
            "get": {"summary": f"{title}: features", "operationId": f"getFeatures-{layer.id}", "tags": [layer.id],
                    "parameters": _items_parameters(layer),
                    "responses": {"200": _ok("A page of features", "application/geo+json"), **_ERRORS}}
        }  # fmt: skip
        paths[f"{root}/items/{{featureId}}"] = {
            "get": {"summary": f"{title}: one feature", "operationId": f"getFeature-{layer.id}", "tags": [layer.id],
                    "parameters": [{"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}},
                                   _F],
                    "responses": {"200": _ok("The feature", "application/geo+json"), **_ERRORS}}
        }  # fmt: skip
        paths[f"{root}/queryables"] = {
            "get": {"summary": f"{title}: queryables", "operationId": f"getQueryables-{layer.id}",
                    "tags": [layer.id], "parameters": [_F],
                    "responses": {"200": _ok("The queryable properties", "application/schema+json"), **_ERRORS}}
        }  # fmt: skip
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Rongcheng spatio-temporal platform: OGC API – Features",
            "version": "1.0.0",
            "description": "The city's layers (divisions, grid cells, addresses, points of interest and the layers "
            "other apps register) in CRS84 GeoJSON.",
            "license": {"name": "Apache-2.0"},
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {"schemas": {"exception": _EXCEPTION}},
    }
