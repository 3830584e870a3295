"""Whether the signed-in account can use any page of Django's admin, so the header links to it only then."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib import admin

register = template.Library()


@register.simple_tag(takes_context=True)
def admin_usable(context: dict[str, Any]) -> bool:
    """A staff flag alone opens an empty admin ("you don't have permission to view or edit anything"): the link
    shows only when the admin site lists at least one application for this request."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not (user.is_active and user.is_staff):
        return False
    return bool(admin.site.get_app_list(request))
