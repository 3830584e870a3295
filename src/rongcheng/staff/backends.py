"""The authentication backend of the platform: Django's ModelBackend (active accounts), with permissions derived
from role assignments instead of bare group membership (see `rongcheng.staff.permissions`).

It checks no password: `django.contrib.auth.authenticate()` (the admin's login form, a toolkit's password grant,
any library that calls it) always answers None. A person's password is checked only by the identity service
(`rongcheng.identity.services.password_sign_in`), under its lockout and audit, which signs the person in itself."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from rongcheng.staff.permissions import grants_for


class DepartmentRoleBackend(ModelBackend):
    """`user.has_perm(p)`: p is granted to the account in at least one department, or city-wide.

    Membership of a group that is a `Role` gives nothing by itself: only an active assignment does, so an account
    added to a role's group behind the services' back (in Django's admin, say) gains no right.
    """

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        """No password check outside the identity service (see the module's docstring)."""
        return None

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return self.get_all_permissions(user_obj, obj)

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cached: set[str] | None = getattr(user_obj, "_perm_cache", None)
        if cached is None:
            cached = set(grants_for(user_obj).everywhere())
            user_obj._perm_cache = cached
        return cached
