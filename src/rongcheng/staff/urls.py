from django.urls import URLPattern, URLResolver, path

from rongcheng.staff import views

app_name = "staff"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.staff_list_view, name="list"),
    path("new/", views.staff_create_view, name="create"),
    path("<int:user_id>/", views.staff_detail_view, name="detail"),
    path("<int:user_id>/disable/", views.staff_disable_view, name="disable"),
    path("<int:user_id>/enable/", views.staff_enable_view, name="enable"),
    path("<int:user_id>/reset-password/", views.staff_password_reset_view, name="reset-password"),
    path("<int:user_id>/grant/", views.assignment_grant_view, name="grant"),
    path("assignments/<int:assignment_id>/revoke/", views.assignment_revoke_view, name="revoke"),
    path("roles/", views.role_list_view, name="roles"),
    path("roles/<int:role_id>/", views.role_detail_view, name="role-detail"),
    path("duties/", views.duty_overview_view, name="duties"),
]
