from rongcheng.credit import views

app_name = "credit"

urlpatterns = views.urlpatterns
