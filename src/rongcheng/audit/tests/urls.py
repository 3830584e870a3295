"""The platform's URLs with the audit page mounted where the lead mounts it (/audit/).

The platform's URLs are included by name, not imported: the audit app must not depend on the composition root.
"""

from django.urls import include, path

urlpatterns = [
    path("audit/", include("rongcheng.audit.urls")),
    path("", include("rongcheng.config.urls")),
]
