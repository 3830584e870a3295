from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "rongcheng.identity"
    label = "identity"
