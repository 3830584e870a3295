from django.urls import URLPattern, URLResolver

from rongcheng.licences.views import app_urlpatterns

app_name = "licences"

urlpatterns: list[URLPattern | URLResolver] = [*app_urlpatterns]
