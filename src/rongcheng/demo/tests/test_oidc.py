"""The demo city's relying party: registered once, its secret kept in the data directory and working."""

from __future__ import annotations

import pytest

from rongcheng.accounts.models import Department, User
from rongcheng.demo.oidc import oidc_demo_seed
from rongcheng.oidc.models import ClientRegistration
from rongcheng.oidc.tests.test_bad_input import token_request

pytestmark = pytest.mark.django_db


def test_the_demo_relying_party_is_registered_once(tmp_path):
    Department.objects.create(code="FZ-SZB", name="福州市数字福州建设领导小组办公室", short_name="市数字办")
    assert oidc_demo_seed(tmp_path / "client.txt") == 0  # no administrator yet: nothing
    User.objects.create_superuser("admin", password="Rc-test-2017!")
    assert oidc_demo_seed(tmp_path / "client.txt") == 1
    assert oidc_demo_seed(tmp_path / "client.txt") == 0
    values = dict(line.split("\t") for line in (tmp_path / "client.txt").read_text().splitlines())
    assert (tmp_path / "client.txt").stat().st_mode & 0o777 == 0o600
    registration = ClientRegistration.objects.get()
    assert registration.application.client_id == values["client_id"]
    refused = token_request(values["client_id"], values["client_secret"], grant_type="client_credentials")
    assert refused.json()["error"] == "unauthorized_client"  # authenticated, but it signs people in only
