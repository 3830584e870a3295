from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "rongcheng.audit"
    label = "audit"

    def ready(self) -> None:
        from rongcheng.audit.services import refusals_summary_record
        from rongcheng.kernel.ratelimit import refusal_summaries_subscribe

        refusal_summaries_subscribe(refusals_summary_record)  # one record per window of rate-limited requests
