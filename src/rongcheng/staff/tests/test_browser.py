"""The administrators' journey in a real browser: the system administrator creates an account and reads its initial
password once; the security administrator grants it a role in its department and is refused a second duty."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from rongcheng.accounts.models import User
from rongcheng.staff.models import Duty, RoleAssignment
from rongcheng.staff.tests.factories import PASSWORD, administrator, audit_role, department, police_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _totp(secret_base32: str) -> str:
    """RFC 6238 as an authenticator app computes it (staff sits below identity: no import of its code)."""
    secret = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    digest = hmac.new(secret, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def sign_in(page, base: str, username: str) -> None:
    """Password, then the staff second factor: an authenticator enrolled from the QR page at the first sign-in."""
    page.goto(base + "/account/sign-in/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/account/totp/")
    uri = page.locator("code.otpauth").inner_text()
    page.get_by_label("动态口令").fill(_totp(parse_qs(urlsplit(uri).query)["secret"][0]))
    page.get_by_role("button", name="确认绑定").click()
    page.wait_for_url(base + "/")


def test_create_an_account_then_grant_it_a_role(page, live_server):
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    administrator(Duty.SYSTEM, "sysadmin")
    secadmin = administrator(Duty.SECURITY, "secadmin")
    police_role(), audit_role(), department()
    base = live_server.url

    sign_in(page, base, "sysadmin")
    page.get_by_role("link", name="工作人员管理").click()
    page.get_by_role("link", name="新建工作人员账号").click()
    page.get_by_label("用户名").fill("lin.gong")
    page.get_by_label("姓名").fill("林工")
    page.get_by_label("部门").select_option(label="福州市公安局")
    page.get_by_role("button", name="创建账号").click()
    expect(page.locator("h1")).to_have_text("账号已创建")
    password = page.locator("#initial-password").inner_text()
    created = User.objects.get(username="lin.gong")
    assert created.check_password(password)
    assert created.must_change_password is True
    page.get_by_role("button", name="退出").click()

    sign_in(page, base, "secadmin")
    page.goto(base + f"/staff/{created.pk}/")
    page.get_by_label("角色").select_option(label="户籍民警")
    page.get_by_label("部门").select_option(label="福州市公安局")
    page.get_by_role("button", name="授予").click()
    expect(page.get_by_text("已授予角色。")).to_be_visible()
    assignment = RoleAssignment.objects.get(user=created)
    assert (assignment.role.name, assignment.department, assignment.granted_by) == ("户籍民警", department(), secadmin)

    sysadmin = User.objects.get(username="sysadmin")
    page.goto(base + f"/staff/{sysadmin.pk}/")
    page.get_by_label("角色").select_option(label="审计管理员")
    page.get_by_role("button", name="授予").click()
    expect(page.get_by_text("The account holds the system duty; it cannot also hold the audit duty.")).to_be_visible()
    assert RoleAssignment.objects.filter(user=sysadmin).count() == 1
    page.get_by_role("link", name="三员分立").first.click()
    expect(page.locator("#violations")).to_have_text("没有发现违反职责分离的情况。")
    assert console_errors == []
