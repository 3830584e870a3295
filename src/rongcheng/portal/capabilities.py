"""The platform's capabilities as listed on the portal home, by task of the 2017 Digital Fuzhou plan.

`url_name` is set once a capability has pages people can open; `permission`, when set, is needed to open them (the
home page links to them only for those who hold it). A capability without pages yet is listed as coming.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Capability:
    key: str
    name: str | Promise
    summary: str | Promise
    plan_tasks: str
    url_name: str | None = None
    permission: str = ""
    available: bool = False  # it exists, though it may have no page of its own for this viewer


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        "hall",
        _("网上办事大厅"),
        _("全流程网上办事，材料免提交，全城通办。"),
        "9, 10, 12",
        "hall:catalogue",
        available=True,
    ),
    Capability(
        "licences",
        _("电子证照"),
        _("SM2 签名的电子证照，任何人可验证，凭身份证号复用。"),
        "12",
        "licences:verify-form",
        available=True,
    ),
    Capability(
        "credit",
        _("公共信用"),
        _("双公示、红黑名单、信用报告和信用修复。"),
        "8",
        "credit:search",
        available=True,
    ),
    Capability(
        "identity",
        _("统一身份认证"),
        _("一次登录，实名认证，各部门系统通过 OpenID Connect 接入。"),
        "2",
        "identity:account",
        available=True,
    ),
    Capability(
        "registries",
        _("基础数据资源库"),
        _("人口、法人、地址和空间基础数据的唯一权威来源。"),
        "7",
        "registries:person-search",
        permission="registries.view_person",
        available=True,
    ),
    Capability(
        "spatial",
        _("时空信息"),
        _("行政区划、单元网格、标准地址和兴趣点图层（OGC API – Features），地址编码，不依赖外部底图的地图。"),
        "6, 7",
        "spatial:ogc-landing",
        available=True,
    ),
    Capability(
        "card", _("市民卡"), _("公交、停车、水电、缴费，一卡通付，账目分毫不差。"), "11", "card:mine", available=True
    ),
    Capability(
        "data",
        _("数据共享开放"),
        _("政务信息资源目录、共享审批和开放数据接口。"),
        "8, 17",
        "opendata:search",
        available=True,
    ),
    Capability(
        "grid",
        _("网格化管理"),
        _("城市问题按位置派遣到网格和部门，限时办结。"),
        "4, 10",
        "cases:report",
        available=True,
    ),
    # Coming: planned, no pages yet.
    Capability("office", _("协同办公"), _("公文起草、会签、收文、归档，手机可用。"), "5"),
    Capability("sensors", _("城市物联网"), _("设备登记、MQTT 遥测接入、超限自动立案。"), "1"),
    Capability(
        "security",
        _("监控与安全"),
        _("防篡改审计日志和国密算法；7×24 健康检查、指标、安全事件和可恢复的备份。"),
        "14, 15",
        "audit:search",
        permission="audit.view_auditrecord",
        available=True,
    ),
)
