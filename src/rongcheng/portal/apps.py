from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "rongcheng.portal"
    label = "portal"
