from rongcheng.hall import views

app_name = "hall"

urlpatterns = views.urlpatterns
