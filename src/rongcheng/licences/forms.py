"""Forms of the licence pages; the face-field form is built from the licence type's declared schema."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from rongcheng.licences.documents import face_label
from rongcheng.licences.lifecycle import TRANSITIONS
from rongcheng.licences.models import LicenceType


class IssueForm(forms.Form):
    holder_code = forms.CharField(label=_("持证主体代码（身份证号或统一社会信用代码）"), max_length=18, min_length=18)
    valid_from = forms.DateField(
        label=_("有效期起始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    valid_until = forms.DateField(
        label=_("有效期截止日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    number = forms.CharField(label=_("证照编号（留空则用流水号）"), max_length=40, required=False)

    def __init__(self, *args: Any, licence_type: LicenceType, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.face_names: list[str] = []
        for item in licence_type.face_schema:
            name = f"face_{item['name']}"
            self.face_names.append(item["name"])
            required = bool(item.get("required"))
            field: forms.Field
            if item["type"] == "enum":
                field = forms.ChoiceField(choices=[("", "—"), *[(c, c) for c in item["choices"]]], required=required)
            elif item["type"] == "boolean":
                field = forms.ChoiceField(choices=[("", "—"), ("true", "是"), ("false", "否")], required=required)
            elif item["type"] == "date":
                field = forms.CharField(required=required, widget=forms.DateInput(attrs={"type": "date"}))
            elif item["type"] == "integer":
                field = forms.CharField(required=required, widget=forms.NumberInput())
            else:
                field = forms.CharField(required=required, max_length=500)
            field.label = face_label(item)
            self.fields[name] = field

    def face(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[f"face_{name}"] for name in self.face_names if self.cleaned_data.get(f"face_{name}")
        }


class TransitionForm(forms.Form):
    action = forms.ChoiceField(label=_("操作"), choices=[(a, t.label) for a, t in TRANSITIONS.items()])
    reason = forms.CharField(label=_("理由"), max_length=200)
    effective_on = forms.DateField(label=_("生效日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class BulkForm(forms.Form):
    licence_type = forms.ModelChoiceField(label=_("证照类型"), queryset=LicenceType.objects.none())
    file = forms.FileField(label=_("CSV 文件（UTF-8）"))

    def __init__(self, *args: Any, department_id: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["licence_type"]
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = LicenceType.objects.filter(department_id=department_id or 0, active=True)


class AuthorizationForm(forms.Form):
    grantee = forms.TypedChoiceField(label=_("被授权的系统或服务账户"), coerce=int, choices=())
    application_reference = forms.CharField(label=_("办件编号"), max_length=64)
    valid_days = forms.IntegerField(label=_("有效天数"), min_value=1, max_value=366, initial=30)

    def __init__(self, *args: Any, grantees: Iterable[Any] = (), **kwargs: Any) -> None:
        """`grantees`: the accounts a holder may authorize (services.grantees_available), offered by display name."""
        super().__init__(*args, **kwargs)
        field = cast("forms.TypedChoiceField", self.fields["grantee"])
        field.choices = [(user.pk, user.display_name or user.get_username()) for user in grantees]


class PurposeForm(forms.Form):
    purpose = forms.CharField(label=_("用途（仅供办理…使用）"), max_length=40)

    def clean_purpose(self) -> str:
        """The purpose as the stamp's blank: "办理入学" and "仅供办理入学使用" both become "入学" (no doubled 办理)."""
        text = str(self.cleaned_data["purpose"]).strip().removeprefix("仅供").removeprefix("办理").removesuffix("使用")
        if not text.strip():
            raise forms.ValidationError(_("请填写用途。"), code="required")
        return text.strip()
