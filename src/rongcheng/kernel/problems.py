"""RFC 9457 problem details responses, shared by the API and by plain Django error views."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

from rongcheng.kernel.context import current

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

# The JSON Schema of every problem document this platform sends (RFC 9457 §3), as the OpenAPI document declares it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem document; `type` is a stable URI under /problems/.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "the problem type, /problems/<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the path and query of the request"},
        "request_id": {"type": "string", "description": "the request's id, as in X-Request-ID and the logs"},
        "errors": {
            "type": "array",
            "description": "each broken rule, with the path of the field (`loc`)",
            "items": {
                "type": "object",
                "required": ["loc", "rule", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "rule": {"type": "string"},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def problem_document(
    request: HttpRequest | None,
    *,
    status: int,
    type_slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        document["instance"] = request.get_full_path()
    context = current()
    if context is not None:
        document["request_id"] = context.request_id
    if errors:
        document["errors"] = errors
    document.update(extra)
    return document


def problem_response(
    request: HttpRequest | None,
    *,
    status: int,
    type_slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> HttpResponse:
    document = problem_document(
        request, status=status, type_slug=type_slug, title=title, detail=detail, errors=errors, **extra
    )
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, default=str), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    if status == 429 and "retry_after" in extra:
        response["Retry-After"] = str(extra["retry_after"])
    return response
