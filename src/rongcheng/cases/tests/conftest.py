import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings, tmp_path):
    """Test accounts get passwords (argon2 costs ~0.1 s each); photos go to a fresh data directory."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DATA_DIR = tmp_path
