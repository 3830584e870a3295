"""The staff search form: GET parameters in, an `AuditSearch` out."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rongcheng.audit.models import Outcome
from rongcheng.audit.selectors import AuditSearch


class AuditSearchForm(forms.Form):
    actor = forms.CharField(label=_("主体"), max_length=150, required=False, help_text=_("用户名或主体标识"))
    action = forms.CharField(
        label=_("操作"), max_length=100, required=False, help_text=_("前缀匹配，如 registries.person")
    )
    target_type = forms.CharField(label=_("对象类型"), max_length=100, required=False)
    target_id = forms.CharField(label=_("对象标识"), max_length=100, required=False)
    outcome = forms.ChoiceField(label=_("结果"), choices=[("", _("全部")), *Outcome.choices], required=False)
    request_id = forms.CharField(
        label=_("请求编号"), max_length=64, required=False, help_text=_("同一请求写下的记录共用一个编号")
    )
    occurred_from = forms.DateField(label=_("起始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    occurred_to = forms.DateField(label=_("截止日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("occurred_from"), cleaned.get("occurred_to")
        if start and end and start > end:
            raise forms.ValidationError(_("起始日期晚于截止日期。"))
        return cleaned

    def to_search(self) -> AuditSearch:
        data = self.cleaned_data
        return AuditSearch(
            actor=data.get("actor", "").strip(),
            action=data.get("action", "").strip(),
            target_type=data.get("target_type", "").strip(),
            target_id=data.get("target_id", "").strip(),
            outcome=data.get("outcome", ""),
            request_id=data.get("request_id", "").strip(),
            occurred_from=data.get("occurred_from"),
            occurred_to=data.get("occurred_to"),
        )
