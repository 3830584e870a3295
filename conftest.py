"""Suite-wide fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _audit_seal_inline(settings):
    """Seal audit records in the committing thread: tests see the chain at once, and no sealer thread outlives a
    test or holds its database open while pytest-django drops it."""
    settings.AUDIT_SEAL_MODE = "inline"
