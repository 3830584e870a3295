"""Fixtures of the OpenID Connect provider's tests: a security administrator, clients registered through the
services, a resident bound to a person of the population registry."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from rongcheng.accounts.models import AccountKind, AssuranceLevel, User
from rongcheng.oidc.services import IssuedSecret, client_register
from rongcheng.registries.tests import factories

PASSWORD = "Rc-test-2017!"
REDIRECT = "https://rp.gaj.example/callback"
OTHER_REDIRECT = "https://rp.mzj.example/callback"


@pytest.fixture(autouse=True)
def _keys_in_tmp(settings, tmp_path_factory):
    """One key ring per test session in a temporary directory: never the developer's data directory."""
    settings.OIDC_KEYS_DIR = tmp_path_factory.getbasetemp() / "oidc-keys"


@pytest.fixture
def manager(db) -> User:
    user = User.objects.create_user(
        username="secadmin", password=PASSWORD, kind=AccountKind.STAFF, department=factories.department()
    )
    user.user_permissions.add(Permission.objects.get(content_type__app_label="oidc", codename="manage_client"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def person(db):
    return factories.make_person(name="林觉民")


@pytest.fixture
def resident(person) -> User:
    user = factories.resident("linjuemin", person=person)
    user.display_name = "林觉民"
    user.assurance_level = AssuranceLevel.L2
    user.save(update_fields=["display_name", "assurance_level"])
    return user


def register(manager: User, name: str = "gaj-portal", **kwargs) -> IssuedSecret:
    data: dict[str, Any] = {
        "department_code": "FZ-GAJ",
        "grant_type": "authorization-code",
        "redirect_uris": [REDIRECT],
    }
    data.update(kwargs)
    return client_register(actor=manager, name=name, **data)


@pytest.fixture
def rp(manager) -> IssuedSecret:
    """A relying party: a department portal that signs residents in."""
    return register(manager, post_logout_redirect_uris=["https://rp.gaj.example/bye"])
