from rongcheng.cases import views

app_name = "cases"

urlpatterns = views.urlpatterns
