from django.apps import AppConfig


class HallConfig(AppConfig):
    name = "rongcheng.hall"
    label = "hall"

    def ready(self) -> None:
        from rongcheng.card.events import BillPaid
        from rongcheng.hall.licensing import REFERENCE_PREFIX, references_describe
        from rongcheng.hall.services import fee_paid_record
        from rongcheng.kernel.events import subscribe
        from rongcheng.licences.selectors import reference_describer_register

        reference_describer_register(REFERENCE_PREFIX, references_describe)
        # the city card's unified payment of fees; durable: a paid fee must reach its application
        subscribe(BillPaid, fee_paid_record, name="hall.fee_paid", durable=True)
