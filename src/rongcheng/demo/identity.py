"""Demo identity: the resident account at L2 bound to the first demo person, an authenticator for every staff account
with its secret written beside the password in demo-accounts.txt (`rongcheng totp <username>` prints the code)."""

from __future__ import annotations

from pathlib import Path

from rongcheng.accounts.models import AccountKind, AssuranceLevel, User
from rongcheng.audit.services import Actor
from rongcheng.identity import totp
from rongcheng.identity.models import TotpDevice
from rongcheng.identity.services import assurance_set_by_system, totp_provision, totp_secret
from rongcheng.registries.models import Person

SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")
TOTP_COLUMN = "totp:"
HEADER = (
    "# Demo accounts: username, password and, for staff, the TOTP secret (add it to an authenticator app, or run\n"
    "# `uv run rongcheng totp <username>` for the current code). Demo data only: never use these outside the demo.\n"
)


def demo_identity_seed(accounts_file: Path) -> None:
    demo_counter_permission()
    person = Person.objects.order_by("id").first()
    resident = User.objects.filter(username="resident", kind=AccountKind.RESIDENT).first()
    if person is not None and resident is not None and resident.assurance_level < AssuranceLevel.L2:
        assurance_set_by_system(user=resident, person=person, level=AssuranceLevel.L2, actor=SYSTEM,
                                reason="demo resident")  # fmt: skip
    secrets: dict[str, str] = {}
    for user in User.objects.filter(kind=AccountKind.STAFF).order_by("username"):
        device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
        secret = totp_secret(device) if device is not None else totp_provision(user=user, actor=SYSTEM)
        secrets[user.username] = totp.secret_base32(secret)
    if not accounts_file.exists():
        return
    lines = []
    for line in accounts_file.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        username, _, rest = line.partition("\t")
        password = rest.partition("\t")[0]
        columns = [username, password] + ([TOTP_COLUMN + secrets[username]] if username in secrets else [])
        lines.append("\t".join(columns))
    accounts_file.write_text(HEADER + "".join(f"{line}\n" for line in lines), encoding="utf-8")


def demo_totp_secret(accounts_file: Path, username: str) -> bytes | None:
    """The TOTP secret the demo wrote for `username`, or None: only demo accounts of this data directory have one."""
    if not accounts_file.exists():
        return None
    for line in accounts_file.read_text(encoding="utf-8").splitlines():
        columns = line.split("\t")
        if columns[0] == username:
            for column in columns[2:]:
                if column.startswith(TOTP_COLUMN):
                    return totp.secret_from_base32(column.removeprefix(TOTP_COLUMN))
    return None


def demo_counter_permission() -> None:
    """Window officers of the demo may verify residents in person (L3)."""
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.filter(name="窗口工作人员").first()
    permission = Permission.objects.filter(codename="verify_in_person", content_type__app_label="identity").first()
    if group is not None and permission is not None:
        group.permissions.add(permission)
