from django.apps import AppConfig


class LicencesConfig(AppConfig):
    name = "rongcheng.licences"
    label = "licences"
