from django.urls import URLPattern, URLResolver, path

from rongcheng.oidc import views

app_name = "oidc"

urlpatterns: list[URLPattern | URLResolver] = [
    path("authorized-clients/", views.authorized_clients, name="authorized-clients"),
    path(
        "authorized-clients/<int:consent_id>/revoke/", views.authorized_client_revoke, name="authorized-client-revoke"
    ),
    path("clients/", views.client_list, name="client-list"),
    path("clients/register/", views.client_register, name="client-register"),
    path("clients/<str:client_id>/", views.client_detail, name="client-detail"),
    path("clients/<str:client_id>/rotate-secret/", views.client_rotate_secret, name="client-rotate-secret"),
    path("clients/<str:client_id>/disable/", views.client_disable, name="client-disable"),
]
