from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "rongcheng.staff"
    label = "staff"
