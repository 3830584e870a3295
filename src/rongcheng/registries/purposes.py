"""Purposes for which a registry may be read. A read names one; an entitlement to see a field in clear is granted
for one. The codes are stable: they are stored in entitlements and in the audit trail."""

from __future__ import annotations

from rongcheng.kernel.errors import ValidationFailed

PURPOSES: dict[str, str] = {
    "service_hall": "政务服务办理 (deciding an application)",
    "public_security": "治安管理 (public security)",
    "social_assistance": "社会救助 (social assistance)",
    "health": "卫生健康 (health services)",
    "credit": "公共信用 (public credit)",
    "statistics": "统计分析 (statistics, aggregated)",
    "data_quality": "数据治理 (data-quality correction)",
    "self_service": "本人查询 (the person reading their own record)",
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
