"""The staff page for bulk import."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
