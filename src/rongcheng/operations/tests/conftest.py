import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Test accounts get passwords; argon2 (production) costs ~0.1 s each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def metrics_token(settings, tmp_path):
    from rongcheng.operations.services import metrics_token_issue

    settings.DATA_DIR = tmp_path
    settings.OPERATIONS_METRICS_TOKEN_SM3 = ""
    settings.OPERATIONS_METRICS_NETWORKS = []
    return metrics_token_issue(tmp_path)
