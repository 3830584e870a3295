from django.urls import URLPattern, URLResolver

from rongcheng.card.views import app_urlpatterns

app_name = "card"

urlpatterns: list[URLPattern | URLResolver] = [*app_urlpatterns]
