from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "rongcheng.demo"
    label = "demo"
    verbose_name = "Demo city"
