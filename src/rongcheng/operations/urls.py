from django.urls import URLPattern, URLResolver

from rongcheng.operations.views import app_urlpatterns

app_name = "operations"

urlpatterns: list[URLPattern | URLResolver] = [*app_urlpatterns]
