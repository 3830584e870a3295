from django.apps import AppConfig


class HallConfig(AppConfig):
    name = "rongcheng.hall"
    label = "hall"
