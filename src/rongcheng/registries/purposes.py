"""Purposes for which a registry may be read. A read names one; an entitlement to see a field in clear is granted
for one. The codes are stable: they are stored in entitlements and in the audit trail."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from rongcheng.kernel.errors import ValidationFailed

# Each label is shown once, in the reader's language (a page never mixes Chinese and English).
PURPOSES: dict[str, Promise] = {
    "service_hall": _("政务服务办理"),
    "public_security": _("治安管理"),
    "social_assistance": _("社会救助"),
    "health": _("卫生健康"),
    "credit": _("公共信用"),
    "statistics": _("统计分析（汇总）"),
    "data_quality": _("数据治理（纠错）"),
    "self_service": _("本人查询"),
}
# The purpose only the subject of a record may state: nobody else reads "as the person themself".
SELF_SERVICE = "self_service"


def purpose_check(purpose: str | None) -> str:
    if not purpose:
        raise ValidationFailed(
            "A read of a base registry must state its purpose.",
            errors=[{"loc": ["query", "purpose"], "rule": "purpose.required", "msg": "state a purpose"}],
        )
    if purpose not in PURPOSES:
        raise ValidationFailed(
            f"Unknown purpose {purpose!r}; use one of {', '.join(PURPOSES)}.",
            errors=[{"loc": ["query", "purpose"], "rule": "purpose.known", "msg": "unknown purpose"}],
        )
    return purpose
