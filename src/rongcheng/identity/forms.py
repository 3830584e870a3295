"""Forms of the identity pages; they parse input, the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SignInForm(forms.Form):
    username = forms.CharField(label=_("用户名"), max_length=150)
    password = forms.CharField(label=_("密码"), max_length=256, strip=False, widget=forms.PasswordInput)


class CodeForm(forms.Form):
    code = forms.CharField(label=_("验证码"), max_length=12)


class PhoneForm(forms.Form):
    phone = forms.CharField(label=_("手机号码"), max_length=20)


class SmsSignInForm(forms.Form):
    phone = forms.CharField(label=_("手机号码"), max_length=20)
    code = forms.CharField(label=_("验证码"), max_length=12)


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(label=_("当前密码"), max_length=256, strip=False, widget=forms.PasswordInput)
    new_password = forms.CharField(label=_("新密码"), max_length=256, strip=False, widget=forms.PasswordInput)
    new_password_again = forms.CharField(label=_("再次输入新密码"), max_length=256, strip=False,
                                         widget=forms.PasswordInput)  # fmt: skip

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password") != data.get("new_password_again"):
            self.add_error("new_password_again", _("两次输入的新密码不一致。"))
        return data


class RegisterForm(forms.Form):
    username = forms.CharField(label=_("用户名"), max_length=150)
    password = forms.CharField(label=_("密码"), max_length=256, strip=False, widget=forms.PasswordInput)
    name = forms.CharField(label=_("姓名"), max_length=50)
    id_number = forms.CharField(label=_("身份证号码"), max_length=18)
    phone = forms.CharField(label=_("手机号码"), max_length=20)


class StepUpForm(forms.Form):
    name = forms.CharField(label=_("姓名"), max_length=50)
    id_number = forms.CharField(label=_("身份证号码"), max_length=18)
    phone = forms.CharField(label=_("手机号码"), max_length=20)


class CounterVerificationForm(forms.Form):
    username = forms.CharField(label=_("居民用户名"), max_length=150)
    id_number = forms.CharField(label=_("身份证号码（核验原件）"), max_length=18)
    window = forms.CharField(label=_("窗口"), max_length=50)


class ClaimForm(forms.Form):
    credit_code = forms.CharField(label=_("统一社会信用代码"), max_length=18)


class DelegateForm(forms.Form):
    credit_code = forms.CharField(label=_("统一社会信用代码"), max_length=18)
    delegate_username = forms.CharField(label=_("经办人用户名"), max_length=150)
    valid_until = forms.DateField(label=_("有效期至"), widget=forms.DateInput(attrs={"type": "date"}))
