"""Read-only admin views of the identity state; the one write, lifting a lock early, goes through the service.

Personal data (resident profiles, counter verifications, representations) is not here: see config.adminsite."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from rongcheng.accounts.models import User
from rongcheng.audit.services import actor_from_user
from rongcheng.identity.models import AccountSession, SignInGuard
from rongcheng.identity.services import sign_in_guard_release


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # one base for several models
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SignInGuard)
class SignInGuardAdmin(ReadOnlyAdmin):
    list_display = ("user", "failures", "locked_until", "last_failure_at")
    actions = ["release"]

    @admin.action(description="Lift the lock (audited)", permissions=["view"])
    def release(self, request: HttpRequest, queryset: QuerySet[SignInGuard]) -> None:
        actor = actor_from_user(request.user)
        for guard in queryset.select_related("user"):
            if isinstance(guard.user, User):
                sign_in_guard_release(user=guard.user, actor=actor)
        messages.success(request, "Released.")


@admin.register(AccountSession)
class AccountSessionAdmin(ReadOnlyAdmin):
    list_display = ("user", "method", "created_at", "last_seen_at", "source_address", "ended_at", "end_reason")
    list_filter = ("end_reason", "method")
    exclude = ("session_key",)
