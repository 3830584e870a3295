from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "rongcheng.catalogue"
    label = "catalogue"
