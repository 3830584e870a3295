"""Every place that checks a person's password is the identity service, under its lockout and audit.

Django's `authenticate()` (the admin's login form, any library's password grant) checks nothing: the platform's
backend refuses. The source holds no other password check than the identity service's (and the client-secret
check of the OpenID Connect provider, which is a client's credential, not a person's).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory

from rongcheng.audit.models import AuditRecord
from rongcheng.identity.models import SignInGuard
from rongcheng.registries.tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "Rc-test-2017!"  # the factories' test password
SOURCE = Path(__file__).resolve().parents[2]
# Where a credential may be checked, and why.
CHECKS_ALLOWED = {
    "identity/services/sign_in.py": "the sign-in's first factor, counted by the lockout and audited",
    "identity/services/passwords.py": "the current password before a change, counted by the lockout and audited",
    "oidc/validators.py": "a client's secret (client authentication), not a person's password",
}
CHECKING_CALLS = {"check_password", "authenticate", "login"}


def _calls_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if name in CHECKING_CALLS and not (name == "login" and isinstance(function, ast.Attribute)):
                names.add(name)
    return names


def test_no_code_outside_the_identity_service_checks_a_password():
    found = {
        str(path.relative_to(SOURCE)): calls
        for path in SOURCE.rglob("*.py")
        if "tests" not in path.parts and (calls := _calls_in(path) - {"login"})
    }
    assert set(found) <= set(CHECKS_ALLOWED), found


def test_django_authenticate_checks_no_password_for_any_kind_of_account():
    resident, officer = factories.resident("linjuemin"), factories.staff("officer")
    request = RequestFactory().post("/admin/login/")
    for user in (resident, officer):
        assert authenticate(request, username=user.username, password=PASSWORD) is None
        assert authenticate(request, username=user.username, password="wrong") is None
    assert not Client().login(username="officer", password=PASSWORD)


def test_the_admin_login_form_is_the_identity_sign_in_with_its_lockout_and_audit():
    officer = factories.staff("officer")
    browser = Client()
    redirected = browser.post("/admin/login/?next=/admin/", {"username": "officer", "password": PASSWORD})
    assert redirected.status_code == 302
    assert redirected["Location"].startswith("/account/sign-in/?")
    assert "_auth_user_id" not in browser.session
    assert not AuditRecord.objects.filter(action="identity.sign_in").exists()
    # The page it leads to counts a wrong password and audits it.
    browser.post(redirected["Location"], {"username": "officer", "password": "wrong"})
    assert SignInGuard.objects.get(user=officer).failures == 1
    record = AuditRecord.objects.get(action="identity.sign_in")
    assert (record.outcome, record.detail["reason"]) == ("failure", "wrong_password")
    # A right password leaves a staff account waiting for its second factor, not signed in.
    browser.post(redirected["Location"], {"username": "officer", "password": PASSWORD})
    assert "_auth_user_id" not in browser.session
