from typing import Any

from django.apps import AppConfig


class SpatialConfig(AppConfig):
    name = "rongcheng.spatial"
    label = "spatial"
    verbose_name = "Spatio-temporal services"

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from rongcheng.divisions.models import Division, GridCell
        from rongcheng.registries.models import Address
        from rongcheng.spatial.geocoding import geocoding_index_drop
        from rongcheng.spatial.layers import PLATFORM_LAYERS
        from rongcheng.spatial.services import layer_register, spatial_indexes_drop

        for layer in PLATFORM_LAYERS:
            layer_register(layer)

        # Dropped at once (this connection's next read sees the change), and again when the change commits: another
        # thread may rebuild the index in between from what was committed before, and an edited row leaves the
        # stamp (count, largest id) as it was, so that stale index would otherwise stay.
        def changed(using: str = "default", **_: Any) -> None:
            spatial_indexes_drop()
            transaction.on_commit(spatial_indexes_drop, using=using)

        def address_changed(using: str = "default", **_: Any) -> None:
            geocoding_index_drop()
            transaction.on_commit(geocoding_index_drop, using=using)

        for model in (GridCell, Division):
            post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"spatial.grid.{model.__name__}.save")
            post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"spatial.grid.{model.__name__}.delete")
        post_save.connect(address_changed, sender=Address, weak=False, dispatch_uid="spatial.geocoding.save")
        post_delete.connect(address_changed, sender=Address, weak=False, dispatch_uid="spatial.geocoding.delete")
