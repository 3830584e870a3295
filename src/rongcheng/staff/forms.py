from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from rongcheng.accounts.models import Department
from rongcheng.staff.models import Role


class StaffSearchForm(forms.Form):
    department = forms.ModelChoiceField(
        label=_("部门"), queryset=Department.objects.all(), required=False, empty_label=_("全部部门")
    )
    q = forms.CharField(label=_("用户名或姓名"), max_length=50, required=False)


class StaffCreateForm(forms.Form):
    username = forms.CharField(label=_("用户名"), max_length=150)
    display_name = forms.CharField(label=_("姓名"), max_length=100)
    department = forms.ModelChoiceField(label=_("部门"), queryset=Department.objects.all())


class RoleChoiceField(forms.ModelChoiceField[Role]):
    def label_from_instance(self, obj: Role) -> str:
        return obj.name


class GrantForm(forms.Form):
    role = RoleChoiceField(
        label=_("角色"), queryset=Role.objects.select_related("group").order_by("duty", "group__name")
    )
    department = forms.ModelChoiceField(
        label=_("部门"), queryset=Department.objects.all(), required=False, empty_label=_("全市（仅限全市性角色）")
    )
