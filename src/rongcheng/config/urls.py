from django.contrib import admin
from django.urls import include, path

from rongcheng.config.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("audit/", include("rongcheng.audit.urls")),
    path("registries/", include("rongcheng.registries.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("rongcheng.portal.urls")),
]

handler404 = "rongcheng.portal.views.not_found"
handler500 = "rongcheng.portal.views.server_error"
