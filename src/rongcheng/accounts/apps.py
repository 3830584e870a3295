from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "rongcheng.accounts"
    label = "accounts"
