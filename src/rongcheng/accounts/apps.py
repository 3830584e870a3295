from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "rongcheng.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save
        from oauth2_provider.models import AccessToken, Application

        from rongcheng.accounts.api_auth import token_cache_clear
        from rongcheng.accounts.models import User

        # A token, client or account changed through this process: the tokens it admitted are read again at once
        # (other processes within settings.API_TOKEN_CACHE_SECONDS, ADR 0019).
        for model in (AccessToken, Application, User):
            post_save.connect(token_cache_clear, sender=model, dispatch_uid=f"api_token_cache.{model.__name__}")
            post_delete.connect(token_cache_clear, sender=model, dispatch_uid=f"api_token_cache.{model.__name__}")
