from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "rongcheng.kernel"
    label = "kernel"
    verbose_name = "Kernel"
