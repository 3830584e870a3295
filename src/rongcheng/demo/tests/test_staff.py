"""The demo city's administrators hold one duty each, nobody works as a superuser, and seeding twice adds nothing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.management import call_command

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.demo.services import DEMO_ACCOUNTS, demo_city_seed
from rongcheng.oidc.permissions import may_manage_clients
from rongcheng.staff.models import Role, RoleAssignment
from rongcheng.staff.permissions import has_perm_in_department

pytestmark = pytest.mark.django_db


def test_three_administrators_with_separate_duties(tmp_path):
    demo_city_seed(persons=5, entities=0, accounts_file=tmp_path / "a.txt")
    assert not User.objects.filter(is_superuser=True).exists()
    assert "admin" not in [row[0] for row in DEMO_ACCOUNTS]
    duties = {
        username: sorted(RoleAssignment.objects.filter(user__username=username, revoked_at__isnull=True)
                         .values_list("role__duty", "department__code"))
        for username in ("sysadmin", "secadmin", "auditor", "officer", "police")
    }  # fmt: skip
    assert duties == {
        "sysadmin": [("system", None)], "secadmin": [("security", None)], "auditor": [("audit", None)],
        "officer": [("business", "FZ-FWZX")], "police": [("business", "FZ-GAJ")],
    }  # fmt: skip
    sysadmin, secadmin, auditor, police = (User.objects.get(username=u) for u in ("sysadmin", "secadmin",
                                                                                  "auditor", "police"))  # fmt: skip
    assert sysadmin.has_perm("staff.manage_staff_accounts")
    assert not sysadmin.has_perm("staff.assign_role")
    assert secadmin.has_perm("staff.assign_role")
    assert not secadmin.has_perm("staff.manage_staff_accounts")
    assert auditor.has_perm("audit.view_auditrecord")
    assert not auditor.has_perm("staff.assign_role")
    assert not sysadmin.has_perm("audit.view_auditrecord")
    assert not secadmin.has_perm("audit.view_auditrecord")
    # The README's security administrator registers the OpenID Connect clients; nobody else in the demo does.
    assert [u.username for u in (sysadmin, secadmin, auditor, police) if may_manage_clients(u)] == ["secadmin"]
    assert has_perm_in_department(police, "registries.change_person", police.department)
    assert not has_perm_in_department(
        police, "registries.change_person", User.objects.get(username="officer").department
    )
    out = io.StringIO()
    call_command("staff_duties_check", stdout=out)
    assert out.getvalue().endswith("ok   separation of administrator duties\n")

    records = AuditRecord.objects.count()
    assignments = RoleAssignment.objects.count()
    demo_city_seed(persons=5, entities=0, accounts_file=tmp_path / "a.txt")
    assert (AuditRecord.objects.count(), RoleAssignment.objects.count()) == (records, assignments)


def test_an_older_demos_security_administrator_gains_the_clients(tmp_path):
    demo_city_seed(persons=0, entities=0, accounts_file=tmp_path / "a.txt")
    role = Role.objects.get(group__name="安全管理员")
    role.group.permissions.remove(Permission.objects.get(content_type__app_label="oidc", codename="manage_client"))
    assert not may_manage_clients(User.objects.get(pk=User.objects.get(username="secadmin").pk))
    demo_city_seed(persons=0, entities=0, accounts_file=tmp_path / "a.txt")
    cache.clear()
    assert may_manage_clients(User.objects.get(username="secadmin"))


def test_an_older_demos_superuser_is_retired(tmp_path):
    User.objects.create_superuser(username="admin", password="x-Old-admin-1")
    demo_city_seed(persons=0, entities=0, accounts_file=tmp_path / "a.txt")
    admin = User.objects.get(username="admin")
    assert (admin.is_superuser, admin.is_active) == (False, False)
    assert AuditRecord.objects.filter(action="staff.account.superuser_retire", target_id=str(admin.pk)).count() == 1
