"""The demo's identity seeding and `rongcheng totp`: staff secrets beside the passwords, codes only for them.
Here rather than in an app's tests because it spans the command line, the demo and identity."""

from __future__ import annotations

import datetime as dt

import pytest

from rongcheng.accounts.models import AssuranceLevel, User
from rongcheng.cli import main
from rongcheng.demo.identity import demo_identity_seed, demo_totp_secret
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.models import ResidentProfile, TotpDevice
from rongcheng.identity.services import totp_secret
from rongcheng.identity.tests.factories import staff
from rongcheng.registries.tests.factories import make_id_number, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    clock.set(dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC))  # the code must not roll over mid-test
    officer, _ = staff("officer", with_totp=False)
    person = make_person(id_number=make_id_number(), phone="13812345678")
    User.objects.create_user(username="resident", password="x", id_number_index=person.id_number_index)
    accounts = tmp_path / "demo-accounts.txt"
    accounts.write_text("officer\tpw-officer\nresident\tpw-resident\n", encoding="utf-8")
    demo_identity_seed(accounts)
    yield accounts, officer, person
    clock.reset()


def test_demo_staff_get_an_authenticator_written_beside_the_password(demo):
    accounts, officer, _person = demo
    lines = accounts.read_text(encoding="utf-8").splitlines()
    secret = totp_secret(TotpDevice.objects.get(user=officer))
    assert lines[-2:] == [f"officer\tpw-officer\ttotp:{totp.secret_base32(secret)}", "resident\tpw-resident"]
    assert lines[0].startswith("#")
    demo_identity_seed(accounts)  # idempotent: the same secret, the same file
    assert accounts.read_text(encoding="utf-8").splitlines() == lines
    assert demo_totp_secret(accounts, "officer") == secret


def test_demo_resident_is_l2_and_bound(demo):
    _accounts, _officer, person = demo
    resident = User.objects.get(username="resident")
    assert (resident.assurance_level, resident.id_number_index) == (AssuranceLevel.L2, person.id_number_index)
    assert ResidentProfile.objects.get(user=resident).phone_verified_at is not None


def test_totp_command_prints_the_current_code_of_demo_staff_only(demo, capsys):
    _accounts, officer, _person = demo
    assert main(["totp", "officer"]) == 0
    assert capsys.readouterr().out.strip() == totp.totp(totp_secret(TotpDevice.objects.get(user=officer)), clock.now())
    assert main(["totp", "resident"]) == 1
    assert main(["totp", "nobody"]) == 1
    assert "is not a demo staff account" in capsys.readouterr().err
