"""The permission backend: rights come from active assignments, for their department, cached briefly."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rongcheng.accounts.models import User
from rongcheng.staff.models import Duty
from rongcheng.staff.permissions import (
    MANAGE_STAFF_ACCOUNTS,
    grants_invalidate,
    has_perm_in_department,
)
from rongcheng.staff.services import role_grant, role_revoke
from rongcheng.staff.tests.factories import (
    administrator,
    bare_staff,
    department,
    other_department,
    police_role,
    resident,
)

pytestmark = pytest.mark.django_db

VIEW = "registries.view_person"
CHANGE = "registries.change_person"


def fresh(user: User) -> User:
    """The account as the next request loads it (no per-object memo)."""
    return User.objects.get(pk=user.pk)


@pytest.fixture
def secadmin() -> User:
    return administrator(Duty.SECURITY, "secadmin")


@pytest.fixture
def police(secadmin) -> User:
    user = bare_staff("police", dept=department())
    role_grant(user_id=user.pk, role_id=police_role().pk, department_id=department().pk, actor=secadmin)
    return fresh(user)


def test_an_assignment_gives_its_roles_permissions_for_its_department(police):
    assert police.has_perm(VIEW)
    assert police.has_perm(CHANGE)
    assert not police.has_perm("registries.add_person")
    assert police.get_all_permissions() == {VIEW, CHANGE}
    assert has_perm_in_department(police, VIEW, department())
    assert has_perm_in_department(police, VIEW, department().pk)
    assert not has_perm_in_department(police, VIEW, other_department())
    assert not has_perm_in_department(police, VIEW, None)


def test_a_city_wide_assignment_counts_everywhere(secadmin):
    assert has_perm_in_department(secadmin, "staff.assign_role", None)
    assert has_perm_in_department(secadmin, "staff.assign_role", other_department())
    assert not has_perm_in_department(secadmin, MANAGE_STAFF_ACCOUNTS, other_department())


def test_revoking_takes_effect_at_once(police, secadmin):
    assert police.has_perm(VIEW)
    role_revoke(assignment_id=police.role_assignments.get().pk, actor=secadmin)
    police = fresh(police)
    assert not police.has_perm(VIEW)
    assert not has_perm_in_department(police, VIEW, department())


def test_membership_of_a_roles_group_alone_gives_nothing():
    """Added to the group behind the services' back (Django's admin): no assignment, no right."""
    user = bare_staff("sneaky")
    user.groups.add(police_role().group)
    user = fresh(user)
    assert not user.has_perm(VIEW)
    assert not has_perm_in_department(user, VIEW, department())


def test_legacy_groups_and_direct_permissions_count_in_the_own_department():
    legacy = Group.objects.create(name="旧角色")
    legacy.permissions.add(Permission.objects.get(codename="view_legalentity"))
    user = bare_staff("old", dept=department())
    user.groups.add(legacy)
    user.user_permissions.add(Permission.objects.get(codename="view_person"))
    user = fresh(user)
    assert user.get_all_permissions() == {"registries.view_legalentity", VIEW}
    assert has_perm_in_department(user, VIEW, department())
    assert not has_perm_in_department(user, VIEW, other_department())


def test_nobody_signed_out_disabled_or_resident_holds_anything(police):
    from django.contrib.auth.models import AnonymousUser

    assert not has_perm_in_department(AnonymousUser(), VIEW, department())
    assert not has_perm_in_department(None, VIEW, department())
    assert not has_perm_in_department(resident(), VIEW, department())
    police.is_active = False
    assert not police.has_perm(VIEW)
    assert not has_perm_in_department(police, VIEW, department())


def test_a_superuser_holds_everything():
    root = bare_staff("root", is_superuser=True)
    assert root.has_perm("audit.view_auditrecord")
    assert has_perm_in_department(root, MANAGE_STAFF_ACCOUNTS, other_department())


def test_grants_are_cached_and_dropped_on_change(police):
    police.has_perm(VIEW)  # loads and caches
    gaj = department().pk
    with CaptureQueriesContext(connection) as queries:
        assert fresh_without_query(police).has_perm(VIEW)
        assert has_perm_in_department(fresh_without_query(police), CHANGE, gaj)
    assert len(queries) == 0
    grants_invalidate(police.pk)
    with CaptureQueriesContext(connection) as queries:
        assert fresh_without_query(police).has_perm(VIEW)
    assert len(queries) == 1


def fresh_without_query(user: User) -> User:
    """A copy of the account without its per-object memo, as the next request would hold it."""
    copy = User(pk=user.pk, username=user.username, is_active=True, department_id=user.department_id)
    return copy


def test_checks_on_one_object_are_memoised(police):
    grants_invalidate(police.pk)
    police = fresh(police)
    gaj = department().pk
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            police.has_perm(VIEW)
            has_perm_in_department(police, VIEW, gaj)
    assert len(queries) == 1  # one load of the grants, then the memo
