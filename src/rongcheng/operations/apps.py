from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "rongcheng.operations"
    label = "operations"

    def ready(self) -> None:
        from rongcheng.credit.events import ListEntryChanged
        from rongcheng.kernel.events import subscribe
        from rongcheng.operations import observers
        from rongcheng.operations.jobs import credit_list_changed, jobs_register_platform

        observers.observers_install()
        jobs_register_platform()
        subscribe(ListEntryChanged, credit_list_changed, name="operations.credit_rescreen", durable=True)
