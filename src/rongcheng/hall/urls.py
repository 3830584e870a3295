from django.urls import URLPattern, URLResolver

app_name = "hall"

urlpatterns: list[URLPattern | URLResolver] = []
