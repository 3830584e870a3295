"""The one mapping of a service's error onto a page's form (kernel.form_errors), as the apps' pages use it."""

from __future__ import annotations

from django import forms

from rongcheng.kernel.errors import Conflict, ValidationFailed
from rongcheng.kernel.form_errors import add_domain_errors


class AccountForm(forms.Form):
    username = forms.CharField()
    department = forms.CharField()


def _bound() -> AccountForm:
    form = AccountForm({"username": "x", "department": "y"})
    assert form.is_valid()
    return form


def test_each_error_on_the_field_it_names_renamed_and_translated():
    form = _bound()
    exc = ValidationFailed(
        "The account details are invalid.",
        errors=[
            {"loc": ["username"], "rule": "username.length", "msg": "3 to 150 characters"},
            {"loc": ["department_id"], "rule": "department.known", "msg": "unknown"},
        ],
    )
    add_domain_errors(
        form, exc, fields={"department_id": "department"}, messages={"username.length": "3 到 150 个字符"}
    )
    assert form.errors == {"username": ["3 到 150 个字符"], "department": ["unknown"]}


def test_an_error_naming_no_field_shows_its_translation_or_else_the_detail_once():
    form = _bound()
    exc = ValidationFailed(
        "Two things are wrong.",
        errors=[
            {"loc": ["query", "purpose"], "rule": "purpose.required", "msg": "state a purpose"},
            {"loc": ["cursor"], "rule": "cursor.shape", "msg": "bad"},
            {"loc": ["limit"], "rule": "limit.range", "msg": "1 to 200"},
        ],
    )
    add_domain_errors(form, exc, messages={"purpose.required": "请选择查询目的。"})
    assert form.errors == {"__all__": ["请选择查询目的。", "Two things are wrong."]}


def test_a_refusal_without_errors_shows_its_detail_or_its_page_sentence():
    form = _bound()
    add_domain_errors(form, Conflict("The username x is taken."))
    assert form.errors == {"__all__": ["The username x is taken."]}
    other = _bound()
    add_domain_errors(other, Conflict("stale"), messages={"conflict": "记录已被他人修改。"})
    assert other.errors == {"__all__": ["记录已被他人修改。"]}
