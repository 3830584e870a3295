from django.apps import AppConfig


class RegistriesConfig(AppConfig):
    name = "rongcheng.registries"
    label = "registries"
