from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "rongcheng.identity"
    label = "identity"

    def ready(self) -> None:
        from rongcheng.identity.services import codes_expired_delete, sessions_expired_close
        from rongcheng.kernel.jobs import cleanup_job_register

        cleanup_job_register("identity-codes", "expired one-time codes deleted", codes_expired_delete)
        cleanup_job_register("identity-sessions", "idle sessions closed, expired sessions deleted",
                             sessions_expired_close)  # fmt: skip
