"""The demo city's service hall: real services of Fuzhou's departments, the 2026/2027 holiday calendar, and the
hall's permissions for the demo officers' roles. Idempotent: a service that exists is left as staff edited it.

Licence types are named by the codes the licences app seeds (`LICENCE_TYPES`), so the catalogue resolves them once
both are seeded.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from rongcheng.accounts.models import AccountKind, AssuranceLevel, Department, User
from rongcheng.audit.services import Actor
from rongcheng.demo import licences as demo_licences
from rongcheng.hall.holidays import china
from rongcheng.hall.models import ServiceItem
from rongcheng.hall.services import calendar_seed, service_item_upsert
from rongcheng.identity.selectors import representation_list_for_user
from rongcheng.identity.services import assurance_set_by_system, representation_claim
from rongcheng.licences.models import Licence, LicenceStatus
from rongcheng.registries.models import EntityStatus, LegalEntity
from rongcheng.staff.models import Role
from rongcheng.staff.services import role_define

SYSTEM = Actor.system("演示城市生成程序")
# The demo officers' business roles (seeded by demo.staff) also decide applications of their department's services.
HALL_ROLES = ("窗口工作人员", "户籍民警", "审批人员")
HALL_PERMISSIONS = frozenset({"hall.decide_application", "hall.change_calendarday", "licences.add_licence"})

# Licence type codes (电子证照类型) as the licences app seeds them, by name.
LICENCE_TYPES = {name: code for code, name, *_ in demo_licences.LICENCE_TYPES}
EXTRA_DEPARTMENTS = (
    ("FZ-GJJ", "福州住房公积金中心", "市公积金中心"),
    ("FZ-ZJJ", "福州市城乡建设委员会", "市建委"),
)

IDENTITY = ["person.name", "person.id_number", "person.sex", "person.birth_date", "person.address"]
CONTACT = ["person.name", "person.id_number", "person.phone"]


def _registry(code: str, name: str, fields: list[str]) -> dict[str, Any]:
    return {"code": code, "name": name, "source": "registry", "fields": fields}


def _licence(code: str, name: str, licence_type: str, required: bool = True) -> dict[str, Any]:
    return {"code": code, "name": name, "source": "licence", "licence_type": LICENCE_TYPES[licence_type],
            "required": required}  # fmt: skip


def _upload(code: str, name: str, formats: tuple[str, ...] = ("pdf", "jpg", "png", "ofd"), mb: int = 5,
            required: bool = True) -> dict[str, Any]:  # fmt: skip
    return {"code": code, "name": name, "source": "upload", "formats": list(formats), "max_bytes": mb * 1024 * 1024,
            "required": required}  # fmt: skip


def _service(code: str, name: str, department: str, kind: str, basis: str, statutory: int, promised: int,
             materials: list[dict[str, Any]], **options: Any) -> dict[str, Any]:  # fmt: skip
    return {"code": code, "name": name, "department": department, "kind": kind, "legal_basis": basis,
            "statutory_days": statutory, "promised_days": promised, "materials": materials, **options}  # fmt: skip


SERVICES: tuple[dict[str, Any], ...] = (
    _service(
        "GSJ-QY-001",
        "企业设立登记",
        "FZ-GSJ",
        "licensing",
        "《中华人民共和国市场主体登记管理条例》第三条、第十九条",
        15,
        1,
        [
            _registry("founder", "投资人身份信息", IDENTITY),
            _upload("articles", "公司章程", ("pdf", "ofd")),
            _upload("premises", "住所使用证明"),
        ],
        conditions="有符合规定的名称、住所、章程和组织机构",
        any_window=True,
        online_only=True,
        min_assurance=2,
        applicant_kind="any",  # founders apply as themselves, or an existing company founds another
    ),
    _service(
        "GSJ-GT-001",
        "个体工商户设立登记",
        "FZ-GSJ",
        "licensing",
        "《促进个体工商户发展条例》；《中华人民共和国市场主体登记管理条例》",
        15,
        1,
        [_registry("operator", "经营者身份信息", IDENTITY)],
        conditions="有经营能力的自然人",
        any_window=True,
        online_only=True,
        min_assurance=2,
    ),
    _service(
        "GSJ-SP-001",
        "食品经营许可",
        "FZ-GSJ",
        "licensing",
        "《中华人民共和国食品安全法》第三十五条；《食品经营许可和备案管理办法》",
        20,
        10,
        [
            _licence("business_licence", "营业执照", "营业执照"),
            _registry("representative", "法定代表人（负责人）身份信息", CONTACT),
        ],
        conditions="具有与经营的食品品种、数量相适应的经营场所和食品安全管理制度",
        any_window=True,
        min_assurance=2,
        # The permit is issued to the company, its premises from the business licence the application reused.
        issues_licence_type=LICENCE_TYPES["食品经营许可证"],
        result_face={
            "operator_kind": "=餐饮服务经营者",
            "business_items": "=热食类食品制售",
            "premises": "business_licence:address",
        },
        applicant_kind="entity",
    ),
    _service(
        "GSJ-BG-001",
        "企业变更登记",
        "FZ-GSJ",
        "licensing",
        "《中华人民共和国市场主体登记管理条例》第二十四条",
        15,
        1,
        [_licence("business_licence", "营业执照", "营业执照"), _upload("resolution", "变更决议", ("pdf", "ofd"))],
        any_window=True,
        online_only=True,
        applicant_kind="entity",
    ),
    _service(
        "GSJ-ZX-001",
        "企业注销登记",
        "FZ-GSJ",
        "licensing",
        "《中华人民共和国市场主体登记管理条例》第三十一条",
        10,
        3,
        [_licence("business_licence", "营业执照", "营业执照"), _upload("liquidation", "清算报告", ("pdf", "ofd"))],
        any_window=True,
        applicant_kind="entity",
    ),
    _service(
        "GAJ-CS-001",
        "出生登记（新生儿入户）",
        "FZ-GAJ",
        "confirmation",
        "《中华人民共和国户口登记条例》第七条",
        10,
        3,
        [
            _licence("birth_certificate", "出生医学证明", "出生医学证明"),
            _registry("guardian", "申报人（父母）身份信息", IDENTITY),
        ],
        conditions="婴儿出生后一个月以内由户主、亲属、抚养人或者邻居申报",
        any_window=True,
        min_assurance=2,
    ),
    _service(
        "GAJ-JZZ-001",
        "居住证办理",
        "FZ-GAJ",
        "licensing",
        "《居住证暂行条例》第二条、第九条",
        15,
        7,
        [
            _registry("holder", "申领人身份信息", IDENTITY),
            _licence("property", "合法稳定住所证明（不动产权证书）", "不动产权证书"),
        ],
        conditions="离开常住户口所在地，到福州市居住半年以上，有合法稳定就业、合法稳定住所、连续就读条件之一",
        any_window=True,
        issues_licence_type=LICENCE_TYPES["居住证"],
        result_face={"residence_address": "property:location", "original_residence": "holder:person.address"},
        min_assurance=2,
    ),
    _service(
        "GAJ-SFZ-001",
        "居民身份证换领",
        "FZ-GAJ",
        "confirmation",
        "《中华人民共和国居民身份证法》第十一条",
        60,
        15,
        [_registry("holder", "申领人身份信息", IDENTITY), _upload("photo", "数码相片", ("jpg", "png"), 1)],
        any_window=True,
        min_assurance=2,
        # 换领 costs the card's 工本费 (国家发展改革委、财政部《关于居民身份证收费标准及有关问题的通知》): the demo's
        # one service with a fee, paid through the city card's unified payment before the application concludes.
        fees="20元",
    ),
    _service(
        "GAJ-HZ-001",
        "普通护照签发",
        "FZ-GAJ",
        "licensing",
        "《中华人民共和国护照法》第五条、第六条",
        15,
        7,
        [_registry("holder", "申请人身份信息", IDENTITY), _upload("photo", "护照相片", ("jpg", "png"), 1)],
        any_window=True,
        min_assurance=3,
    ),
    _service(
        "GAJ-JSZ-001",
        "机动车驾驶证有效期满换证",
        "FZ-GAJ",
        "public_service",
        "《机动车驾驶证申领和使用规定》第五十七条",
        5,
        1,
        [
            _licence("driving_licence", "机动车驾驶证", "机动车驾驶证"),
            _upload("health", "身体条件证明", ("pdf", "jpg")),
        ],
        any_window=True,
        online_only=True,
        issues_licence_type=LICENCE_TYPES["机动车驾驶证"],
        result_face={
            "permitted_class": "driving_licence:permitted_class",
            "first_issued_on": "driving_licence:first_issued_on",
            "address": "driving_licence:address",
        },
    ),
    _service(
        "MZJ-GL-001",
        "高龄津贴申领",
        "FZ-MZJ",
        "payment",
        "《中华人民共和国老年人权益保障法》第三十三条；《福建省老年人权益保障条例》",
        20,
        5,
        [_registry("elder", "老年人身份信息", IDENTITY)],
        conditions="具有福州市户籍、年满八十周岁的老年人",
        any_window=True,
        online_only=True,
        min_assurance=1,
    ),
    _service(
        "MZJ-HY-001",
        "结婚登记",
        "FZ-MZJ",
        "confirmation",
        "《婚姻登记条例》第四条至第七条",
        1,
        1,
        [_registry("party", "当事人身份信息", IDENTITY), _upload("photo", "双方合影", ("jpg", "png"), 2)],
        min_assurance=3,
    ),
    _service(
        "MZJ-DB-001",
        "最低生活保障申请",
        "FZ-MZJ",
        "payment",
        "《社会救助暂行办法》第九条至第十一条",
        30,
        20,
        [_registry("applicant", "申请人身份信息", IDENTITY), _upload("income", "家庭收入情况声明", ("pdf", "jpg"))],
        any_window=True,
        min_assurance=2,
    ),
    _service(
        "MZJ-CJ-001",
        "困难残疾人生活补贴和重度残疾人护理补贴",
        "FZ-MZJ",
        "payment",
        "《国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》（国发〔2015〕52号）",
        20,
        10,
        [_licence("disability", "残疾人证", "残疾人证"), _registry("applicant", "申请人身份信息", IDENTITY)],
        any_window=True,
        min_assurance=2,
    ),
    _service(
        "GJJ-TQ-001",
        "购房提取住房公积金",
        "FZ-GJJ",
        "payment",
        "《住房公积金管理条例》第二十四条",
        3,
        1,
        [_licence("property", "不动产权证书", "不动产权证书"), _registry("depositor", "缴存职工身份信息", CONTACT)],
        conditions="购买、建造、翻建、大修自住住房",
        any_window=True,
        online_only=True,
        min_assurance=2,
    ),
    _service(
        "GJJ-TX-001",
        "离退休提取住房公积金",
        "FZ-GJJ",
        "payment",
        "《住房公积金管理条例》第二十四条",
        3,
        1,
        [_registry("depositor", "缴存职工身份信息", CONTACT), _upload("retirement", "离退休证明", ("pdf", "jpg"))],
        any_window=True,
        online_only=True,
        min_assurance=2,
    ),
    _service(
        "RSJ-SBK-001",
        "社会保障卡申领",
        "FZ-RSJ",
        "public_service",
        "《中华人民共和国社会保险法》第五十八条",
        20,
        10,
        [_registry("holder", "参保人身份信息", IDENTITY), _upload("photo", "数码相片", ("jpg", "png"), 1)],
        any_window=True,
        min_assurance=1,
    ),
    _service(
        "RSJ-SY-001",
        "失业保险金申领",
        "FZ-RSJ",
        "payment",
        "《失业保险条例》第十四条、第十六条",
        10,
        3,
        [
            _registry("insured", "参保人身份信息", CONTACT),
            _upload("termination", "终止或解除劳动合同证明", ("pdf", "jpg")),
        ],
        any_window=True,
        online_only=True,
        min_assurance=2,
    ),
    _service(
        "RSJ-ZG-001",
        "职业资格证书核发",
        "FZ-RSJ",
        "licensing",
        "《中华人民共和国职业教育法》；《国家职业资格目录》",
        20,
        10,
        [_registry("holder", "申请人身份信息", IDENTITY), _upload("score", "考试合格证明", ("pdf",))],
        min_assurance=2,
    ),
    _service(
        "WJW-CS-001",
        "出生医学证明首次签发",
        "FZ-WJW",
        "confirmation",
        "《中华人民共和国母婴保健法》第二十三条",
        5,
        1,
        [_registry("mother", "母亲身份信息", IDENTITY), _upload("delivery", "分娩记录", ("pdf",))],
        min_assurance=2,
    ),
    _service(
        "WJW-YS-001",
        "医师执业注册",
        "FZ-WJW",
        "licensing",
        "《中华人民共和国医师法》第十三条",
        20,
        10,
        [
            _registry("physician", "医师身份信息", IDENTITY),
            _licence("qualification", "医师资格证书", "职业资格证书"),
            _upload("health", "健康证明", ("pdf", "jpg")),
        ],
        min_assurance=2,
    ),
    _service(
        "CGW-WJ-001",
        "城市道路挖掘许可",
        "FZ-CGW",
        "licensing",
        "《城市道路管理条例》第三十条、第三十三条",
        20,
        5,
        [_licence("business_licence", "营业执照", "营业执照"), _upload("plan", "施工方案", ("pdf", "ofd"), 20)],
        min_assurance=2,
        applicant_kind="entity",
    ),
    _service(
        "LYJ-LXS-001",
        "旅行社设立许可",
        "FZ-LYJ",
        "licensing",
        "《旅行社条例》第六条、第七条",
        20,
        10,
        [_licence("business_licence", "营业执照", "营业执照"), _upload("premises", "经营场所证明")],
        any_window=True,
        min_assurance=2,
        applicant_kind="entity",
    ),
)


def hall_seed() -> dict[str, int]:
    """Departments the hall needs beyond the base list, the services, the holiday calendar, the officers' role."""
    with transaction.atomic():
        for code, name, short in EXTRA_DEPARTMENTS:
            Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": short})
    existing = set(ServiceItem.objects.values_list("code", flat=True))
    added = 0
    for data in SERVICES:
        if data["code"] not in existing and Department.objects.filter(code=data["department"]).exists():
            service_item_upsert(data=data, actor=SYSTEM)
            added += 1
    days = calendar_seed(china(), actor=SYSTEM)
    for role in Role.objects.select_related("group").filter(group__name__in=HALL_ROLES):
        current = {
            f"{p.content_type.app_label}.{p.codename}" for p in role.group.permissions.select_related("content_type")
        }
        if not current >= HALL_PERMISSIONS:
            role_define(
                name=role.group.name, duty=role.duty, description=role.description,
                permissions=sorted(current | HALL_PERMISSIONS), city_wide=role.city_wide, actor=SYSTEM,
            )  # fmt: skip
    hall_company_seed()
    return {"services": added, "calendar_days": days}


COMPANY_ACCOUNT = "company"


def hall_company_seed() -> LegalEntity | None:
    """The demo company representative (account `company`): bound at L2 to the registered legal representative of
    the first active company holding a valid business licence (营业执照) whose representative no other account is
    bound to, and holding the identity platform's representation of it (claimed as the legal representative), so it
    applies for the company's food-business permit with the business licence prefilled. Idempotent."""
    account = User.objects.filter(username=COMPANY_ACCOUNT, kind=AccountKind.COMPANY_REPRESENTATIVE).first()
    if account is None:
        return None
    held = [r.legal_entity for r in representation_list_for_user(user=account) if r.user_id == account.pk]
    if held:
        return held[0]
    bound = User.objects.exclude(pk=account.pk).exclude(id_number_index="").values("id_number_index")
    licensed = Licence.objects.filter(licence_type__code=LICENCE_TYPES["营业执照"], status=LicenceStatus.VALID).values(
        "holder_index"
    )
    entities = (
        LegalEntity.objects.select_related("legal_representative")
        .filter(status=EntityStatus.ACTIVE, legal_representative__isnull=False, credit_code__in=licensed)
        .exclude(legal_representative__id_number_index__in=bound)
        .order_by("id")
    )
    if account.id_number_index:
        entities = entities.filter(legal_representative__id_number_index=account.id_number_index)
    entity = entities.first()
    if entity is None or entity.legal_representative is None:
        return None
    if account.id_number_index != entity.legal_representative.id_number_index:
        account = assurance_set_by_system(user=account, person=entity.legal_representative, level=AssuranceLevel.L2,
                                          actor=SYSTEM, reason="demo company representative")  # fmt: skip
    representation_claim(user=account, credit_code=entity.credit_code)
    return entity
