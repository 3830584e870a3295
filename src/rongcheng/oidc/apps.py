from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "rongcheng.oidc"
    label = "oidc"
