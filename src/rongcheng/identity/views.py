"""Identity pages: sign-in (password, SMS code, TOTP step), sign-out, registration, step-up, password change, the
account page with sessions and representations, and the counter verification page for staff.

The pages parse input and call the services; a domain error comes back as a form error. Between the first and the
second factor the session holds only a pending sign-in (account id, time, destination), never a signed-in user.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.accounts.models import AccountKind, User
from rongcheng.identity import forms, policy
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    AccountLocked,
    CodeRateLimited,
    PersonAlreadyBound,
    RealNameMismatch,
    SignInRefused,
    TotpAlreadyEnrolled,
)
from rongcheng.identity.permissions import may_verify_in_person
from rongcheng.identity.selectors import account_summary, representation_list_for_user, session_list_for_user
from rongcheng.identity.services import (
    PENDING,
    SESSION_RECORD,
    in_person_verify,
    password_change,
    password_change_reason,
    password_sign_in,
    representation_claim,
    representation_delegate,
    representation_revoke,
    resident_register,
    second_factor_for,
    session_end,
    sign_in_code_send,
    sms_sign_in,
    step_up_confirm,
    step_up_start,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_sign_in,
    totp_uri,
)
from rongcheng.identity.web import session_key_changed, sign_in_complete, sign_out
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.ratelimit import rate_limit_request, rate_limited

RULE_MESSAGES = {
    "code.wrong": gettext_lazy("验证码不正确。"),
    "code.used": gettext_lazy("验证码已使用，请重新获取。"),
    "code.expired": gettext_lazy("验证码已过期，请重新获取。"),
    "code.attempts_exhausted": gettext_lazy("验证码错误次数过多，请重新获取。"),
    "code.no_code": gettext_lazy("请先获取验证码。"),
    "phone.format": gettext_lazy("请输入11位手机号码。"),
    "name.format": gettext_lazy("请输入2至50个字的姓名。"),
    "username.format": gettext_lazy("用户名为3至150个字母、数字或 @.+-_ 字符。"),
    "username.taken": gettext_lazy("该用户名已被使用。"),
    "password.current": gettext_lazy("当前密码不正确。"),
    "password.unchanged": gettext_lazy("新密码不能与当前密码相同。"),
    "id_number.length": gettext_lazy("身份证号码应为18位。"),
    "id_number.charset": gettext_lazy("身份证号码前17位应为数字，最后一位为数字或X。"),
    "id_number.birth_date": gettext_lazy("身份证号码中的出生日期无效。"),
    "id_number.division": gettext_lazy("身份证号码中的行政区划代码无效。"),
    "id_number.checksum": gettext_lazy("身份证号码校验位不正确。"),
    "window.required": gettext_lazy("请填写窗口。"),
}


def _form_error(form: Any, exc: DomainError) -> None:
    if isinstance(exc, SignInRefused | AccountLocked):
        # A lock is not told apart from a wrong password: otherwise the answer shows which usernames exist.
        form.add_error(None, _("用户名、密码或验证码不正确。"))
    elif isinstance(exc, CodeRateLimited):
        form.add_error(None, _("验证码发送过于频繁，请稍后再试。"))
    elif isinstance(exc, RealNameMismatch):
        form.add_error(None, _("姓名、身份证号码和手机号码与人口库不一致。"))
    elif isinstance(exc, PersonAlreadyBound):
        form.add_error(None, _("该身份已绑定其他账户。"))
    elif exc.errors:
        for error in exc.errors:
            loc = [str(part) for part in error.get("loc", [])]
            field = loc[-1] if loc and loc[-1] in form.fields else None
            rule = str(error.get("rule", ""))
            message = RULE_MESSAGES.get(rule)
            form.add_error(field, str(message) if message else str(error.get("msg", exc.detail)))
    else:
        form.add_error(None, exc.detail)


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _next_of(request: HttpRequest) -> str:
    return _safe_next(request, request.POST.get("next") or request.GET.get("next"))


# --- sign-in ---------------------------------------------------------------------------------------------------------


def _pending_set(request: HttpRequest, user: User, method: str, next_url: str) -> None:
    request.session[PENDING] = {"user": user.pk, "at": clock.now().timestamp(), "method": method, "next": next_url}


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    if clock.now().timestamp() - float(pending.get("at", 0)) > policy.pending_sign_in_lifetime().total_seconds():
        request.session.pop(PENDING, None)
        return None
    user = User.objects.filter(pk=int(pending.get("user") or 0), is_active=True).first()
    return (user, pending) if user is not None else None


def _after_first_factor(request: HttpRequest, user: User, method: str, next_url: str) -> HttpResponse:
    factor = second_factor_for(user)
    if factor is None:
        sign_in_complete(request, user=user, method=method)
        return HttpResponseRedirect(next_url)
    _pending_set(request, user, method, next_url)
    if factor == "totp_enrol":
        return HttpResponseRedirect(reverse("identity:totp-enrol"))
    return HttpResponseRedirect(reverse("identity:sign-in-totp"))


@require_http_methods(["GET", "POST"])
@rate_limited("identity.sign_in")
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = _next_of(request)
    form = forms.SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = password_sign_in(
                username=form.cleaned_data["username"], password=form.cleaned_data["password"],
            )  # fmt: skip
        except DomainError as exc:
            _form_error(form, exc)
        else:
            return _after_first_factor(request, user, "password", next_url)
    return render(request, "identity/sign_in.html", {"form": form, "next": next_url})


def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """The admin site's own login would skip the second factor: it sends people to this sign-in instead."""
    next_url = _next_of(request) if request.GET.get("next") else reverse("admin:index")
    return HttpResponseRedirect(f"{reverse('identity:sign-in')}?{urlencode({'next': next_url})}")


@require_http_methods(["GET", "POST"])
def sign_in_sms(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        rate_limit_request("identity.sms" if request.POST.get("action") == "send" else "identity.sign_in", request)
    next_url = _next_of(request)
    # One phone field serves both buttons: "send" checks it alone, "verify" with the code.
    phone_form = forms.PhoneForm(
        request.POST if request.POST.get("action") == "send" else None,
        initial={"phone": str(request.POST.get("phone", ""))[:20]},
    )
    form = forms.SmsSignInForm(request.POST if request.POST.get("action") == "verify" else None)
    sent = False
    if request.method == "POST" and request.POST.get("action") == "send" and phone_form.is_valid():
        try:
            sign_in_code_send(phone=phone_form.cleaned_data["phone"])
            sent = True
            form = forms.SmsSignInForm(initial={"phone": phone_form.cleaned_data["phone"]})
        except DomainError as exc:
            _form_error(phone_form, exc)
    elif request.method == "POST" and form.is_valid():
        try:
            user = sms_sign_in(phone=form.cleaned_data["phone"], code=form.cleaned_data["code"])
        except DomainError as exc:
            _form_error(form, exc)
        else:
            return _after_first_factor(request, user, "sms", next_url)
    return render(
        request, "identity/sign_in_sms.html", {"phone_form": phone_form, "form": form, "sent": sent, "next": next_url}
    )


@require_http_methods(["GET", "POST"])
@rate_limited("identity.sign_in")
def sign_in_totp(request: HttpRequest) -> HttpResponse:
    pending = _pending_user(request)
    if pending is None:
        return HttpResponseRedirect(reverse("identity:sign-in"))
    user, state = pending
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            totp_sign_in(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            if isinstance(exc, AccountLocked):  # the password was right: telling the lock reveals nothing new
                request.session.pop(PENDING, None)
                form.add_error(None, _("登录失败次数过多，账户已暂时锁定，请稍后再试。"))
            else:
                _form_error(form, exc)
        else:
            request.session.pop(PENDING, None)
            sign_in_complete(request, user=user, method=f"{state.get('method', 'password')}+totp")
            return HttpResponseRedirect(_safe_next(request, str(state.get("next", ""))))
    return render(request, "identity/sign_in_totp.html", {"form": form})


def _qr_data_uri(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


@require_http_methods(["GET", "POST"])
def totp_enrol(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator: staff at their first sign-in (between the factors), residents from the account page."""
    pending = None if request.user.is_authenticated else _pending_user(request)
    if isinstance(request.user, User) and request.user.is_authenticated:
        user: User = request.user
    elif pending is not None:
        user = pending[0]
    else:
        return redirect_to_login(request.get_full_path())
    try:
        _device, secret = totp_enrol_start(user=user)
    except TotpAlreadyEnrolled:
        messages.info(request, _("已绑定身份验证器。"))
        return HttpResponseRedirect(reverse("identity:account"))
    uri = totp_uri(user, secret)
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            totp_enrol_confirm(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            _form_error(form, exc)
        else:
            if pending is not None:
                request.session.pop(PENDING, None)
                sign_in_complete(request, user=user, method=f"{pending[1].get('method', 'password')}+totp")
                return HttpResponseRedirect(_safe_next(request, str(pending[1].get("next", ""))))
            messages.success(request, _("身份验证器已绑定。"))
            return HttpResponseRedirect(reverse("identity:account"))
    return render(request, "identity/totp_enrol.html", {"form": form, "uri": uri, "qr": _qr_data_uri(uri)})


@require_POST
def sign_out_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        sign_out(request)
    return HttpResponseRedirect(reverse(settings.LOGOUT_REDIRECT_URL))


@require_http_methods(["GET", "POST"])
@rate_limited("identity.register")
def register(request: HttpRequest) -> HttpResponse:
    form = forms.RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = resident_register(**form.cleaned_data)
        except DomainError as exc:
            _form_error(form, exc)
        else:
            sign_in_complete(request, user=user, method="register")
            messages.success(request, _("注册成功。完成实名核验可办理更多事项。"))
            return HttpResponseRedirect(reverse("identity:account"))
    return render(request, "identity/register.html", {"form": form})


# --- account ---------------------------------------------------------------------------------------------------------


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  # login_required
    return render(
        request, "identity/account.html",
        {"summary": account_summary(user=user), "sessions": session_list_for_user(user=user),
         "current_session": request.session.get(SESSION_RECORD),
         "representations": representation_list_for_user(user=user),
         "claim_form": forms.ClaimForm(auto_id="claim_%s"),
         "delegate_form": forms.DelegateForm(auto_id="delegate_%s")},
    )  # fmt: skip


@login_required
@require_POST
def session_end_view(request: HttpRequest, session_id: int) -> HttpResponse:
    assert isinstance(request.user, User)  # noqa: S101  # login_required
    if session_id == request.session.get(SESSION_RECORD):
        sign_out(request)
        return HttpResponseRedirect(reverse(settings.LOGOUT_REDIRECT_URL))
    try:
        session_end(user=request.user, session_id=session_id)
    except DomainError:
        messages.error(request, _("没有这个会话。"))
    else:
        messages.success(request, _("会话已结束。"))
    return HttpResponseRedirect(reverse("identity:account"))


@login_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import update_session_auth_hash

    user = request.user
    assert isinstance(user, User)  # noqa: S101  # login_required
    form = forms.PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_change(
                user=user, current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )  # fmt: skip
        except DomainError as exc:
            _form_error(form, exc)
        else:
            update_session_auth_hash(request, user)
            session_key_changed(request)
            messages.success(request, _("密码已修改。"))
            return HttpResponseRedirect(_next_of(request))
    return render(
        request, "identity/password_change.html",
        {"form": form, "reason": password_change_reason(user), "next": _next_of(request),
         "min_length": policy.password_min_length()},
    )  # fmt: skip


# --- real-name assurance ---------------------------------------------------------------------------------------------


def _requested_level(request: HttpRequest) -> int:
    raw = request.POST.get("level") or request.GET.get("level") or "2"
    return int(raw) if raw in ("2", "3") else 2


@login_required
@require_http_methods(["GET", "POST"])
@rate_limited("identity.sms")
def step_up(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  # login_required
    level = _requested_level(request)
    next_url = _next_of(request)
    if user.assurance_level >= level:
        return HttpResponseRedirect(next_url)
    form = forms.StepUpForm(request.POST or None)
    if level == 2 and request.method == "POST" and form.is_valid():
        try:
            step_up_start(user=user, **form.cleaned_data)
        except DomainError as exc:
            _form_error(form, exc)
        else:
            target = reverse("identity:step-up-confirm")
            return HttpResponseRedirect(f"{target}?{urlencode({'next': next_url})}")
    return render(request, "identity/step_up.html", {"form": form, "level": level, "next": next_url,
                                                      "current": user.assurance_level})  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def step_up_confirm_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  # login_required
    next_url = _next_of(request)
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            step_up_confirm(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("实名核验通过，认证等级已提升为L2。"))
            return HttpResponseRedirect(next_url)
    return render(request, "identity/step_up_confirm.html", {"form": form, "next": next_url})


@login_required
@require_http_methods(["GET", "POST"])
def counter_verification(request: HttpRequest) -> HttpResponse:
    """L3 at a counter: the officer checked the identity card in person."""
    officer = request.user
    if not isinstance(officer, User) or not may_verify_in_person(officer):
        raise PermissionDenied
    form = forms.CounterVerificationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            record = in_person_verify(officer=officer, **form.cleaned_data)
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("已完成现场核验：%(user)s 认证等级为L3。") % {"user": record.user})
            return HttpResponseRedirect(reverse("identity:counter"))
    return render(request, "identity/counter.html", {"form": form, "department": officer.department})


# --- company representatives -----------------------------------------------------------------------------------------


def _resident(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or user.kind not in (AccountKind.RESIDENT, AccountKind.COMPANY_REPRESENTATIVE):
        raise PermissionDenied
    return user


def _report(request: HttpRequest, form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


@login_required
@require_POST
def representation_claim_view(request: HttpRequest) -> HttpResponse:
    user = _resident(request)
    form = forms.ClaimForm(request.POST)
    if form.is_valid():
        try:
            representation_claim(user=user, credit_code=form.cleaned_data["credit_code"])
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("已登记为该单位的法定代表人。"))
    _report(request, form)
    return HttpResponseRedirect(reverse("identity:account"))


@login_required
@require_POST
def representation_delegate_view(request: HttpRequest) -> HttpResponse:
    user = _resident(request)
    form = forms.DelegateForm(request.POST)
    if form.is_valid():
        until = dt.datetime.combine(
            form.cleaned_data["valid_until"], dt.time.max, tzinfo=timezone.get_current_timezone()
        )
        try:
            representation_delegate(
                user=user, credit_code=form.cleaned_data["credit_code"],
                delegate_username=form.cleaned_data["delegate_username"], valid_until=until,
            )  # fmt: skip
        except DomainError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("已授权经办人。"))
    _report(request, form)
    return HttpResponseRedirect(reverse("identity:account"))


@login_required
@require_POST
def representation_revoke_view(request: HttpRequest, representation_id: int) -> HttpResponse:
    user = _resident(request)
    try:
        representation_revoke(user=user, representation_id=representation_id)
    except DomainError:
        messages.error(request, _("没有可撤销的授权。"))
    else:
        messages.success(request, _("授权已撤销。"))
    return HttpResponseRedirect(reverse("identity:account"))
