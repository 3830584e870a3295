import pytest


@pytest.fixture(autouse=True)
def _seal_inline(settings):
    """Deterministic: sealing after commit happens in the test's thread unless a test asks for the background."""
    settings.AUDIT_SEAL_MODE = "inline"
