from django.urls import URLPattern, URLResolver, path

from rongcheng.identity import views

app_name = "identity"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.account, name="account"),
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-in/sms/", views.sign_in_sms, name="sign-in-sms"),
    path("sign-in/totp/", views.sign_in_totp, name="sign-in-totp"),
    path("sign-out/", views.sign_out_view, name="sign-out"),
    path("register/", views.register, name="register"),
    path("totp/", views.totp_enrol, name="totp-enrol"),
    path("password/", views.password_change_view, name="password-change"),
    path("step-up/", views.step_up, name="step-up"),
    path("step-up/confirm/", views.step_up_confirm_view, name="step-up-confirm"),
    path("sessions/<int:session_id>/end/", views.session_end_view, name="session-end"),
    path("counter/", views.counter_verification, name="counter"),
    path("representations/claim/", views.representation_claim_view, name="representation-claim"),
    path("representations/delegate/", views.representation_delegate_view, name="representation-delegate"),
    path(
        "representations/<int:representation_id>/revoke/",
        views.representation_revoke_view,
        name="representation-revoke",
    ),
]
