"""Staff and resident pages of the base registries."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
