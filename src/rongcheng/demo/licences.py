"""Demo electronic licences: a dozen real licence types with their face fields, department signing keys, and
licences issued (through the services, really signed) to the first demo persons and entities, among them the demo
resident's own person. Idempotent: a second run adds nothing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils.translation import gettext_noop

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.kernel.identifiers import credit_code_make
from rongcheng.licences.keys import department_key_rotate
from rongcheng.licences.models import DepartmentKey, KeyStatus, Licence, LicenceType
from rongcheng.licences.services import licence_issue, licence_type_define
from rongcheng.registries.models import EntityStatus, LegalEntity, Person, PersonStatus

SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")
MOHURD = "11100000000013338W"  # 住房和城乡建设部 (standards.md §5)


def _definer(serial: int) -> str:
    """A synthetic USCC of a national definer of licence types (the real ones are not all published)."""
    return credit_code_make(registration_department="1", category="1", division_code="100000",
                            organization_body=f"0000{serial:04d}")  # fmt: skip


def department_credit_code(serial: int) -> str:
    return credit_code_make(registration_department="1", category="1", division_code="350100",
                            organization_body=f"00{serial:06d}")  # fmt: skip


def _f(name: str, label: str, kind: str = "string", *, required: bool = True, personal: bool = False,
       public: bool = False, choices: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """A face field; `public` ones are shown by the public verification, every other one is masked there."""
    field: dict[str, Any] = {"name": name, "label": label, "type": kind, "required": required, "personal": personal,
                             "public": public}  # fmt: skip
    if choices:
        field["choices"] = list(choices)
    return field


EXTRA_DEPARTMENTS = (
    ("FZ-GTJ", "福州市国土资源局", "市国土局"),
    ("FZ-JTW", "福州市交通运输委员会", "市交通委"),
    ("FZ-GHJ", "福州市规划局", "市规划局"),
    ("FZ-CLW", "福州市残疾人联合会", "市残联"),
)

# (type code, name, issuing department, holder kind, validity in years, face schema, sample face)
# Types a holder has one valid licence of at a time: a second is issued only as a renewal or replacement.
ONE_VALID_PER_HOLDER = frozenset({"营业执照", "居民身份证", "机动车驾驶证", "居住证"})
# Types the demo resident applies for in the stories (README "Try these stories"), so does not hold yet.
APPLIED_FOR_BY_THE_RESIDENT = frozenset({"居住证"})

LICENCE_TYPES: tuple[tuple[str, str, str, str, int | None, list[dict[str, Any]], dict[str, Any]], ...] = (
    (
        _definer(1) + "001",
        "营业执照",
        "FZ-GSJ",
        "entity",
        None,
        [
            _f("entity_type", gettext_noop("类型"), public=True),
            _f("legal_representative", gettext_noop("法定代表人"), personal=True),
            _f("registered_capital", gettext_noop("注册资本"), public=True),
            _f("established_on", gettext_noop("成立日期"), "date", public=True),
            _f("business_scope", gettext_noop("经营范围"), public=True),
            _f("address", gettext_noop("住所"), required=False, public=True),
        ],
        {
            "entity_type": "有限责任公司",
            "legal_representative": "林则徐",
            "registered_capital": "壹佰万元整",
            "established_on": "2010-05-01",
            "business_scope": "软件开发；信息技术咨询服务；餐饮服务",
            "address": "福州市鼓楼区东街1号",
        },
    ),
    (
        _definer(1) + "002",
        "食品经营许可证",
        "FZ-GSJ",
        "entity",
        5,
        [
            _f(
                "operator_kind",
                "主体业态",
                "enum",
                public=True,
                choices=("食品销售经营者", "餐饮服务经营者", "单位食堂"),
            ),
            _f("business_items", gettext_noop("经营项目"), public=True),
            _f("premises", gettext_noop("经营场所"), public=True),
        ],
        {"operator_kind": "餐饮服务经营者", "business_items": "热食类食品制售", "premises": "福州市鼓楼区东街1号"},
    ),
    (
        _definer(2) + "001",
        "居民身份证",
        "FZ-GAJ",
        "person",
        20,
        [
            _f("sex", gettext_noop("性别"), "enum", choices=("男", "女")),
            _f("ethnicity", gettext_noop("民族")),
            _f("birth_date", gettext_noop("出生"), "date", personal=True),
            _f("address", gettext_noop("住址"), personal=True),
        ],
        {"sex": "男", "ethnicity": "汉", "birth_date": "1985-03-12", "address": "福州市鼓楼区三坊七巷1号"},
    ),
    (
        _definer(2) + "002",
        "机动车驾驶证",
        "FZ-GAJ",
        "person",
        6,
        [
            _f(
                "permitted_class",
                "准驾车型",
                "enum",
                public=True,
                choices=("A1", "A2", "B1", "B2", "C1", "C2", "D", "E"),
            ),
            _f("first_issued_on", gettext_noop("初次领证日期"), "date", public=True),
            _f("address", gettext_noop("住址"), personal=True),
        ],
        {"permitted_class": "C1", "first_issued_on": "2008-07-01", "address": "福州市鼓楼区三坊七巷1号"},
    ),
    (
        _definer(2) + "003",
        "居住证",
        "FZ-GAJ",
        "person",
        1,
        [
            _f("residence_address", gettext_noop("居住地址"), personal=True),
            _f("original_residence", gettext_noop("户籍地"), personal=True),
        ],
        {"residence_address": "福州市台江区上下杭2号", "original_residence": "福建省莆田市"},
    ),
    (
        _definer(3) + "001",
        "结婚证",
        "FZ-MZJ",
        "person",
        None,
        [
            _f("spouse_name", gettext_noop("配偶姓名"), personal=True),
            _f("spouse_id_number", gettext_noop("配偶身份证件号"), personal=True),
            _f("registered_on", gettext_noop("登记日期"), "date", public=True),
            _f("registry_office", gettext_noop("登记机关"), public=True),
        ],
        {
            "spouse_name": "郑淑卿",
            "spouse_id_number": "350102198701010024",
            "registered_on": "2012-10-01",
            "registry_office": "福州市鼓楼区民政局",
        },
    ),
    (
        _definer(4) + "001",
        "不动产权证书",
        "FZ-GTJ",
        "person",
        None,
        [
            _f("unit_number", gettext_noop("不动产单元号")),
            _f("location", gettext_noop("坐落"), personal=True),
            _f(
                "right_type",
                gettext_noop("权利类型"),
                "enum",
                choices=("国有建设用地使用权/房屋所有权", "集体土地使用权"),
            ),
            _f("area_m2", gettext_noop("面积（平方米，整数）"), "integer"),
            _f("shared", gettext_noop("共有"), "boolean", required=False),
        ],
        {
            "unit_number": "350102001001GB00001F00010001",
            "location": "福州市鼓楼区五四路100号1单元101",
            "right_type": "国有建设用地使用权/房屋所有权",
            "area_m2": 89,
            "shared": False,
        },
    ),
    (
        _definer(5) + "001",
        "职业资格证书",
        "FZ-RSJ",
        "person",
        None,
        [
            _f("occupation", gettext_noop("职业（工种）"), public=True),
            _f("level", gettext_noop("等级"), "enum", public=True, choices=("五级", "四级", "三级", "二级", "一级")),
            _f("assessed_on", gettext_noop("鉴定日期"), "date", public=True),
        ],
        {"occupation": "计算机程序设计员", "level": "三级", "assessed_on": "2015-06-20"},
    ),
    (
        _definer(6) + "001",
        "残疾人证",
        "FZ-CLW",
        "person",
        10,
        [
            _f(
                "category",
                "残疾类别",
                "enum",
                choices=("视力", "听力", "言语", "肢体", "智力", "精神", "多重"),
                personal=True,
            ),
            _f("grade", gettext_noop("残疾等级"), "enum", choices=("一级", "二级", "三级", "四级"), personal=True),
        ],
        {"category": "肢体", "grade": "四级"},
    ),
    (
        _definer(7) + "001",
        "出生医学证明",
        "FZ-WJW",
        "person",
        None,
        [
            _f("born_at", gettext_noop("出生时间"), "date", personal=True),
            _f("birthplace", gettext_noop("出生地点")),
            _f("mother_name", gettext_noop("母亲姓名"), personal=True),
            _f("father_name", gettext_noop("父亲姓名"), personal=True, required=False),
            _f("institution", gettext_noop("接生机构"), public=True),
        ],
        {
            "born_at": "1985-03-12",
            "birthplace": "福建省福州市",
            "mother_name": "郑氏",
            "institution": "福建省妇幼保健院",
        },
    ),
    (
        _definer(8) + "001",
        "道路运输经营许可证",
        "FZ-JTW",
        "entity",
        4,
        [
            _f("scope", gettext_noop("经营范围"), public=True),
            _f("permit_number", gettext_noop("许可证号"), public=True),
        ],
        {"scope": "普通货运", "permit_number": "闽交运管许可榕字350100000001号"},
    ),
    (
        MOHURD + "050",
        "建设工程规划许可证",
        "FZ-GHJ",
        "entity",
        None,
        [
            _f("project", gettext_noop("建设项目名称"), public=True),
            _f("location", gettext_noop("建设位置"), public=True),
            _f("scale_m2", gettext_noop("建设规模（平方米）"), "integer", public=True),
        ],
        {"project": "榕城科技园一期", "location": "福州市鼓楼区软件大道89号", "scale_m2": 56000},
    ),
)
PERSON_HOLDERS = 40
ENTITY_HOLDERS = 15


def _ensure_departments() -> dict[str, Department]:
    for code, name, short in EXTRA_DEPARTMENTS:
        Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": short})
    codes = sorted({t[2] for t in LICENCE_TYPES})
    departments = {d.code: d for d in Department.objects.filter(code__in=codes)}
    for position, code in enumerate(sorted(departments), start=1):
        department = departments[code]
        if not department.credit_code:
            department.credit_code = department_credit_code(position)
            department.save(update_fields=["credit_code"])
        if not DepartmentKey.objects.filter(department=department, status=KeyStatus.ACTIVE).exists():
            department_key_rotate(department=department, actor=SYSTEM)
    return departments


def _issuing_system(department: Department) -> User:
    """The department's own licence system (an API client account) that issues on its behalf in the demo."""
    user, created = User.objects.get_or_create(
        username=f"licences-{department.code.lower()}",
        defaults={"kind": AccountKind.API_CLIENT, "department": department, "display_name": f"{department}证照系统"},
    )
    if created:
        user.set_unusable_password()
        user.save()
        permissions = Permission.objects.filter(
            content_type__app_label="licences", codename__in=("add_licence", "change_licence", "view_licence")
        )
        user.user_permissions.add(*permissions)
    return User.objects.get(pk=user.pk)


def face_from_registry(type_name: str, sample: dict[str, Any], holder: Person | LegalEntity) -> dict[str, Any]:
    """A licence's face as the registries know its holder: the sample's fields that the registry also holds (sex,
    birth date, address, legal representative, date of establishment) are the registry's, so a licence never
    contradicts the registry it was issued from; the rest (a permitted class, a floor area) stays the sample."""
    face = dict(sample)
    address = holder.address.text if holder.address_id and holder.address else None
    if isinstance(holder, Person):
        registry: dict[str, Any] = {"sex": "男" if holder.sex == "male" else "女",
                                    "birth_date": holder.birth_date.isoformat()}  # fmt: skip
        if address:
            registry.update(address=address, location=address)
        fields = {"居民身份证": ("sex", "birth_date", "address"), "机动车驾驶证": ("address",),
                  "不动产权证书": ("location",)}.get(type_name, ())  # fmt: skip
    else:
        representative = holder.legal_representative
        registry = {"established_on": holder.established_on.isoformat() if holder.established_on else None,
                    "legal_representative": representative.name if representative else None,
                    "entity_type": holder.entity_type or None,
                    "address": address, "premises": address, "location": address}  # fmt: skip
        fields = {"营业执照": ("established_on", "legal_representative", "entity_type", "address"),
                  "食品经营许可证": ("premises",)}.get(type_name, ())  # fmt: skip
    face.update({name: registry[name] for name in fields if registry.get(name)})
    if isinstance(holder, Person):  # a birth date or sex anywhere on a licence is the one the ID number says
        for name in ("birth_date", "born_at"):
            if name in face:
                face[name] = holder.birth_date.isoformat()
        if "sex" in face:
            face["sex"] = "男" if holder.sex == "male" else "女"
    return face


def demo_licences_seed() -> int:
    """Types, keys and licences of the demo city; returns the number of licences added."""
    departments = _ensure_departments()
    types: list[tuple[LicenceType, dict[str, Any]]] = []
    for code, name, department_code, holder_kind, years, schema, face in LICENCE_TYPES:
        licence_type = LicenceType.objects.filter(code=code).first() or licence_type_define(
            code=code, name=name, department_id=departments[department_code].pk, holder_kind=holder_kind,
            face_schema=schema, validity_years=years, actor=SYSTEM, one_valid_per_holder=name in ONE_VALID_PER_HOLDER,
        )  # fmt: skip
        types.append((licence_type, face))
    if Licence.objects.filter(source="demo").exists():
        return 0
    persons = list(
        Person.objects.select_related("address").filter(status=PersonStatus.LIVING).order_by("id")[:PERSON_HOLDERS]
    )
    entities = list(
        LegalEntity.objects.select_related("address", "legal_representative")
        .filter(status=EntityStatus.ACTIVE)
        .order_by("id")[:ENTITY_HOLDERS]
    )
    added = 0
    with transaction.atomic():
        for position, (licence_type, face) in enumerate(types):
            issuer = _issuing_system(licence_type.department)
            holders: list[Person | LegalEntity] = list(persons if licence_type.holder_kind == "person" else entities)
            # Everyone gets an ID card record; other types go to a rotating share, the first person gets all.
            chosen = holders if position == 2 else [h for i, h in enumerate(holders) if i == 0 or i % 3 == position % 3]
            if licence_type.name in APPLIED_FOR_BY_THE_RESIDENT:  # the first person is the demo resident
                chosen = [holder for holder in chosen if holder is not holders[0]]
            for holder in chosen:
                licence_issue(
                    licence_type=licence_type, holder=holder, face=face_from_registry(licence_type.name, face, holder),
                    actor=issuer, source="demo",
                )  # fmt: skip
                added += 1
    return added
