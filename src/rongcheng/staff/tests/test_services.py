"""The staff services: what each administrator may do, and every refusal changing nothing but the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.tests.contexts import request_from
from rongcheng.staff.errors import (
    DepartmentNotFound,
    DutyConflict,
    RoleAlreadyAssigned,
    RoleAssignmentNotFound,
    RoleAssignmentRevoked,
    RoleDefinitionInvalid,
    RoleDepartmentMismatch,
    RoleGranteeInvalid,
    RoleNotFound,
    SelfAdministrationRefused,
    StaffAccountExists,
    StaffAccountNotFound,
    StaffAccountState,
    StaffActionDenied,
    StaffInputInvalid,
)
from rongcheng.staff.models import Duty, Role, RoleAssignment
from rongcheng.staff.services import (
    role_define,
    role_grant,
    role_revoke,
    staff_account_create,
    staff_account_disable,
    staff_account_enable,
    staff_password_reset,
)
from rongcheng.staff.tests.factories import (
    SYSTEM,
    administrator,
    audit_role,
    bare_staff,
    created_staff,
    department,
    other_department,
    police_role,
    resident,
    security_role,
    system_role,
)

pytestmark = pytest.mark.django_db


def state() -> dict[str, Any]:
    return {
        "users": sorted(User.objects.values_list("pk", "username", "is_active", "password", "must_change_password")),
        "assignments": sorted(
            RoleAssignment.objects.values_list("pk", "user_id", "role_id", "department_id", "revoked_at")
        ),
        "memberships": sorted(User.groups.through.objects.values_list("user_id", "group_id")),
        "audit": AuditRecord.objects.count(),
    }


def assert_refused(before: dict[str, Any], *, action: str, problem: str, actor: User | None = None) -> None:
    """Nothing changed, except one `denied` record of the attempt naming the acting account and the problem."""
    after = state()
    assert after["audit"] == before["audit"] + 1
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    record = AuditRecord.objects.latest("id")
    assert record is not None
    assert (record.action, record.outcome, record.detail["problem"]) == (action, "denied", problem)
    if actor is not None:
        assert (record.actor_kind, record.actor_id, record.actor_label) == ("user", str(actor.pk), actor.username)


@pytest.fixture
def sysadmin() -> User:
    return administrator(Duty.SYSTEM, "sysadmin")


@pytest.fixture
def secadmin() -> User:
    return administrator(Duty.SECURITY, "secadmin")


@pytest.fixture
def auditor() -> User:
    return administrator(Duty.AUDIT, "auditor")


class TestStaffAccounts:
    def test_create_gives_a_random_initial_password_to_change(self, sysadmin):
        with request_from("10.0.0.8"):
            user, password = staff_account_create(
                username="lin.gong", display_name=" 林工 ", department_id=department().pk, actor=sysadmin
            )
        user.refresh_from_db()
        assert (user.username, user.display_name, user.kind, user.department, user.is_active, user.is_staff) == (
            "lin.gong", "林工", AccountKind.STAFF, department(), True, True
        )  # fmt: skip
        assert user.must_change_password is True
        assert user.password_changed_at is not None
        assert len(password) == 16
        assert user.check_password(password)
        assert not user.role_assignments.exists()
        record = AuditRecord.objects.latest("id")
        assert (record.action, record.outcome, record.actor_label, record.target_id, record.source_address) == (
            "staff.account.create", "success", "sysadmin", str(user.pk), "10.0.0.8"
        )  # fmt: skip
        assert record.detail == {"username": "lin.gong", "department": "FZ-GAJ"}
        assert password not in str(record.detail)

    def test_two_accounts_get_different_passwords(self, sysadmin):
        _, first = staff_account_create(
            username="aa1", display_name="甲", department_id=department().pk, actor=sysadmin
        )
        _, second = staff_account_create(
            username="aa2", display_name="乙", department_id=department().pk, actor=sysadmin
        )
        assert first != second

    @pytest.mark.parametrize("who", ["secadmin", "auditor"])
    def test_only_the_system_administrator_creates_accounts(self, who, request):
        actor = request.getfixturevalue(who)
        before = state()
        with pytest.raises(StaffActionDenied):
            staff_account_create(username="x1", display_name="某", department_id=department().pk, actor=actor)
        assert_refused(before, action="staff.account.create", problem="staff-action-denied", actor=actor)

    @pytest.mark.parametrize(
        ("username", "display_name", "rules"),
        [
            ("a b", "林", ["username.format"]),
            ("ab", "林", ["username.length"]),
            ("lin", "", ["display_name.length"]),
            ("x" * 151, "林", ["username.length"]),
            ("<script>", "林" * 101, ["username.format", "display_name.length"]),
        ],
    )
    def test_invalid_details_are_refused(self, sysadmin, username, display_name, rules):
        before = state()
        with pytest.raises(StaffInputInvalid) as caught:
            staff_account_create(username=username, display_name=display_name, department_id=department().pk,
                                 actor=sysadmin)  # fmt: skip
        assert [e["rule"] for e in caught.value.errors] == rules
        assert_refused(before, action="staff.account.create", problem="validation-failed", actor=sysadmin)

    def test_unknown_department_is_refused(self, sysadmin):
        before = state()
        with pytest.raises(DepartmentNotFound):
            staff_account_create(username="lin", display_name="林", department_id=987654, actor=sysadmin)
        assert_refused(before, action="staff.account.create", problem="department-not-found", actor=sysadmin)

    def test_a_taken_username_is_refused_whatever_its_case(self, sysadmin):
        created_staff(sysadmin, "lin.gong")
        before = state()
        with pytest.raises(StaffAccountExists):
            staff_account_create(username="LIN.gong", display_name="林", department_id=department().pk, actor=sysadmin)
        assert_refused(before, action="staff.account.create", problem="staff-account-exists", actor=sysadmin)

    def test_disable_and_enable(self, sysadmin):
        user = created_staff(sysadmin, "lin.gong")
        assert staff_account_disable(user_id=user.pk, actor=sysadmin).is_active is False
        user.refresh_from_db()
        assert user.is_active is False
        before = state()
        with pytest.raises(StaffAccountState):
            staff_account_disable(user_id=user.pk, actor=sysadmin)
        assert_refused(before, action="staff.account.disable", problem="staff-account-state", actor=sysadmin)
        assert staff_account_enable(user_id=user.pk, actor=sysadmin).is_active is True
        actions = list(
            AuditRecord.objects.filter(target_id=str(user.pk), outcome="success")
            .values_list("action", flat=True)
            .order_by("id")
        )
        assert actions == ["staff.account.create", "staff.account.disable", "staff.account.enable"]

    def test_password_reset_forces_a_change(self, sysadmin):
        user = created_staff(sysadmin, "lin.gong")
        user.must_change_password = False
        user.save(update_fields=["must_change_password"])
        _, password = staff_password_reset(user_id=user.pk, actor=sysadmin)
        user.refresh_from_db()
        assert user.check_password(password)
        assert user.must_change_password is True

    def test_no_administrator_acts_on_their_own_account(self, sysadmin):
        for service, action in (
            (staff_account_disable, "staff.account.disable"),
            (staff_password_reset, "staff.account.password_reset"),
        ):
            before = state()
            with pytest.raises(SelfAdministrationRefused):
                service(user_id=sysadmin.pk, actor=sysadmin)
            assert_refused(before, action=action, problem="self-administration-refused", actor=sysadmin)

    @pytest.mark.parametrize("target", ["unknown", "resident"])
    def test_unknown_or_non_staff_accounts_are_not_found(self, sysadmin, target):
        user_id = 987654 if target == "unknown" else resident().pk
        before = state()
        with pytest.raises(StaffAccountNotFound):
            staff_account_disable(user_id=user_id, actor=sysadmin)
        assert_refused(before, action="staff.account.disable", problem="staff-account-not-found", actor=sysadmin)

    def test_a_department_system_administrator_manages_only_their_department(self, secadmin):
        local_admin = bare_staff("gaj.admin", dept=department())
        local_role = role_define(
            name="部门系统管理员", duty=Duty.SYSTEM, description="", city_wide=False, actor=SYSTEM,
            permissions=("staff.manage_staff_accounts",),
        )  # fmt: skip
        role_grant(user_id=local_admin.pk, role_id=local_role.pk, department_id=department().pk, actor=secadmin)
        local_admin = User.objects.get(pk=local_admin.pk)
        created_staff(local_admin, "gaj.officer", dept=department())
        before = state()
        with pytest.raises(StaffActionDenied):
            staff_account_create(username="fwzx.officer", display_name="林", department_id=other_department().pk,
                                 actor=local_admin)  # fmt: skip
        assert_refused(before, action="staff.account.create", problem="staff-action-denied", actor=local_admin)


class TestGrants:
    def test_grant_in_the_accounts_department(self, secadmin):
        officer = bare_staff("officer", dept=department())
        role = police_role()
        with request_from("10.0.0.9"):
            assignment = role_grant(user_id=officer.pk, role_id=role.pk, department_id=department().pk, actor=secadmin)
        assert (assignment.user, assignment.role, assignment.department, assignment.granted_by,
                assignment.granted_by_label, assignment.revoked_at) == (
            officer, role, department(), secadmin, "secadmin", None
        )  # fmt: skip
        assert list(officer.groups.values_list("name", flat=True)) == ["户籍民警"]
        record = AuditRecord.objects.latest("id")
        assert (record.action, record.outcome, record.actor_label, record.target_id, record.source_address) == (
            "staff.assignment.grant", "success", "secadmin", str(officer.pk), "10.0.0.9"
        )  # fmt: skip
        assert record.detail == {"user_id": officer.pk, "role": "户籍民警", "duty": "business",
                                 "department": "FZ-GAJ", "assignment_id": assignment.pk}  # fmt: skip

    def test_revoke_ends_the_grant_and_the_group_membership(self, secadmin):
        officer = bare_staff("officer")
        assignment = role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=department().pk,
                                actor=secadmin)  # fmt: skip
        revoked = role_revoke(assignment_id=assignment.pk, actor=secadmin)
        assert revoked.revoked_by == secadmin
        assert revoked.revoked_at is not None
        assert not officer.groups.exists()
        before = state()
        with pytest.raises(RoleAssignmentRevoked):
            role_revoke(assignment_id=assignment.pk, actor=secadmin)
        assert_refused(before, action="staff.assignment.revoke", problem="role-assignment-revoked", actor=secadmin)
        # granted again after a revocation: a new row, the history kept
        again = role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
        assert again.pk != assignment.pk
        assert RoleAssignment.objects.filter(user=officer).count() == 2

    def test_a_role_is_not_granted_across_departments(self, secadmin):
        officer = bare_staff("officer", dept=department())
        police_role(), other_department()
        before = state()
        with pytest.raises(RoleDepartmentMismatch):
            role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=other_department().pk,
                       actor=secadmin)  # fmt: skip
        assert_refused(before, action="staff.assignment.grant", problem="role-department-mismatch", actor=secadmin)
        with pytest.raises(RoleDepartmentMismatch):
            role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=None, actor=secadmin)

    def test_a_city_wide_role_may_be_granted_for_another_department(self, secadmin):
        inspector = bare_staff("inspector", dept=department())
        role = role_define(name="督查员", duty=Duty.BUSINESS, description="", city_wide=True, actor=SYSTEM,
                           permissions=("registries.view_person",))  # fmt: skip
        assignment = role_grant(user_id=inspector.pk, role_id=role.pk, department_id=other_department().pk,
                                actor=secadmin)  # fmt: skip
        assert assignment.department == other_department()

    def test_nobody_grants_themselves_a_role(self, secadmin):
        police_role()
        before = state()
        with pytest.raises(SelfAdministrationRefused):
            role_grant(user_id=secadmin.pk, role_id=police_role().pk, department_id=secadmin.department_id,
                       actor=secadmin)  # fmt: skip
        assert_refused(before, action="staff.assignment.grant", problem="self-administration-refused", actor=secadmin)

    def test_nobody_revokes_their_own_role(self, secadmin):
        own = secadmin.role_assignments.get()
        before = state()
        with pytest.raises(SelfAdministrationRefused):
            role_revoke(assignment_id=own.pk, actor=secadmin)
        assert_refused(before, action="staff.assignment.revoke", problem="self-administration-refused", actor=secadmin)

    @pytest.mark.parametrize(("held", "requested"), [
        (Duty.SYSTEM, Duty.SECURITY), (Duty.SYSTEM, Duty.AUDIT), (Duty.SECURITY, Duty.AUDIT),
        (Duty.AUDIT, Duty.SYSTEM),
    ])  # fmt: skip
    def test_no_account_holds_two_administrator_duties(self, secadmin, held, requested):
        roles = {Duty.SYSTEM: system_role, Duty.SECURITY: security_role, Duty.AUDIT: audit_role}
        target = administrator(held, "target")
        role = roles[requested]()
        before = state()
        with pytest.raises(DutyConflict) as caught:
            role_grant(user_id=target.pk, role_id=role.pk, department_id=None, actor=secadmin)
        assert caught.value.extra == {"held": [held], "requested": requested}
        assert_refused(before, action="staff.assignment.grant", problem="duty-conflict", actor=secadmin)

    def test_the_same_duty_twice_is_no_conflict(self, secadmin):
        target = administrator(Duty.AUDIT, "auditor2")
        second = role_define(name="审计员（外部）", duty=Duty.AUDIT, description="", city_wide=True, actor=SYSTEM,
                             permissions=("audit.view_auditrecord",))  # fmt: skip
        role_grant(user_id=target.pk, role_id=second.pk, department_id=None, actor=secadmin)
        assert target.role_assignments.filter(revoked_at__isnull=True).count() == 2

    def test_a_superuser_holds_every_duty_already(self, secadmin):
        root = bare_staff("root", is_superuser=True)
        audit_role()
        before = state()
        with pytest.raises(DutyConflict):
            role_grant(user_id=root.pk, role_id=audit_role().pk, department_id=None, actor=secadmin)
        assert_refused(before, action="staff.assignment.grant", problem="duty-conflict", actor=secadmin)

    def test_a_revoked_duty_no_longer_conflicts(self, secadmin):
        target = administrator(Duty.SYSTEM, "target")
        role_revoke(assignment_id=target.role_assignments.get().pk, actor=secadmin)
        role_grant(user_id=target.pk, role_id=audit_role().pk, department_id=None, actor=secadmin)
        duties = set(target.role_assignments.filter(revoked_at__isnull=True).values_list("role__duty", flat=True))
        assert duties == {"audit"}

    def test_the_same_grant_twice_is_refused(self, secadmin):
        officer = bare_staff("officer")
        role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
        before = state()
        with pytest.raises(RoleAlreadyAssigned):
            role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
        assert_refused(before, action="staff.assignment.grant", problem="role-already-assigned", actor=secadmin)

    @pytest.mark.parametrize("who", ["sysadmin", "auditor"])
    def test_only_the_security_administrator_grants_and_revokes(self, who, request, secadmin):
        actor = request.getfixturevalue(who)
        officer = bare_staff("officer")
        role = police_role()
        assignment = role_grant(user_id=officer.pk, role_id=role.pk, department_id=department().pk, actor=secadmin)
        before = state()
        with pytest.raises(StaffActionDenied):
            role_grant(user_id=officer.pk, role_id=role.pk, department_id=department().pk, actor=actor)
        assert_refused(before, action="staff.assignment.grant", problem="staff-action-denied", actor=actor)
        before = state()
        with pytest.raises(StaffActionDenied):
            role_revoke(assignment_id=assignment.pk, actor=actor)
        assert_refused(before, action="staff.assignment.revoke", problem="staff-action-denied", actor=actor)

    @pytest.mark.parametrize(
        ("field", "error", "problem"),
        [
            ("user_id", StaffAccountNotFound, "staff-account-not-found"),
            ("role_id", RoleNotFound, "role-not-found"),
            ("department_id", DepartmentNotFound, "department-not-found"),
        ],
    )
    def test_unknown_ids_are_refused(self, secadmin, field, error, problem):
        officer = bare_staff("officer")
        department()
        arguments: dict[str, Any] = {
            "user_id": officer.pk,
            "role_id": police_role().pk,
            "department_id": department().pk,
        }
        arguments[field] = 2_000_000_000
        before = state()
        with pytest.raises(error):
            role_grant(**arguments, actor=secadmin)
        assert_refused(before, action="staff.assignment.grant", problem=problem, actor=secadmin)

    def test_unknown_assignment_is_refused(self, secadmin):
        before = state()
        with pytest.raises(RoleAssignmentNotFound):
            role_revoke(assignment_id=2_000_000_000, actor=secadmin)
        assert_refused(before, action="staff.assignment.revoke", problem="role-assignment-not-found", actor=secadmin)

    def test_roles_go_to_active_staff_only(self, secadmin, sysadmin):
        police_role()
        before = state()
        with pytest.raises(StaffAccountNotFound):
            role_grant(user_id=resident().pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
        officer = created_staff(sysadmin, "officer")
        staff_account_disable(user_id=officer.pk, actor=sysadmin)
        before = state()
        with pytest.raises(RoleGranteeInvalid):
            role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
        assert_refused(before, action="staff.assignment.grant", problem="role-grantee-invalid", actor=secadmin)

    def test_a_department_security_administrator_grants_only_there(self, secadmin):
        local = bare_staff("gaj.security", dept=department())
        local_role = role_define(name="部门安全管理员", duty=Duty.SECURITY, description="", city_wide=False,
                                 actor=SYSTEM, permissions=("staff.assign_role",))  # fmt: skip
        role_grant(user_id=local.pk, role_id=local_role.pk, department_id=department().pk, actor=secadmin)
        local = User.objects.get(pk=local.pk)
        officer = bare_staff("officer", dept=department())
        role_grant(user_id=officer.pk, role_id=police_role().pk, department_id=department().pk, actor=local)
        elsewhere = bare_staff("fwzx.officer", dept=other_department())
        before = state()
        with pytest.raises(StaffActionDenied):
            role_grant(user_id=elsewhere.pk, role_id=police_role().pk, department_id=other_department().pk,
                       actor=local)  # fmt: skip
        assert_refused(before, action="staff.assignment.grant", problem="staff-action-denied", actor=local)


class TestRoleDefinitions:
    def test_a_role_carries_only_its_own_duty_rights(self):
        before = state()
        with pytest.raises(RoleDefinitionInvalid) as caught:
            role_define(
                name="万能管理员", duty=Duty.SYSTEM, description="", city_wide=True, actor=SYSTEM,
                permissions=("staff.manage_staff_accounts", "staff.assign_role", "audit.view_auditrecord"),
            )  # fmt: skip
        assert [e["msg"] for e in caught.value.errors] == ["audit.view_auditrecord", "staff.assign_role"]
        assert not Group.objects.filter(name="万能管理员").exists()
        assert state()["audit"] == before["audit"] + 1

    def test_a_business_role_carries_no_administrator_right(self):
        with pytest.raises(RoleDefinitionInvalid):
            role_define(name="窗口", duty=Duty.BUSINESS, description="", city_wide=False, actor=SYSTEM,
                        permissions=("registries.view_person", "audit.view_auditrecord"))  # fmt: skip
        assert not Role.objects.exists()

    def test_unknown_permissions_are_refused(self):
        with pytest.raises(RoleDefinitionInvalid) as caught:
            role_define(name="窗口", duty=Duty.BUSINESS, description="", city_wide=False, actor=SYSTEM,
                        permissions=("registries.fly",))  # fmt: skip
        assert caught.value.errors == [{"loc": ["permissions"], "rule": "permission.exists", "msg": "registries.fly"}]
