"""RFC 9457 problem details responses, shared by the API and by plain Django error views."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"


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
