"""Suite-wide fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _audit_seal_inline(settings):
    """Seal audit records in the committing thread: tests see the chain at once, and no sealer thread outlives a
    test or holds its database open while pytest-django drops it."""
    settings.AUDIT_SEAL_MODE = "inline"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty process cache: cached permissions of one test's user id must not leak into the
    next test, whose database reuses the id."""
    from django.core.cache import cache

    cache.clear()
