from django.apps import AppConfig


class CardConfig(AppConfig):
    name = "rongcheng.card"
    label = "card"

    def ready(self) -> None:
        from rongcheng.card.services import idempotency_records_expire, preauthorizations_expire
        from rongcheng.kernel.jobs import cleanup_job_register

        cleanup_job_register(
            "card-preauthorizations", "pre-authorisations past their timeout voided", preauthorizations_expire
        )
        cleanup_job_register(
            "card-idempotency",
            "stored answers of money-moving requests older than 7 days deleted",
            idempotency_records_expire,
        )
