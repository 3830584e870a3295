"""The staff page for searching the audit trail; each search is itself recorded."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rongcheng.audit.forms import AuditSearchForm
from rongcheng.audit.services import actor_from_user, audit_trail_search
from rongcheng.kernel.errors import ValidationFailed

PAGE_SIZE = 50


@login_required
def search(request: HttpRequest) -> HttpResponse:
    # The audit administrator's right (三员分立): system and security administrators do not read the trail.
    if not request.user.has_perm("audit.view_auditrecord"):
        raise PermissionDenied
    form = AuditSearchForm(request.GET)
    page = None
    invalid_cursor = False
    if form.is_valid():
        try:
            page = audit_trail_search(
                actor=actor_from_user(request.user),
                search=form.to_search(),
                cursor=request.GET.get("cursor") or None,
                limit=PAGE_SIZE,
            )
        except ValidationFailed:
            invalid_cursor = True
    next_query = None
    if page is not None and page.next_cursor:
        query = request.GET.copy()
        query["cursor"] = page.next_cursor
        next_query = query.urlencode()
    context = {"form": form, "page": page, "next_query": next_query, "invalid_cursor": invalid_cursor}
    return render(request, "audit/search.html", context, status=200 if page is not None else 400)
