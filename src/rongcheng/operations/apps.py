from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "rongcheng.operations"
    label = "operations"

    def ready(self) -> None:
        from rongcheng.catalogue.events import PersonalItemsChanged
        from rongcheng.credit.events import ListEntryChanged
        from rongcheng.kernel.events import subscribe
        from rongcheng.operations import observers
        from rongcheng.operations.jobs import (
            catalogue_personal_items_changed,
            credit_list_changed,
            jobs_register_platform,
        )

        observers.observers_install()
        jobs_register_platform()
        subscribe(ListEntryChanged, credit_list_changed, name="operations.credit_rescreen", durable=True)
        subscribe(PersonalItemsChanged, catalogue_personal_items_changed, name="operations.catalogue_masked_forms",
                  durable=True)  # fmt: skip
