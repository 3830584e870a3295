from rongcheng.catalogue import opendata

app_name = "opendata"

urlpatterns = opendata.urlpatterns
