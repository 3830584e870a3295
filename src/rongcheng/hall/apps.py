from django.apps import AppConfig


class HallConfig(AppConfig):
    name = "rongcheng.hall"
    label = "hall"

    def ready(self) -> None:
        from rongcheng.hall.licensing import REFERENCE_PREFIX, references_describe
        from rongcheng.licences.selectors import reference_describer_register

        reference_describer_register(REFERENCE_PREFIX, references_describe)
