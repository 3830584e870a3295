"""The identity pages through Django's test client: the sign-in contract, second factors, forced password change,
idle timeout, sessions, step-up, counter verification, representations; an authorization matrix and hostile input."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from rongcheng.accounts.models import AssuranceLevel, User
from rongcheng.audit.models import AuditRecord
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.models import AccountSession, InPersonVerification, Representation, TotpDevice
from rongcheng.identity.permissions import assurance_required
from rongcheng.identity.sms import outbox_read
from rongcheng.identity.tests.factories import (
    PASSWORD,
    _clear_id_number,
    current_code,
    last_code,
    resident,
    staff,
    verified_resident,
)
from rongcheng.registries.tests.factories import make_entity, make_id_number, make_person

pytestmark = pytest.mark.django_db

SIGN_IN = "/account/sign-in/"


def sign_in(client: Client, username: str, password: str = PASSWORD, next_url: str = "/account/") -> Any:
    return client.post(SIGN_IN, {"username": username, "password": password, "next": next_url})


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def _state() -> tuple[int, int, int, list[tuple[int, int, str]]]:
    return (
        AuditRecord.objects.count(),
        AccountSession.objects.count(),
        Representation.objects.count(),
        list(User.objects.order_by("pk").values_list("pk", "assurance_level", "id_number_index")),
    )


# --- the sign-in contract ----------------------------------------------------------------------------------------


def test_sign_in_page_has_the_contracted_form(client):
    response = client.get(SIGN_IN + "?next=/account/")
    html = response.content.decode()
    assert response.status_code == 200
    for snippet in ('name="username"', 'id="id_username"', 'name="password"', 'id="id_password"',
                    'type="submit"', 'name="next" value="/account/"'):  # fmt: skip
        assert snippet in html
    assert reverse("identity:sign-in") == SIGN_IN


def test_a_resident_signs_in_with_a_password_and_goes_to_next(client):
    user = resident()
    response = sign_in(client, "resident", next_url="/registries/me/reads/")
    assert (response.status_code, response["Location"]) == (302, "/registries/me/reads/")
    assert client.session[SESSION_KEY] == str(user.pk)
    record = AccountSession.objects.get()
    assert (record.user, record.method, record.source_address, record.session_key) == (
        user, "password", "127.0.0.1", client.session.session_key
    )  # fmt: skip


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "http://testserver@evil.example/"]
)
def test_an_unsafe_next_goes_home(client, next_url):
    resident()
    response = sign_in(client, "resident", next_url=next_url)
    assert response["Location"] == "/"


def test_a_wrong_password_is_refused_on_the_form(client):
    resident()
    response = sign_in(client, "resident", password="wrong")
    assert response.status_code == 200
    assert "用户名、密码或验证码不正确" in response.content.decode()
    assert not signed_in(client)
    assert AccountSession.objects.count() == 0


def test_a_locked_account_is_answered_as_an_unknown_username(client, settings):
    """The lock is still counted and audited, but the page does not tell it from a username that does not exist."""
    settings.IDENTITY_LOCKOUT_THRESHOLD = 2
    resident()
    unknown = sign_in(client, "nobody-of-that-name", password="wrong")
    for _ in range(2):
        sign_in(client, "resident", password="wrong")
    locked = sign_in(client, "resident", password=PASSWORD)
    refusal = re.compile(r'<div class="[^"]*error[^"]*"[^>]*>.*?</div>', re.S)
    assert (locked.status_code, refusal.findall(locked.content.decode())) == (
        unknown.status_code, refusal.findall(unknown.content.decode()),
    )  # fmt: skip
    assert "锁定" not in locked.content.decode()
    assert not signed_in(client)
    assert AuditRecord.objects.filter(action="identity.lockout", outcome="denied").count() == 1
    assert [r.detail["reason"] for r in AuditRecord.objects.filter(action="identity.sign_in").order_by("pk")] == [
        "unknown_account", "wrong_password", "wrong_password", "locked",
    ]  # fmt: skip


def test_staff_must_give_a_totp_code_after_the_password(client):
    user, secret = staff()
    response = sign_in(client, "officer", next_url="/admin/")
    assert response["Location"] == reverse("identity:sign-in-totp")
    assert not signed_in(client)
    assert client.get("/account/").status_code == 302  # not signed in between the factors

    wrong = client.post(reverse("identity:sign-in-totp"), {"code": "000000"})
    assert wrong.status_code == 200
    assert not signed_in(client)
    response = client.post(reverse("identity:sign-in-totp"), {"code": current_code(secret)})
    assert response["Location"] == "/admin/"
    assert client.session[SESSION_KEY] == str(user.pk)
    assert AccountSession.objects.get().method == "password+totp"


def test_the_pending_first_factor_expires(client):
    _user, secret = staff()
    sign_in(client, "officer")
    clock.advance(dt.timedelta(minutes=5, seconds=1))
    response = client.post(reverse("identity:sign-in-totp"), {"code": current_code(secret)})
    assert response["Location"] == SIGN_IN
    assert not signed_in(client)


def test_staff_without_an_authenticator_enrol_before_the_sign_in_completes(client):
    user, _ = staff(with_totp=False)
    response = sign_in(client, "officer")
    assert response["Location"] == reverse("identity:totp-enrol")
    page = client.get(reverse("identity:totp-enrol")).content.decode()
    assert 'src="data:image/svg+xml' in page
    assert "otpauth://totp/" in page
    secret = totp.secret_from_base32(page.split("secret=")[1].split("&")[0])
    response = client.post(reverse("identity:totp-enrol"), {"code": totp.totp(secret, clock.now())})
    assert response["Location"] == "/account/"
    assert client.session[SESSION_KEY] == str(user.pk)
    assert TotpDevice.objects.get(user=user).confirmed_at == clock.now()


def test_a_resident_who_chose_a_second_factor_is_asked_for_it(client):
    user = resident()
    client.force_login(user)
    page = client.get(reverse("identity:totp-enrol")).content.decode()
    secret = totp.secret_from_base32(page.split("secret=")[1].split("&")[0])
    client.post(reverse("identity:totp-enrol"), {"code": totp.totp(secret, clock.now())})
    other = Client()
    assert sign_in(other, "resident")["Location"] == reverse("identity:sign-in-totp")
    clock.advance(dt.timedelta(seconds=30))
    assert other.post(reverse("identity:sign-in-totp"), {"code": totp.totp(secret, clock.now())}).status_code == 302
    assert signed_in(other)


def test_sign_out_ends_the_session_and_is_post_only(client):
    resident()
    sign_in(client, "resident")
    assert client.get(reverse("identity:sign-out")).status_code == 405
    assert client.post(reverse("identity:sign-out"))["Location"] == "/"
    assert not signed_in(client)
    assert AccountSession.objects.get().end_reason == "signed_out"
    assert AuditRecord.objects.filter(action="identity.sign_out").count() == 1


# --- SMS sign-in -------------------------------------------------------------------------------------------------


def test_sms_sign_in_page(client):
    user, _ = verified_resident()
    response = client.post(reverse("identity:sign-in-sms"), {"action": "send", "phone": "13812345678"})
    page = response.content.decode()
    assert "如该号码已绑定账户，验证码已发送" in page
    assert page.count('name="phone"') == 1  # asked once, for both buttons
    assert 'value="13812345678"' in page
    assert client.get(reverse("identity:sign-in-sms")).content.decode().count('name="phone"') == 1
    response = client.post(
        reverse("identity:sign-in-sms"),
        {"action": "verify", "phone": "13812345678", "code": last_code(), "next": "/account/"},
    )
    assert response["Location"] == "/account/"
    assert client.session[SESSION_KEY] == str(user.pk)


def test_sms_sign_in_answers_do_not_tell_which_numbers_have_accounts(client):
    """Wrong codes, too many of them, then an expired one: a number with an account and one without hear the same."""
    verified_resident()  # 13812345678 has an account; 13900000000 has none

    def answers(phone: str) -> list[dict[str, list[str]]]:
        sent = client.post(reverse("identity:sign-in-sms"), {"action": "send", "phone": phone})
        heard = [dict(sent.context["phone_form"].errors)]
        codes = [m["text"] for m in outbox_read() if m["phone"] == phone]
        wrong = "000000" if not codes or "000000" not in codes[-1] else "111111"
        for _ in range(6):
            verify = client.post(reverse("identity:sign-in-sms"), {"action": "verify", "phone": phone, "code": wrong})
            heard.append(dict(verify.context["form"].errors))
        return heard

    known, unknown = answers("13812345678"), answers("13900000000")
    assert unknown == known
    assert known[1] == {"code": ["验证码不正确。"]}
    assert known[-1] == {"code": ["验证码错误次数过多，请重新获取。"]}
    assert [m["phone"] for m in outbox_read() if m["phone"] == "13900000000"] == []


# --- session policy ----------------------------------------------------------------------------------------------


def test_an_initial_password_must_be_changed_before_anything_else(client):
    _user, secret = staff(must_change_password=True)
    sign_in(client, "officer", next_url="/admin/")
    client.post(reverse("identity:sign-in-totp"), {"code": current_code(secret)})
    response = client.get("/admin/")
    assert response["Location"] == "/account/password/?next=%2Fadmin%2F"
    api = client.get("/api/v1/identity/me")
    assert (api.status_code, api.json()["type"].rsplit("/", 1)[1]) == (403, "password-change-required")
    weak = client.post("/account/password/?next=/admin/", {"current_password": PASSWORD, "new_password": "weak",
                                                           "new_password_again": "weak"})  # fmt: skip
    assert weak.status_code == 200
    response = client.post("/account/password/?next=/admin/", {"current_password": PASSWORD,
                           "new_password": "Fz-Gulou-2017", "new_password_again": "Fz-Gulou-2017"})  # fmt: skip
    assert response["Location"] == "/admin/"
    assert signed_in(client)  # the session survives its own password change
    assert client.get("/admin/").status_code == 200
    assert AccountSession.objects.get().session_key == client.session.session_key


def test_an_idle_session_ends_on_the_server(client):
    resident()
    sign_in(client, "resident")
    clock.advance(dt.timedelta(minutes=29))
    assert client.get("/account/").status_code == 200
    clock.advance(dt.timedelta(minutes=30, seconds=1))
    response = client.get("/account/")
    assert response["Location"] == f"{SIGN_IN}?next=%2Faccount%2F"
    assert not signed_in(client)
    record = AccountSession.objects.get()
    assert (record.end_reason, record.ended_at) == ("idle", clock.now())
    assert AuditRecord.objects.filter(action="identity.session.end").get().detail["reason"] == "idle"


def test_page_views_within_a_minute_write_no_session_and_activity_is_noted_once_a_minute(client):
    """Issue 13: every page view of a signed-in account saved its session (one transaction each). Activity is now
    noted at most once a minute: views within it write nothing, the next one after it renews the session and its
    record, and the idle timeout still counts from the noted activity."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def session_writes() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/account/").status_code == 200
        return sum(1 for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))
                   and ("django_session" in q["sql"] or "identity_accountsession" in q["sql"]))  # fmt: skip

    resident()
    sign_in(client, "resident")
    clock.advance(dt.timedelta(seconds=59))
    assert [session_writes() for _ in range(3)] == [0, 0, 0]
    clock.advance(dt.timedelta(seconds=2))
    assert session_writes() == 2  # the session row and the account session's last-seen
    assert AccountSession.objects.get().last_seen_at == clock.now()
    assert session_writes() == 0
    clock.advance(dt.timedelta(minutes=30, seconds=1))
    assert client.get("/account/")["Location"] == f"{SIGN_IN}?next=%2Faccount%2F"


def test_a_session_whose_browser_never_returns_is_ended_with_its_record(client):
    """The cookie's max-age is the idle timeout: the browser drops it and never sends the request that would end
    the session. The periodic sweep ends it, as of its last activity plus the timeout, and records the end."""
    from django.core.management import call_command

    resident()
    sign_in(client, "resident")
    quiet = AccountSession.objects.get()
    active = Client()
    sign_in(active, "resident")
    clock.advance(dt.timedelta(minutes=20))
    assert active.get("/account/").status_code == 200
    clock.advance(dt.timedelta(minutes=12))
    out = io.StringIO()
    call_command("identity_sessions_sweep", stdout=out)
    assert out.getvalue() == "ended 1\n"
    quiet.refresh_from_db()
    assert (quiet.end_reason, quiet.ended_at) == ("idle", quiet.last_seen_at + dt.timedelta(minutes=30))
    (end,) = AuditRecord.objects.filter(action="identity.session.end")
    assert (end.actor_kind, end.target_id, end.detail) == ("system", str(quiet.user_id),
                                                           {"session": quiet.pk, "reason": "idle"})  # fmt: skip
    assert not signed_in(client)
    assert signed_in(active)
    call_command("identity_sessions_sweep", stdout=io.StringIO())
    assert AuditRecord.objects.filter(action="identity.session.end").count() == 1


def test_idle_timeout_comes_from_settings_and_applies_to_the_api(client, settings):
    settings.IDENTITY_IDLE_TIMEOUT_SECONDS = 60
    resident()
    sign_in(client, "resident")
    clock.advance(dt.timedelta(seconds=61))
    response = client.get("/api/v1/identity/me")
    assert (response.status_code, response["Content-Type"]) == (401, "application/problem+json")


def test_a_resident_ends_another_session_and_it_is_really_gone():
    resident()
    laptop, phone = Client(HTTP_USER_AGENT="laptop"), Client(HTTP_USER_AGENT="phone")
    sign_in(laptop, "resident")
    sign_in(phone, "resident")
    page = laptop.get("/account/").content.decode()
    assert page.count('data-session="') == 2
    other = AccountSession.objects.get(user_agent="phone")
    response = laptop.post(reverse("identity:session-end", args=[other.pk]))
    assert response["Location"] == "/account/"
    assert phone.get("/account/")["Location"].startswith(SIGN_IN)
    assert not signed_in(phone)
    assert laptop.get("/account/").status_code == 200
    other.refresh_from_db()
    assert other.end_reason == "ended_by_user"


def test_ending_someone_elses_session_changes_nothing():
    resident("ann")
    resident("bob", phone="13900000001")
    a, b = Client(), Client()
    sign_in(a, "ann")
    sign_in(b, "bob")
    theirs = AccountSession.objects.get(user__username="bob")
    before = _state()
    a.post(reverse("identity:session-end", args=[theirs.pk]))
    assert _state() == before
    assert b.get("/account/").status_code == 200


# --- registration, account, step-up ------------------------------------------------------------------------------


def test_registration_page_creates_an_l1_account_and_signs_in(client):
    id_number = make_id_number()
    response = client.post(reverse("identity:register"), {"username": "newcomer", "password": "Fz-Gulou-2017",
                           "name": "陈宝琛", "id_number": id_number, "phone": "13700001111"})  # fmt: skip
    assert response["Location"] == "/account/"
    page = client.get("/account/").content.decode()
    assert id_number not in page
    assert id_number[:6] + "********" + id_number[14:] in page
    assert 'href="/oidc/authorized-clients/"' in page
    assert "已授权的应用" in page


def test_registration_errors_are_shown_on_the_fields(client):
    response = client.post(reverse("identity:register"), {"username": "x", "password": "weak", "name": "陈宝琛",
                           "id_number": "350102198503120019", "phone": "1"})  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert "身份证号码校验位不正确" in html
    assert "请输入11位手机号码" in html
    assert User.objects.count() == 0


def test_step_up_page_raises_to_l2_and_returns_to_next(client):
    person = make_person(id_number=make_id_number(), name="林则徐", phone="13812345678")
    user = resident()
    client.force_login(user)
    page = client.get("/account/step-up/?level=2&next=/hall/")
    assert page.status_code == 200
    response = client.post("/account/step-up/?level=2&next=/hall/", {"name": "林则徐", "level": "2", "next": "/hall/",
                           "id_number": _clear_id_number(person), "phone": "13812345678"})  # fmt: skip
    assert response["Location"] == "/account/step-up/confirm/?next=%2Fhall%2F"
    response = client.post(response["Location"], {"code": last_code(), "next": "/hall/"})
    assert response["Location"] == "/hall/"
    user.refresh_from_db()
    assert (user.assurance_level, user.id_number_index) == (2, person.id_number_index)


def test_step_up_mismatch_is_shown_and_changes_nothing(client):
    make_person(id_number=(id_number := make_id_number()), name="林则徐", phone="13812345678")
    client.force_login(resident())
    before = _state()
    response = client.post("/account/step-up/?level=2", {"name": "林徐", "level": "2", "id_number": id_number,
                                                         "phone": "13812345678"})  # fmt: skip
    assert "与人口库不一致" in response.content.decode()
    assert _state()[1:] == before[1:]


def _page(request):
    return HttpResponse("ok")


@pytest.mark.parametrize(
    ("level", "user_level", "path", "expected"),
    [
        (2, None, "/hall/apply/", (302, "/account/sign-in/?next=%2Fhall%2Fapply%2F")),
        (2, 1, "/hall/apply/", (302, "/account/step-up/?level=2&next=%2Fhall%2Fapply%2F")),
        (2, 2, "/hall/apply/", (200, None)),
        (3, 2, "/hall/apply/", (302, "/account/step-up/?level=3&next=%2Fhall%2Fapply%2F")),
        (2, 1, "/api/v1/hall/x", (403, "assurance-level-too-low")),
        (2, None, "/api/v1/hall/x", (401, "unauthenticated")),
    ],
)
def test_assurance_required(level, user_level, path, expected):
    from django.contrib.auth.models import AnonymousUser

    from rongcheng.kernel.errors import DomainError

    request = RequestFactory().get(path)
    if user_level is None:
        request.user = AnonymousUser()
    else:
        request.user = resident()
        request.user.assurance_level = AssuranceLevel(user_level)
    view = assurance_required(level)(_page)
    if path.startswith("/api/"):
        with pytest.raises(DomainError) as refused:
            view(request)
        assert (refused.value.status, refused.value.type_slug) == expected
        return
    response = view(request)
    assert (response.status_code, response.get("Location")) == expected


# --- authorization matrix ----------------------------------------------------------------------------------------


@pytest.fixture
def accounts():
    clerk, _ = staff("clerk", perms=("verify_in_person",))
    officer, _ = staff("officer")
    return {"anonymous": None, "resident": resident(), "officer": officer, "clerk": clerk}


PAGES = [
    # (url name, method, resident, officer without the permission, officer with it); anonymous always -> sign-in
    ("identity:account", "get", 200, 200, 200),
    ("identity:password-change", "get", 200, 200, 200),
    ("identity:step-up", "get", 200, 200, 200),
    ("identity:step-up-confirm", "get", 200, 200, 200),
    ("identity:totp-enrol", "get", 200, 302, 302),
    ("identity:counter", "get", 403, 403, 200),
    ("identity:counter", "post", 403, 403, 200),
    ("identity:representation-claim", "post", 302, 403, 403),
    ("identity:representation-delegate", "post", 302, 403, 403),
]


@pytest.mark.parametrize(("name", "method", "as_resident", "as_officer", "as_clerk"), PAGES)
@pytest.mark.parametrize("who", ["anonymous", "resident", "officer", "clerk"])
def test_page_authorization_matrix(client, accounts, who, name, method, as_resident, as_officer, as_clerk):
    user = accounts[who]
    if user is not None:
        client.force_login(user)
    url = reverse(name)
    before = _state()
    response = getattr(client, method)(url, {})
    if user is None:
        assert (response.status_code, response["Location"]) == (302, f"{SIGN_IN}?next={url}")
    else:
        expected = {"resident": as_resident, "officer": as_officer, "clerk": as_clerk}[who]
        assert response.status_code == expected
    if method == "post" and user is None:
        assert _state() == before
    if response.status_code == 403:  # nothing changed but the one record of the refusal (issue 20, item 3)
        after = _state()
        assert (after[0], after[1:]) == (before[0] + 1, before[1:])
        assert AuditRecord.objects.latest("id").outcome == "denied"


def test_the_counter_page_records_an_l3_verification(client, accounts):
    person = make_person(id_number=make_id_number())
    client.force_login(accounts["clerk"])
    response = client.post(reverse("identity:counter"), {"username": "resident",
                           "id_number": _clear_id_number(person), "window": "3号窗口"})  # fmt: skip
    assert response["Location"] == reverse("identity:counter")
    record = InPersonVerification.objects.get()
    assert (record.user.assurance_level, record.verified_by, record.window) == (3, accounts["clerk"], "3号窗口")


def test_representation_pages(client):
    boss, person = verified_resident("boss")
    entity = make_entity(legal_representative_id=person.pk, name="福州闽江贸易有限公司")
    client.force_login(boss)
    client.post(reverse("identity:representation-claim"), {"credit_code": entity.credit_code})
    page = client.get("/account/").content.decode()
    assert "福州闽江贸易有限公司" in page
    claimed = Representation.objects.get()
    client.post(reverse("identity:representation-revoke", args=[claimed.pk]))
    claimed.refresh_from_db()
    assert claimed.revoked_by == boss


# --- hostile input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"username": "x" * 10_000, "password": "y"},
        {"username": "' OR 1=1 --", "password": "' OR 1=1 --"},
        {"username": "resident\x00", "password": PASSWORD},
        {"username": "<script>alert(1)</script>", "password": "x"},
        {"username": ["a", "b"], "password": PASSWORD},
        {},
    ],
)
def test_hostile_sign_in_input_is_refused_without_error(client, data):
    resident()
    response = client.post(SIGN_IN, data)
    assert response.status_code == (400 if "\x00" in str(data.get("username", "")) else 200)  # NUL: refused at the edge
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert not signed_in(client)


@pytest.mark.parametrize("code", ["", "abcdef", "1" * 5000, "<b>1</b>", "１２３４５６", "-1"])
def test_hostile_codes_are_refused(client, code):
    _user, _secret = staff()
    sign_in(client, "officer")
    response = client.post(reverse("identity:sign-in-totp"), {"code": code})
    assert response.status_code == 200
    assert not signed_in(client)


def test_session_end_of_a_missing_id_changes_nothing(client):
    client.force_login(resident())
    before = _state()
    client.post("/account/sessions/999999/end/")
    assert _state() == before


def test_the_admin_login_sends_people_to_this_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    follow = client.get(response["Location"])
    assert follow["Location"] == f"{SIGN_IN}?next=%2Fadmin%2F"
    assert client.get("/admin/login/?next=https://evil.example/")["Location"] == f"{SIGN_IN}?next=%2F"


def test_the_admin_logout_ends_the_session_record(client):
    _user, secret = staff(is_superuser=True)
    sign_in(client, "officer")
    client.post(reverse("identity:sign-in-totp"), {"code": current_code(secret)})
    client.post("/admin/logout/")
    assert not signed_in(client)
    assert AccountSession.objects.get().end_reason == "signed_out"


def test_admin_lists_identity_state_and_lifts_a_lock_through_the_service(client):
    admin_user, _ = staff("root", is_superuser=True)
    locked, _ = staff("locked")
    from rongcheng.identity.models import SignInGuard

    guard = SignInGuard.objects.create(user=locked, failures=5, locked_until=clock.now() + dt.timedelta(minutes=30))
    client.force_login(admin_user)
    for model in ("signinguard", "accountsession"):
        assert client.get(f"/admin/identity/{model}/").status_code == 200
    for model in ("inpersonverification", "representation"):  # personal data: not in the admin (config.adminsite)
        assert client.get(f"/admin/identity/{model}/").status_code == 404
    response = client.post("/admin/identity/signinguard/", {"action": "release", "_selected_action": [guard.pk]})
    assert response.status_code == 302
    guard.refresh_from_db()
    assert (guard.failures, guard.locked_until) == (0, None)
    assert AuditRecord.objects.filter(action="identity.lockout.release").count() == 1


def test_account_page_query_count(client, django_assert_max_num_queries):
    verified_resident()
    for _ in range(5):
        sign_in(Client(), "resident")
    sign_in(client, "resident")
    with django_assert_max_num_queries(12):
        assert client.get("/account/").status_code == 200
