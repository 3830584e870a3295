"""Password rules (GB/T 22239 8.1.4.1 a): length and character classes from settings, for every form that sets a
password (Django's AUTH_PASSWORD_VALIDATORS lists this validator too)."""

from __future__ import annotations

import string
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rongcheng.identity import policy

_CLASSES = {
    "upper": (str.isupper, gettext_lazy("大写字母")),
    "lower": (str.islower, gettext_lazy("小写字母")),
    "digit": (str.isdigit, gettext_lazy("数字")),
    "special": (lambda c: c in string.punctuation or (not c.isalnum() and not c.isspace()), gettext_lazy("特殊字符")),
}


def password_problems(password: str) -> list[tuple[str, str]]:
    """(rule, message) for each rule the password breaks; empty when it is acceptable."""
    problems = []
    minimum = policy.password_min_length()
    if len(password) < minimum:
        problems.append(("password.length", _("密码至少需要 %(n)d 个字符。") % {"n": minimum}))
    for name in policy.password_character_classes():
        test, label = _CLASSES[name]
        if not any(test(character) for character in password):
            problems.append((f"password.{name}", _("密码必须包含%(label)s。") % {"label": label}))
    return problems


class ComplexityValidator:
    def validate(self, password: str, user: Any = None) -> None:
        problems = password_problems(password)
        if problems:
            raise ValidationError([message for _rule, message in problems], code="password_complexity")

    def get_help_text(self) -> str:
        return _("密码至少 %(n)d 个字符，包含大写字母、小写字母、数字和特殊字符。") % {
            "n": policy.password_min_length()
        }
