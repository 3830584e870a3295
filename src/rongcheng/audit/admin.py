"""Read-only admin over the trail: nobody adds, changes or deletes audit records through the site, not even superusers.

Viewing through the admin is recorded like a search on the staff page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from rongcheng.audit.models import AuditAnchor, AuditRecord
from rongcheng.audit.selectors import target_condition
from rongcheng.audit.services import audit_admin_view_record


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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditRecord], search_term: str
    ) -> tuple[QuerySet[AuditRecord], bool]:
        """The search fields, and a target as the staff page's search finds it (`target_condition`): on PostgreSQL a
        page of persons read at once is one record listing them, which the exact `target_id` does not match."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term and len(term) <= 100:
            results = results | queryset.filter(target_condition(term))
        return results, may_have_duplicates

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            audit_admin_view_record(user=request.user, query=request.GET.urlencode())
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:
            audit_admin_view_record(user=request.user, record_id=object_id)
        return response


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "created_at", "purged_count", "purged_before", "export_name"]
    exclude = ["mac", "anchor_mac"]
