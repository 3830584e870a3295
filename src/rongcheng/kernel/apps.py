from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "rongcheng.kernel"
    label = "kernel"
    verbose_name = "Kernel"

    def ready(self) -> None:
        from django.core.cache import caches

        from rongcheng.kernel.events import outbox_delivered_delete
        from rongcheng.kernel.jobs import cleanup_job_register
        from rongcheng.kernel.ratelimit import CACHE_ALIAS, refusal_summaries_flush

        def shared_cache_expired_delete() -> int:
            cache = caches[CACHE_ALIAS]
            return int(cache.expired_delete()) if hasattr(cache, "expired_delete") else 0

        cleanup_job_register(
            "rate-limit-summaries", "windows of refused requests summarised in the audit trail",
            lambda: refusal_summaries_flush(),
        )  # fmt: skip
        cleanup_job_register("shared-cache", "expired rows of the shared cache deleted", shared_cache_expired_delete)
        cleanup_job_register(
            "event-outbox", "domain events delivered more than 30 days ago deleted from the outbox",
            lambda: outbox_delivered_delete(),
        )  # fmt: skip
