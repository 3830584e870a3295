from django.apps import AppConfig


class DivisionsConfig(AppConfig):
    name = "rongcheng.divisions"
    label = "divisions"
