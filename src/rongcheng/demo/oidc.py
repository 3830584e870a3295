"""Demo city: one relying party registered with the OpenID Connect provider (idempotent, through its services).

Its client id and secret are kept (mode 0600) in the data directory, next to the demo accounts, since a secret is
shown only once.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from rongcheng.accounts.models import User
from rongcheng.oidc.models import ClientRegistration
from rongcheng.oidc.services import client_register

DEMO_CLIENT = "demo-portal"


def oidc_demo_seed(secrets_file: Path | None = None) -> int:
    """Register the demo relying party once; 1 if it was added."""
    if ClientRegistration.objects.filter(application__name=DEMO_CLIENT).exists():
        return 0
    administrator = User.objects.filter(is_superuser=True, is_active=True).order_by("id").first()
    if administrator is None:
        return 0
    issued = client_register(
        actor=administrator, name=DEMO_CLIENT, department_code="FZ-SZB", grant_type="authorization-code",
        redirect_uris=["https://localhost:8443/callback"], post_logout_redirect_uris=["https://localhost:8443/"],
    )  # fmt: skip
    path = secrets_file or Path(settings.DATA_DIR) / "demo-oidc-client.txt"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(
        f"client_id\t{issued.registration.application.client_id}\nclient_secret\t{issued.client_secret}\n",
        encoding="utf-8",
    )
    return 1
