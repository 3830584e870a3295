"""The demo city's public credit: the credit office (account `credit`, 市发改委 with its signing key), the memoranda
of joint measures, a black-listed company and a red-listed one (neither the demo `company` account's entity), and
licensing and penalty records reported by the market-regulation department (account `market`). Seeded through the
credit services as those accounts; idempotent: a second run adds nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rongcheng.accounts.models import Department, User
from rongcheng.audit.services import Actor
from rongcheng.credit.errors import CreditRecordInvalid
from rongcheng.credit.models import ListEntry, Memorandum, Record
from rongcheng.credit.services import list_entry_add, memorandum_save, record_report
from rongcheng.demo.licences import department_credit_code
from rongcheng.hall.selectors import city_today
from rongcheng.identity.selectors import representation_list_for_user
from rongcheng.licences.keys import department_key_rotate
from rongcheng.licences.models import DepartmentKey, KeyStatus
from rongcheng.registries.models import EntityStatus, LegalEntity
from rongcheng.staff.models import Duty, Role, RoleAssignment
from rongcheng.staff.services import role_define, role_grant_by_system

SYSTEM = Actor.system("演示城市生成程序")
OFFICE_ACCOUNT = "credit"
OFFICE_ROLE = "信用办工作人员"
OFFICE_PERMISSIONS = ("credit.manage_lists", "credit.review_repair", "credit.report_record")
REPORTER_ROLE = "审批人员"  # the departments' approving officers also report their 双公示 records
REPORTER_ACCOUNT = "market"
OFFICE_CREDIT_CODE_SERIAL = 90

MEMORANDA: tuple[dict[str, Any], ...] = (
    {"code": "SX-BZXR", "title": "关于对失信被执行人实施联合惩戒的合作备忘录",
     "document_number": "发改财金〔2016〕141号", "list_type": "black", "signed_on": "2016-01-20",
     "measures": [
         {"code": "C01", "text": "限制取得政府供应土地", "departments": "国土资源部门"},
         {"code": "C02", "text": "限制参与政府采购活动", "departments": "财政部门"},
         {"code": "C03", "text": "限制取得政府补贴性资金和社会保障资金支持", "departments": "发展改革、财政部门"},
         {"code": "C04", "text": "在行政审批中从严审核，不适用告知承诺制", "departments": "各审批部门"},
     ]},
    {"code": "JL-NSA", "title": "关于对纳税信用A级纳税人实施联合激励措施的合作备忘录",
     "document_number": "发改财金〔2016〕1467号", "list_type": "red", "signed_on": "2016-07-01",
     "measures": [
         {"code": "R01", "text": "行政审批绿色通道，容缺受理", "departments": "各审批部门"},
         {"code": "R02", "text": "在财政性资金项目安排中同等条件下优先考虑", "departments": "发展改革、财政部门"},
     ]},
)  # fmt: skip


def _office() -> User | None:
    """The credit office's account with its role; the department gets a credit code and its signing key."""
    department = Department.objects.filter(code="FZ-FGW").first()
    account = User.objects.filter(username=OFFICE_ACCOUNT).first()
    if department is None or account is None:
        return None
    if not department.credit_code:
        department.credit_code = department_credit_code(OFFICE_CREDIT_CODE_SERIAL)
        department.save(update_fields=["credit_code"])
    if not DepartmentKey.objects.filter(department=department, status=KeyStatus.ACTIVE).exists():
        department_key_rotate(department=department, actor=SYSTEM)
    role = Role.objects.filter(group__name=OFFICE_ROLE).first() or role_define(
        name=OFFICE_ROLE, duty=Duty.BUSINESS, description="公共信用：红黑名单、联合奖惩备忘录、信用修复审核",
        permissions=OFFICE_PERMISSIONS, city_wide=False, actor=SYSTEM,
    )  # fmt: skip
    if not RoleAssignment.objects.filter(user=account, role=role, revoked_at__isnull=True).exists():
        role_grant_by_system(user=account, role=role, department=department, actor=SYSTEM)
    return User.objects.get(pk=account.pk)


def _reporter() -> User | None:
    role = Role.objects.select_related("group").filter(group__name=REPORTER_ROLE).first()
    if role is None:
        return None
    current = {
        f"{p.content_type.app_label}.{p.codename}" for p in role.group.permissions.select_related("content_type")
    }
    if "credit.report_record" not in current:
        role_define(
            name=role.group.name, duty=role.duty, description=role.description,
            permissions=sorted(current | {"credit.report_record"}), city_wide=role.city_wide, actor=SYSTEM,
        )  # fmt: skip
    account = User.objects.filter(username=REPORTER_ACCOUNT).first()
    return User.objects.get(pk=account.pk) if account is not None else None


def _listed_companies() -> tuple[LegalEntity, LegalEntity] | None:
    """Two active companies with a legal representative, from the end of the register: never the entity the demo
    `company` account represents."""
    company = User.objects.filter(username="company").first()
    held = {r.legal_entity_id for r in representation_list_for_user(user=company)} if company is not None else set()
    entities = list(
        LegalEntity.objects.filter(status=EntityStatus.ACTIVE, legal_representative__isnull=False)
        .exclude(pk__in=held)
        .order_by("-id")[:2]
    )
    return (entities[0], entities[1]) if len(entities) == 2 else None


def _records(reporter: User, black: LegalEntity, red: LegalEntity, today: dt.date) -> int:
    rows = [
        {"kind": "penalty", "subject_name": black.name, "subject_code": black.credit_code,
         "document_name": "行政处罚决定书", "document_number": "榕市监罚〔2026〕101号", "category": "罚款",
         "content": "罚款人民币伍万元整", "violation_type": "虚假宣传",
         "violation_facts": "发布虚假广告，欺骗误导消费者",
         "basis": "《中华人民共和国广告法》第五十五条", "fine_amount": "5", "decided_on": today - dt.timedelta(days=3)},
        {"kind": "penalty", "subject_name": black.name, "subject_code": black.credit_code,
         "document_name": "行政处罚决定书", "document_number": "榕市监罚〔2026〕57号", "category": "警告",
         "content": "警告", "violation_facts": "未按规定公示年度报告", "basis": "《企业信息公示暂行条例》第十七条",
         "decided_on": today - dt.timedelta(days=40)},
        {"kind": "licensing", "subject_name": red.name, "subject_code": red.credit_code,
         "document_name": "准予行政许可决定书", "document_number": "榕市监许〔2026〕880号", "category": "普通",
         "content": "食品经营许可（餐饮服务）", "licence_name": "食品经营许可证", "licence_number": "JY13501000088001",
         "decided_on": today - dt.timedelta(days=2), "valid_from": today - dt.timedelta(days=2),
         "valid_until": today + dt.timedelta(days=5 * 365)},
        {"kind": "tax_rating", "subject_name": red.name, "subject_code": red.credit_code,
         "document_number": f"闽税信A〔{today.year - 1}〕", "content": f"{today.year - 1}年度纳税信用等级A级",
         "rating": "A", "decided_on": dt.date(today.year, 4, 1) if today >= dt.date(today.year, 4, 1)
         else dt.date(today.year - 1, 4, 1)},
    ]  # fmt: skip
    added = 0
    for row in rows:
        if Record.objects.filter(department=reporter.department, source_reference=f"{row['kind']}:"
                                 f"{row['document_number']}").exists():  # fmt: skip
            continue
        try:
            record_report(user=reporter, data={k: str(v) for k, v in row.items()}, intake="form")
        except CreditRecordInvalid:
            continue
        added += 1
    return added


def credit_seed() -> dict[str, int]:
    office = _office()
    reporter = _reporter()
    companies = _listed_companies()
    counts = {"memoranda": 0, "entries": 0, "records": 0}
    if office is None or companies is None:
        return counts
    for memorandum in MEMORANDA:
        if not Memorandum.objects.filter(code=memorandum["code"]).exists():
            memorandum_save(user=office, data=memorandum)
            counts["memoranda"] += 1
    black, red = companies
    today = city_today()
    for entity, list_type, list_name, memo, basis in (
        (black, "black", "失信被执行人", "SX-BZXR", "《最高人民法院关于公布失信被执行人名单信息的若干规定》"),
        (red, "red", "纳税信用A级纳税人", "JL-NSA", "《纳税信用管理办法（试行）》"),
    ):
        if ListEntry.objects.filter(subject__key=entity.credit_code, list_type=list_type).exists():
            continue
        list_entry_add(user=office, data={
            "list_type": list_type, "list_name": list_name, "subject_kind": "entity",
            "subject_code": entity.credit_code,
            "subject_name": entity.name, "department": "FZ-GSJ" if list_type == "black" else "FZ-FGW",
            "legal_basis": basis, "memorandum": memo, "listed_on": (today - dt.timedelta(days=30)).isoformat(),
            "reason": "经法院认定，有履行能力而拒不履行生效法律文书确定义务" if list_type == "black" else "",
        })  # fmt: skip
        counts["entries"] += 1
    if reporter is not None and reporter.department is not None:
        counts["records"] = _records(reporter, black, red, today)
    return counts
