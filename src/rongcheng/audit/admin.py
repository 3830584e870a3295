"""Read-only admin over the trail: nobody adds, changes or deletes audit records through the site, not even superusers.

Viewing through the admin is recorded like a search on the staff page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from rongcheng.audit.models import AuditAnchor, AuditRecord
from rongcheng.audit.services import actor_from_user, audit_record
from rongcheng.kernel.context import request_address


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "actor_kind", "actor_label", "action", "target_type", "target_id", "outcome"]
    list_filter = ["outcome", "actor_kind"]
    search_fields = ["=actor_id", "=actor_label", "^action", "=target_id", "=request_id"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    ordering = ["-id"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            self._record_view(request, target_id="", query=request.GET.urlencode())
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:
            self._record_view(request, target_id=object_id, query="")
        return response

    def _record_view(self, request: HttpRequest, *, target_id: str, query: str) -> None:
        audit_record(
            action="audit.search",
            actor=actor_from_user(request.user),
            target_type="audit.trail",
            target_id=target_id,
            source_address=request_address(request),
            detail={"via": "admin", **({"query": query} if query else {})},
        )


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "created_at", "purged_count", "purged_before", "export_name"]
    exclude = ["mac", "anchor_mac"]
