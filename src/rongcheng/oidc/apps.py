from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "rongcheng.oidc"
    label = "oidc"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from rongcheng.accounts.api_auth import token_cache_clear
        from rongcheng.kernel.jobs import cleanup_job_register
        from rongcheng.oidc.models import ClientRegistration
        from rongcheng.oidc.services import grants_and_tokens_expired_delete

        # A client disabled through this process: the API's admitted tokens are read again at once (ADR 0019).
        post_save.connect(token_cache_clear, sender=ClientRegistration, dispatch_uid="api_token_cache.registration")
        post_delete.connect(token_cache_clear, sender=ClientRegistration, dispatch_uid="api_token_cache.registration")

        cleanup_job_register("oauth-grants", "expired authorization codes deleted, expired tokens cleared",
                             grants_and_tokens_expired_delete)  # fmt: skip
