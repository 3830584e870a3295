"""`staff_duties_check` reports every breach of 三员分立; `staff_admin_create` installs one administrator."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from rongcheng.accounts.models import User
from rongcheng.staff.models import Duty, Role, RoleAssignment
from rongcheng.staff.services import role_grant_by_system
from rongcheng.staff.tests.factories import SYSTEM, administrator, audit_role, bare_staff, department, police_role

pytestmark = pytest.mark.django_db


def run_check() -> tuple[str, bool]:
    out = io.StringIO()
    try:
        call_command("staff_duties_check", stdout=out)
    except CommandError:
        return out.getvalue(), False
    return out.getvalue(), True


def test_separate_administrators_pass():
    administrator(Duty.SYSTEM, "sysadmin")
    administrator(Duty.SECURITY, "secadmin")
    administrator(Duty.AUDIT, "auditor")
    output, ok = run_check()
    assert ok
    assert output.splitlines() == [
        "     sysadmin: system", "     secadmin: security", "     auditor: audit",
        "ok   separation of administrator duties",
    ]  # fmt: skip


def test_every_kind_of_breach_is_reported():
    # two duties on one account, written around the services (as a database edit would)
    both = administrator(Duty.SYSTEM, "both")
    RoleAssignment.objects.create(user=both, role=audit_role(), granted_by_label="raw SQL")
    bare_staff("root", is_superuser=True)
    direct = bare_staff("direct")
    direct.user_permissions.add(Permission.objects.get(codename="assign_role"))
    legacy = Group.objects.create(name="老管理员")
    legacy.permissions.add(Permission.objects.get(codename="manage_staff_accounts"))
    bare_staff("legacy").groups.add(legacy)
    crossing = police_role()
    crossing.group.permissions.add(Permission.objects.get(codename="view_auditrecord"))
    bare_staff("sneaky").groups.add(crossing.group)
    output, ok = run_check()
    assert not ok
    assert [line for line in output.splitlines() if line.startswith("FAIL")] == [
        "FAIL duties.combined both: holds 2 administrator duties: system, audit",
        "FAIL duties.superuser root: active superuser: holds every duty; disable it outside an emergency",
        "FAIL duties.direct_permission direct: holds staff.assign_role outside any role",
        "FAIL duties.group_permission 老管理员: group (not a role) with members carries staff.manage_staff_accounts",
        "FAIL duties.role_crossing 户籍民警: business role carries audit.view_auditrecord",
        "FAIL duties.unassigned_member sneaky: member of the role group 户籍民警 without an assignment",
    ]


def test_a_disabled_account_with_two_duties_is_listed_but_not_a_breach():
    both = administrator(Duty.SYSTEM, "both")
    RoleAssignment.objects.create(user=both, role=audit_role(), granted_by_label="raw SQL")
    User.objects.filter(pk=both.pk).update(is_active=False)
    output, ok = run_check()
    assert ok
    assert "     both (disabled): system, audit" in output


def test_staff_admin_create_installs_one_duty():
    department("FZ-SZB", "福州市数字福州建设领导小组办公室")
    audit_role()
    out = io.StringIO()
    call_command("staff_admin_create", "--username", "auditor", "--department", "FZ-SZB", "--duty", "audit",
                 stdout=out)  # fmt: skip
    username, password, role = out.getvalue().strip().split("\t")
    user = User.objects.get(username="auditor")
    assert (username, role) == ("auditor", "审计管理员 (audit)")
    assert user.check_password(password)
    assert user.must_change_password
    assert not user.is_superuser
    assert [(a.role.duty, a.department) for a in user.role_assignments.all()] == [("audit", None)]
    with pytest.raises(CommandError, match="taken"):
        call_command("staff_admin_create", "--username", "auditor", "--department", "FZ-SZB", "--duty", "audit")
    with pytest.raises(CommandError, match="No city-wide role of the system duty"):
        call_command("staff_admin_create", "--username", "sys", "--department", "FZ-SZB", "--duty", "system")
    assert not User.objects.filter(username="sys").exists()


def test_staff_admin_create_refuses_a_second_duty_through_the_service():
    both = administrator(Duty.SYSTEM, "both")
    with pytest.raises(Exception, match="duty"):
        role_grant_by_system(user=both, role=audit_role(), department=None, actor=SYSTEM)
    assert Role.objects.count() == 2
    assert both.role_assignments.count() == 1
