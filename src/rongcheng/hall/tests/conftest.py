import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Test accounts get passwords; argon2 (production) costs ~0.1 s each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
