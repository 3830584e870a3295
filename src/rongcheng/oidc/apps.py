from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "rongcheng.oidc"
    label = "oidc"

    def ready(self) -> None:
        from rongcheng.kernel.jobs import cleanup_job_register
        from rongcheng.oidc.services import grants_and_tokens_expired_delete

        cleanup_job_register("oauth-grants", "expired authorization codes deleted, expired tokens cleared",
                             grants_and_tokens_expired_delete)  # fmt: skip
