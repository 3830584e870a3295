from rongcheng.registries import import_views, views

app_name = "registries"

urlpatterns = [*views.urlpatterns, *import_views.urlpatterns]
