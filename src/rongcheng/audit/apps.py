from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "rongcheng.audit"
    label = "audit"
