"""Fill the message catalogues from the tables below, then compile them.

Templates are written in Simplified Chinese (the default language) and model labels in English, so each catalogue
translates the other language's strings. Run after `rongcheng manage makemessages -l en -l zh_Hans --no-wrap
--no-location` in src/rongcheng:

    uv run python scripts/translations.py
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

LOCALE = Path(__file__).resolve().parent.parent / "src" / "rongcheng" / "locale"

ENGLISH = {
    "统一身份认证": "Unified identity",
    "一次登录，实名认证，各部门系统通过 OpenID Connect 接入。": "Sign in once with a real-name identity; every department's system connects through OpenID Connect.",
    "基础数据资源库": "Base registries",
    "人口、法人、地址和空间基础数据的唯一权威来源。": "The single source of truth for persons, legal entities, addresses and spatial base data.",
    "电子证照": "Electronic licences",
    "SM2 签名的电子证照，任何人可验证，凭身份证号复用。": "Licences signed with SM2, verifiable by anyone, reused by ID number.",
    "网上办事大厅": "Online service hall",
    "全流程网上办事，材料免提交，全城通办。": "Apply and get decisions fully online, without resubmitting papers, at any window in the city.",
    "网格化管理": "Grid management",
    "城市问题按位置派遣到网格和部门，限时办结。": "City problems routed by location to the right grid and department, handled to a deadline.",
    "市民卡": "Citizen card",
    "公交、停车、水电、缴费，一卡通付，账目分毫不差。": "Fares, parking, utilities and fees on one card, on a ledger that never loses a cent.",
    "公共信用": "Public credit",
    "双公示、红黑名单、信用报告和信用修复。": "Licensing and penalty disclosures, red and black lists, credit reports and credit repair.",
    "数据共享开放": "Data sharing and open data",
    "政务信息资源目录、共享审批和开放数据接口。": "The government data catalogue, approved sharing between departments and open-data APIs.",
    "时空信息": "Spatio-temporal data",
    "OGC API - Features 提供行政区划、网格和兴趣点。": "Divisions, grid cells and points of interest through OGC API - Features.",
    "协同办公": "Collaborative office",
    "公文起草、会签、收文、归档，手机可用。": "Drafting, countersigning, receiving and archiving official documents, also on a phone.",
    "城市物联网": "City sensors",
    "设备登记、MQTT 遥测接入、超限自动立案。": "Device registry, MQTT telemetry and cases opened automatically on thresholds.",
    "监控与安全": "Monitoring and security",
    "7×24 监控、防篡改审计日志、国密算法。": "Round-the-clock monitoring, a tamper-evident audit trail and national cryptography.",
    "榕城数字政府平台": "Rongcheng digital government platform",
    "跳到正文": "Skip to content",
    "榕城": "Rongcheng",
    "账户": "Account",
    "管理后台": "Administration",
    "退出": "Sign out",
    "登录": "Sign in",
    "榕城数字政府平台 · 开源软件": "Rongcheng digital government platform · open-source software",
    "页面不存在。": "This page does not exist.",
    "服务器出错，运维人员已收到通知。": "The server failed; the operators have been told.",
    "返回首页": "Back to the home page",
    "平台能力": "Capabilities",
    "一次登录，一网通办：身份、证照、办事、网格、市民卡、信用与数据，一个平台。": "Sign in once, do everything online: identity, licences, services, grid, card, credit and data on one platform.",
    "规划任务 %(tasks)s": "Plan task %(tasks)s",
    "建设中": "in preparation",
    "用户名": "Username",
    "密码": "Password",
    "男": "male",
    "女": "female",
    "在世": "living",
    "死亡": "deceased",
    "注销": "deregistered",
    "存续": "active",
    "吊销": "revoked",
    "地级市": "prefecture-level city",
    "区县": "county or district",
    "街道/乡镇": "street or township",
    "社区/村": "community or village",
    "审计日志": "Audit trail",
}

CHINESE = {
    "code": "代码", "name": "名称", "short name": "简称", "unified social credit code": "统一社会信用代码",
    "division code": "行政区划代码", "department": "部门", "departments": "部门", "resident": "市民",
    "company representative": "法人经办人", "staff": "工作人员", "API client": "接入系统", "kind": "类型",
    "display name": "显示名称", "account": "账户", "accounts": "账户", "level": "级别", "valid from": "启用日期",
    "valid to": "停用日期", "division": "行政区划", "divisions": "行政区划", "polygon": "多边形",
    "grid cell": "单元网格", "grid cells": "单元网格", "ID number": "公民身份号码", "sex": "性别",
    "birth date": "出生日期", "registered-residence division": "户籍所在地", "phone": "电话", "status": "状态",
    "person": "自然人", "persons": "自然人", "legal entity": "法人", "legal entities": "法人",
    "registration department code": "登记管理部门码", "category code": "机构类别码",
    "registration division": "登记管理机关行政区划", "legal representative": "法定代表人",
    "established on": "成立日期",
}  # fmt: skip

_ENTRY = re.compile(r'^msgid "(?P<id>(?:[^"\\]|\\.)*)"\nmsgstr ""$', re.MULTILINE)


def fill(language: str, table: dict[str, str]) -> None:
    path = LOCALE / language / "LC_MESSAGES" / "django.po"
    text = path.read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        msgid = match.group("id")
        translated = table.get(msgid, "").replace('"', '\\"')
        return f'msgid "{msgid}"\nmsgstr "{translated}"'

    text = _ENTRY.sub(replace, text).replace("#, fuzzy\n", "", 1)
    path.write_text(text, encoding="utf-8")
    subprocess.run(["msgfmt", "--check", "-o", str(path.with_suffix(".mo")), str(path)], check=True)


if __name__ == "__main__":
    fill("en", ENGLISH)
    fill("zh_Hans", CHINESE)
