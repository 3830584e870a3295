"""Forms of the registries' pages: they parse input; the services and selectors decide. A domain error coming back
is shown on the form by `kernel.form_errors.add_domain_errors` with the sentences of `PAGE_MESSAGES`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from rongcheng.registries.errors import RecordClosed, StaleVersion
from rongcheng.registries.ethnicities import ETHNICITIES
from rongcheng.registries.models import EntityStatus, PersonStatus
from rongcheng.registries.purposes import PURPOSES

PURPOSE_CHOICES = [("", _("请选择")), *PURPOSES.items()]

# The rules the services and the kernel report, in the pages' language; an unknown rule shows the service's message.
RULE_MESSAGES: dict[str, StrPromise] = {
    "id_number.length": _("身份证号应为 18 位。"),
    "id_number.charset": _("身份证号前 17 位应为数字，末位为数字或 X。"),
    "id_number.lowercase_x": _("校验位 X 应为大写。"),
    "id_number.birth_date": _("身份证号中的出生日期无效。"),
    "id_number.division": _("身份证号中的行政区划代码无效。"),
    "id_number.checksum": _("身份证号校验位不符。"),
    "name.required": _("请填写名称。"),
    "name.length": _("姓名不超过 50 个字符。"),
    "ethnicity.code": _("不是有效的民族代码（GB/T 3304）。"),
    "division.known": _("不是有效的行政区划代码（GB/T 2260）。"),
    "phone.format": _("不是有效的电话号码。"),
    "address.length": _("地址不超过 200 个字符。"),
    "authority.length": _("登记机关不超过 100 个字符。"),
    "reason.required": _("请填写原因。"),
    "field.correctable": _("该项不可更正。"),
    "status.closing": _("请选择关闭类型。"),
    "date.range": _("日期超出记录的存续期间，且不能晚于今天。"),
    "date.valid": _("日期无效或晚于今天。"),
    "representative.living": _("法定代表人须为在世的登记人员。"),
    "search.criteria": _("请填写身份证号、姓名或行政区划。"),
    "purpose.required": _("请选择查询目的。"),
    "purpose.known": _("未知的查询目的。"),
    "cursor.signature": _("翻页参数无效，请重新查询。"),
    "cursor.shape": _("翻页参数无效，请重新查询。"),
}


# Whole refusals with their own sentence on the pages, by problem type.
PAGE_MESSAGES: dict[str, StrPromise] = {
    **RULE_MESSAGES,
    StaleVersion.type_slug: _("记录已被他人修改，请查看最新内容后重新提交。"),
    RecordClosed.type_slug: _("记录已关闭，不能再修改。"),
}


class PurposeForm(forms.Form):
    purpose = forms.ChoiceField(label=_("查询目的"), choices=PURPOSE_CHOICES)


class PersonSearchForm(forms.Form):
    purpose = forms.ChoiceField(label=_("查询目的"), choices=PURPOSE_CHOICES, help_text=_("每次查询都记入审计日志"))
    id_number = forms.CharField(label=_("身份证号"), max_length=18, required=False, help_text=_("按身份证号精确查找"))
    name = forms.CharField(label=_("姓名"), max_length=50, required=False)
    division_code = forms.RegexField(
        label=_("户籍行政区划代码"),
        regex=r"^\d{6}$",
        required=False,
        error_messages={"invalid": _("行政区划代码为 6 位数字。")},
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for key in ("id_number", "name", "division_code"):
            cleaned[key] = (cleaned.get(key) or "").strip()
        if not (cleaned["id_number"] or cleaned["name"] or cleaned["division_code"]):
            raise forms.ValidationError(RULE_MESSAGES["search.criteria"])
        return cleaned


def _optional(label: StrPromise, max_length: int, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=max_length, required=False, **kwargs)


class _CorrectionForm(forms.Form):
    """Blank fields stay as they are: an officer who sees a masked value never writes the mask back."""

    reason = forms.CharField(label=_("更正原因"), max_length=200)
    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def changes(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("reason", "expected_version") and value not in ("", None)
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.changes():
            raise forms.ValidationError(_("请至少填写一项更正内容。"))
        return cleaned


class PersonCorrectForm(_CorrectionForm):
    name = _optional(_("姓名"), 50)
    ethnicity = forms.ChoiceField(
        label=_("民族"), required=False, choices=[("", _("不变")), *sorted(ETHNICITIES.items())]
    )
    division_code = forms.RegexField(
        label=_("户籍行政区划代码"),
        regex=r"^\d{6}$",
        required=False,
        error_messages={"invalid": _("行政区划代码为 6 位数字。")},
    )
    phone = _optional(_("电话"), 20)
    address = _optional(_("地址"), 200)
    field_order = ["name", "ethnicity", "division_code", "phone", "address", "reason"]


class EntityCorrectForm(_CorrectionForm):
    name = _optional(_("名称"), 120)
    representative_id_number = _optional(
        _("法定代表人身份证号"), 18, help_text=_("更换法定代表人时填写；须为在世的登记人员")
    )
    address = _optional(_("住所"), 200)
    registration_authority = _optional(_("登记机关"), 100)
    established_on = forms.DateField(
        label=_("成立日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    field_order = ["name", "representative_id_number", "address", "registration_authority", "established_on", "reason"]


class _CloseForm(forms.Form):
    on = forms.DateField(label=_("日期"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("原因"), max_length=200)


class PersonCloseForm(_CloseForm):
    status = forms.ChoiceField(
        label=_("关闭类型"),
        choices=[(PersonStatus.DECEASED, PersonStatus.DECEASED.label),
                 (PersonStatus.DEREGISTERED, PersonStatus.DEREGISTERED.label)],
    )  # fmt: skip
    field_order = ["status", "on", "reason"]


class EntityCloseForm(_CloseForm):
    status = forms.ChoiceField(
        label=_("关闭类型"),
        choices=[(EntityStatus.REVOKED, EntityStatus.REVOKED.label),
                 (EntityStatus.DEREGISTERED, EntityStatus.DEREGISTERED.label)],
    )  # fmt: skip
    field_order = ["status", "on", "reason"]
