from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from rongcheng.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("stories/", views.stories, name="stories"),
    path("problems/<slug:slug>", views.problem_type, name="problem-type"),
    # Browsers ask for /favicon.ico on pages that name no icon (the Django admin's).
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
]
