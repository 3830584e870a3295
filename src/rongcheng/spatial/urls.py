from django.urls import path

from rongcheng.spatial import views

app_name = "spatial"

# Included at the root: OGC API – Features under /ogc/ (its landing page is also the map of the city's layers for a
# browser), the geocoding page under /spatial/.
urlpatterns = [
    path("ogc/", views.landing, name="ogc-landing"),
    path("ogc/openapi", views.openapi, name="ogc-openapi"),
    path("ogc/conformance", views.conformance, name="ogc-conformance"),
    path("ogc/collections", views.collections, name="ogc-collections"),
    path("ogc/collections/<str:collection_id>", views.collection, name="ogc-collection"),
    path("ogc/collections/<str:collection_id>/items", views.items, name="ogc-items"),
    path("ogc/collections/<str:collection_id>/items/<str:feature_id>", views.item, name="ogc-item"),
    path("ogc/collections/<str:collection_id>/queryables", views.queryables, name="ogc-queryables"),
    path("spatial/geocode/", views.geocode_page, name="geocode"),
    path("spatial/import/", views.poi_import_page, name="poi-import"),
]
