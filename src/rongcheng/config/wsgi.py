"""WSGI entry point, served by granian in production (each worker imports this module: its start-up is here)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rongcheng.config.settings")
application = get_wsgi_application()

# Young collections after this many more allocations than frees (Python's default is 700). A request's objects are
# freed by their reference counts; at 700 a page of a hundred cases still set off a young collection every few
# requests, and those promoted what was alive at that moment towards the old generation.
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle() -> None:
    """Import what the first requests would (every app's views and API routers through the URLconf, the default
    language's catalogue), then move all of it out of the collector's sight for good (`gc.freeze`). A worker holds
    some 180,000 objects after start-up that live as long as it does; every full collection walked them all (235-342 ms
    on a loaded two-core machine) in whichever request set it off: the p99 of every read (bench/README.md, "third
    pass: the collector's pauses"). Frozen, a full collection walks only what came after."""
    from django.conf import settings
    from django.urls import get_resolver
    from django.utils import translation

    get_resolver().url_patterns  # noqa: B018  (imports every URLconf and the views they name)
    with translation.override(settings.LANGUAGE_CODE):
        translation.gettext("")
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


settle()
