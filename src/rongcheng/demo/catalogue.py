"""The demo city's data catalogue and open data, written through the catalogue's services (idempotent).

- accounts (before the identity seed, so they get their authenticator): `data-editor` (编目员) and `data-steward`
  (数据管理员) of the market regulator, `data-civil` (编目员) of civil affairs, `data-office` (数据共享管理员 of the
  digital office, city-wide);
- a catalogue resource for every department, the base resources (人口, 法人, 空间地理, 电子证照) shared without
  conditions, one conditional resource with rows uploaded by its department and one not shared;
- twenty-two open datasets or more over several organizations, backed by the platform's own data and published through
  an editor's request and a data steward's approval;
- a pending sharing request; an overdue one (民政局 asked 公安局 for 户籍人口个人信息 three weeks ago and had no answer
  within the ten working days: flagged and escalated to the digital office, whose 共享申请 page lists it); and an API
  token of the market regulator for the CKAN Action API, written to the
  demo accounts file on a line beginning `ckan-token`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor, audit_record
from rongcheng.catalogue import services
from rongcheng.catalogue.models import DataResource, Dataset, DepartmentApiToken, SharingRequest
from rongcheng.catalogue.services import provider_columns
from rongcheng.hall.models import ServiceItem
from rongcheng.hall.selectors import city_today, working_days_add
from rongcheng.registries.models import LegalEntity
from rongcheng.staff.models import Duty, Role, RoleAssignment
from rongcheng.staff.services import role_define, role_grant_by_system

SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")
EDIT = ("catalogue.edit_dataresource", "catalogue.request_sharing")
ROLES: dict[str, tuple[bool, str, tuple[str, ...]]] = {
    "编目员": (False, "编目本部门的政务信息资源、上传数据、起草开放数据集，申请共享。", EDIT),
    "数据管理员": (False, "审核本部门开放数据集的发布，答复共享申请，签发接口令牌。",
                   ("catalogue.steward_dataresource", "catalogue.request_sharing")),
    "数据共享管理员": (True, "市数字办：管理全市目录，协调共享争议。", ("catalogue.manage_catalogue",)),
}  # fmt: skip
# username: (display name, department, role, whole city)
ACCOUNTS = {
    "data-editor": ("市场监管局编目员", "FZ-GSJ", "编目员", False),
    "data-steward": ("市场监管局数据管理员", "FZ-GSJ", "数据管理员", False),
    "data-civil": ("民政局编目员", "FZ-MZJ", "编目员", False),
    "data-office": ("市数字办数据共享管理员", "FZ-SZB", "数据共享管理员", True),
}
# What `demo` prints beside each of them (story 6 of the README signs in as data-civil and data-steward).
ACCOUNT_DESCRIPTIONS = {
    "data-editor": "data catalogue: FZ-GSJ's cataloguer, drafts open datasets and asks to publish them",
    "data-steward": "data catalogue: FZ-GSJ's data steward, answers sharing requests, approves publication",
    "data-civil": "data catalogue: FZ-MZJ's cataloguer, asks other departments to share their data",
    "data-office": "data catalogue: the digital office, the whole catalogue and sharing disputes",
}
GROUPS = (("population", "人口与社会"), ("economy", "经济与市场"), ("government", "政务服务"),
          ("spatial", "空间地理"))  # fmt: skip


def demo_catalogue_accounts(accounts_file: Path) -> int:
    """The catalogue's demo staff and their roles; passwords appended to the accounts file. Returns accounts made."""
    defined = set(Role.objects.values_list("group__name", flat=True))
    for name, (city_wide, description, permissions) in ROLES.items():
        if name not in defined:
            role_define(name=name, duty=Duty.BUSINESS, description=description, permissions=permissions,
                        city_wide=city_wide, actor=SYSTEM)  # fmt: skip
    made = 0
    lines = []
    for username, (display, code, role_name, city_wide) in ACCOUNTS.items():
        department = Department.objects.filter(code=code).first()
        if department is None:
            continue
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User(username=username, display_name=display, kind=AccountKind.STAFF, department=department,
                        is_staff=True)  # fmt: skip
            user.set_password(password)
            with transaction.atomic():
                user.save()
                audit_record(action="accounts.user.create", actor=SYSTEM, target_type="accounts.user",
                             target_id=str(user.pk))  # fmt: skip
            lines.append(f"{username}\t{password}\n")
            made += 1
        role = Role.objects.get(group__name=role_name)
        if not RoleAssignment.objects.filter(user=user, role=role, revoked_at__isnull=True).exists():
            with transaction.atomic():
                role_grant_by_system(user=user, role=role, department=None if city_wide else department, actor=SYSTEM)
    _append(accounts_file, lines)
    return made


def demo_catalogue_accounts_shown(accounts_file: Path) -> list[tuple[str, str, str]]:
    """The catalogue's demo accounts as `demo` prints them: (username, password from the accounts file, role)."""
    known: dict[str, str] = {}
    if accounts_file.exists():
        for line in accounts_file.read_text(encoding="utf-8").splitlines():
            username, _, columns = line.partition("\t")
            known.setdefault(username, columns.partition("\t")[0])
    return [
        (username, known.get(username, "(set before; unchanged)"), ACCOUNT_DESCRIPTIONS[username])
        for username in ACCOUNTS
        if User.objects.filter(username=username).exists()
    ]


def _append(accounts_file: Path, lines: list[str]) -> None:
    if not lines:
        return
    accounts_file.touch(mode=0o600, exist_ok=True)
    with accounts_file.open("a", encoding="utf-8") as out:
        out.writelines(lines)


def _items(backing: str) -> list[dict[str, Any]]:
    return [{"name": c.name, "type": c.type, "description": c.description, "personal": c.personal}
            for c in provider_columns(backing)]  # fmt: skip


def _resource(provider: str, name: str, **data: Any) -> DataResource | None:
    existing = DataResource.objects.filter(provider__code=provider, name=name).first()
    if existing is not None:
        return existing
    if not Department.objects.filter(code=provider).exists():
        return None
    backing = data.get("backing", "")
    defaults: dict[str, Any] = {
        "name": name, "category": "departmental", "classification": "01001", "format": "database",
        "sharing_type": "unconditional", "sharing_method": "api", "open_type": "open", "update_cycle": 30,
        "items": _items(backing) if backing else [],
    }  # fmt: skip
    return services.data_resource_create(provider_code=provider, data={**defaults, **data}, actor=SYSTEM)


def _catalogue_resources() -> None:
    _resource("FZ-GAJ", "人口基础信息（分区县汇总）", category="base", classification="01001",
              summary="户籍人口按区县和性别汇总，人数过少的单元格隐去。", backing="registries.population_by_division",
              open_type="open", update_cycle=30)  # fmt: skip
    _resource("FZ-GSJ", "法人基础信息（分区县汇总）", category="base", classification="02001",
              summary="市场主体按区县、类型和登记状态汇总。", backing="registries.entities_by_division")  # fmt: skip
    _resource("FZ-SZB", "行政区划与单元网格", category="base", classification="03001", format="geospatial",
              summary="全市区县、街道、社区和单元网格（CJ/T 213）。", backing="divisions.grid_cells",
              update_cycle=365)  # fmt: skip
    _resource("FZ-FWZX", "电子证照签发统计", category="base", classification="05001",
              summary="电子证照按类型和持证主体类型汇总的签发量。", backing="licences.licences_by_type")  # fmt: skip
    _resource("FZ-GAJ", "刑事案件侦办信息", category="departmental", classification="10001",
              summary="刑事案件的侦办过程信息。", sharing_type="not_shared",
              sharing_condition="《刑事诉讼法》第一百五十二条：侦查中知悉的信息应当保密。", open_type="not_open",
              open_condition="涉及侦查秘密和个人信息。", update_cycle=0,
              items=[{"name": "case_number", "type": "text", "description": "案件编号"},
                     {"name": "suspect", "type": "text", "description": "嫌疑人", "personal": True}])  # fmt: skip
    _resource("FZ-GAJ", "户籍人口个人信息", category="departmental", classification="10003",
              summary="户籍人口的个人登记信息，经共享授权逐条读取；个人信息项默认脱敏，明文须提供方同意，每次读取本人可查。",
              backing="registries.persons", sharing_type="conditional",
              sharing_condition="仅用于法定职责范围内的政务服务和社会救助审核；明文字段须说明依据。",
              open_type="not_open",
              open_condition="个人信息；开放数据仅提供汇总。", update_cycle=1)  # fmt: skip
    annual = _resource(
        "FZ-GSJ", "市场主体年报信息", category="departmental", classification="10002", format="spreadsheet",
        summary="市场主体报送的年度报告摘要。", sharing_type="conditional",
        sharing_condition="用于市场监管、信用评价和政务服务审核。", open_type="conditional",
        open_condition="企业年报公示信息可查询，批量数据不开放。", update_cycle=365,
        items=[{"name": "credit_code", "type": "text", "description": "统一社会信用代码"},
               {"name": "name", "type": "text", "description": "市场主体名称"},
               {"name": "entity_type", "type": "text", "description": "主体类型"},
               {"name": "established", "type": "date", "description": "成立日期"}],
    )  # fmt: skip
    editor = User.objects.filter(username="data-editor").first()
    if annual is not None and editor is not None and not annual.rows.exists() and LegalEntity.objects.exists():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["credit_code", "name", "entity_type", "established"])
        for entity in LegalEntity.objects.order_by("id")[:200]:
            writer.writerow([entity.credit_code, entity.name, entity.entity_type, entity.established_on.isoformat()])
        services.resource_rows_upload(code=annual.code, file_name="annual-reports.csv",
                                      content=buffer.getvalue().encode("utf-8"), actor=editor)  # fmt: skip
    for number, department in enumerate(Department.objects.order_by("code"), start=1):
        _resource(department.code, f"{department.short_name or department.name}政务服务事项目录",
                  classification=f"20{number:03d}", summary=f"{department.name}实施的政务服务事项及其办理时限。",
                  backing="hall.service_items", backing_params={"department": department.code})  # fmt: skip


def _datasets() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, organization, title, fields) of the open datasets."""
    rows: list[tuple[str, str, str, dict[str, Any]]] = [
        ("data-resource-catalogue", "FZ-SZB", "福州市政务信息资源目录",
         {"backing": "catalogue.resources", "groups": ["government"], "tags": ["目录", "政务"]}),
        ("departments", "FZ-SZB", "福州市政务部门名录", {"backing": "accounts.departments", "groups": ["government"],
                                                          "tags": ["部门", "政务"]}),
        ("divisions-counties", "FZ-SZB", "福州市区县行政区划", {"backing": "divisions.divisions",
                                                             "params": {"level": "county"}, "groups": ["spatial"],
                                                             "tags": ["行政区划"], "cycle": 365}),
        ("divisions-streets", "FZ-SZB", "福州市街道乡镇", {"backing": "divisions.divisions",
                                                         "params": {"level": "street"}, "groups": ["spatial"],
                                                         "tags": ["行政区划"], "cycle": 365}),
        ("divisions-communities", "FZ-SZB", "福州市社区村", {"backing": "divisions.divisions",
                                                           "params": {"level": "community"}, "groups": ["spatial"],
                                                           "tags": ["行政区划"], "cycle": 365}),
        ("grid-cells", "FZ-SZB", "福州市单元网格", {"backing": "divisions.grid_cells", "format": "GeoJSON",
                                                  "groups": ["spatial"], "tags": ["网格", "空间"], "cycle": 365}),
        ("addresses-by-division", "FZ-GAJ", "标准地址数量（分区县）", {"backing": "registries.addresses_by_division",
                                                                    "groups": ["spatial"], "tags": ["地址"]}),
        ("population-by-division", "FZ-GAJ", "户籍人口（分区县分性别）",
         {"backing": "registries.population_by_division", "groups": ["population"], "tags": ["人口"]}),
        ("population-by-birth-decade", "FZ-GAJ", "户籍人口（分出生年代）",
         {"backing": "registries.population_by_birth_decade", "groups": ["population"], "tags": ["人口"]}),
        ("market-entities", "FZ-GSJ", "市场主体数量（分区县分类型）",
         {"backing": "registries.entities_by_division", "groups": ["economy"], "tags": ["企业", "市场主体"]}),
        ("applications-by-service", "FZ-FWZX", "政务服务办件量（分事项）",
         {"backing": "hall.applications_by_service", "groups": ["government"], "tags": ["办件", "政务服务"]}),
        ("licences-by-type", "FZ-FWZX", "电子证照签发量（分类型）",
         {"backing": "licences.licences_by_type", "groups": ["government"], "tags": ["电子证照"]}),
        ("services-all", "FZ-FWZX", "福州市政务服务事项目录", {"backing": "hall.service_items", "format": "JSON",
                                                             "groups": ["government"], "tags": ["政务服务"]}),
    ]  # fmt: skip
    departments = dict(Department.objects.values_list("code", "name"))
    for code in sorted(set(ServiceItem.objects.values_list("department__code", flat=True))):
        rows.append((f"services-{code.lower()}", code, f"{departments.get(code, code)}政务服务事项",
                     {"backing": "hall.service_items", "params": {"department": code}, "groups": ["government"],
                      "tags": ["政务服务"]}))  # fmt: skip
    return rows


def _publish(name: str, organization: str, title: str, spec: dict[str, Any]) -> bool:
    if Dataset.objects.filter(name=name).exists() or not Department.objects.filter(code=organization).exists():
        return False
    office = User.objects.get(username="data-office")
    own_editor = organization == "FZ-GSJ"
    requester: User | None = User.objects.get(username="data-editor") if own_editor else None
    approver = User.objects.get(username="data-steward") if own_editor else office
    backing = spec["backing"]
    data = {
        "title": title,
        "notes": f"{title}。数据来自榕城数字政府平台的{services.provider_title(backing)}，按更新周期自动发布；"
        "由个人信息汇总的数据，人数少于阈值的单元格已隐去。",
        "tags": spec.get("tags", []), "groups": spec.get("groups", []), "license_id": "cc-by-4.0",
        "update_cycle": spec.get("cycle", 30),
        "resources": [{"name": title, "format": spec.get("format", "CSV"), "backing": backing,
                       "backing_params": spec.get("params", {})}],
    }  # fmt: skip
    services.dataset_create(organization_code=organization, name=name, data=data, actor=requester or SYSTEM)
    services.publication_request_by_system(name=name, requester=requester)
    services.publication_approve(name=name, actor=approver)
    return True


def demo_catalogue_late_seed() -> int:
    """The resources and open datasets of city cases and public credit, seeded after those apps' own data so that
    their first published revision has rows; returns datasets published now."""
    if not User.objects.filter(username="data-office").exists():
        return 0
    _resource("FZ-CGW", "城市管理案卷信息", category="thematic", classification="04001",
              summary="数字城管案卷：问题类别、位置、办理状态和时限。上报人信息不提供；敏感类别只到地名、坐标约 100 "
                      "米精度；问题描述可能含个人信息，默认脱敏，明文须提供方同意。",
              backing="cases.cases", sharing_type="conditional",
              sharing_condition="用于城市管理、应急处置和政务服务监督；问题描述明文须说明依据。",
              open_type="conditional", open_condition="逐条案卷不开放，开放分月分区县分类别的汇总。",
              update_cycle=1)  # fmt: skip
    _resource("FZ-CGW", "城市管理案卷统计", category="thematic", classification="04002",
              summary="按上报月份、区县和问题类别汇总的案卷数、结案数和按时结案数。",
              backing="cases.cases_by_category", update_cycle=30)  # fmt: skip
    _resource("FZ-FGW", "信用信息双公示", category="base", classification="04001",
              summary="行政许可和行政处罚等信用信息，按公示期提供；自然人姓名和身份证号脱敏，已修复的记录不再提供。",
              backing="credit.public_records", open_type="conditional",
              open_condition="逐条记录在信用门户按主体查询公示，批量数据只开放汇总。", update_cycle=1)  # fmt: skip
    _resource("FZ-FGW", "信用信息双公示统计", category="base", classification="04002",
              summary="按报送部门、信息类别和主体类型汇总的公示记录数，记录过少的单元格隐去。",
              backing="credit.records_by_department", update_cycle=30)  # fmt: skip
    rows = (
        ("city-cases-by-category", "FZ-CGW", "城市管理案卷数量（分月分区县分类别）",
         {"backing": "cases.cases_by_category", "groups": ["government"], "tags": ["数字城管", "案卷"]}),
        ("credit-records-by-department", "FZ-FGW", "信用信息双公示数量（分部门分类别）",
         {"backing": "credit.records_by_department", "groups": ["economy"], "tags": ["信用", "双公示"]}),
    )  # fmt: skip
    return sum(_publish(*row) for row in rows)


OVERDUE_DAYS_AGO = 21  # calendar days: past the ten working days of SHARING_ANSWER_DAYS, whatever the holidays


def _overdue_request(civil: User) -> None:
    """A conditional request its provider did not answer in time: made through the service, then dated back
    `OVERDUE_DAYS_AGO` days with the deadline the service gives a request of that day (as the demo's cases are dated
    back, demo.cases._date_back); the deadline job then flags it and escalates it to the digital office."""
    persons = DataResource.objects.filter(provider__code="FZ-GAJ", backing="registries.persons").first()
    if persons is None or SharingRequest.objects.filter(resource=persons).exists():
        return
    today = city_today()
    request = services.sharing_request_submit(
        resource_code=persons.code, items=["name", "sex", "division_code", "status"],
        purpose="最低生活保障申请人户籍核对", scenario="低保审核时核对申请人及共同生活家庭成员的户籍登记状态。",
        period_from=today, period_until=today + dt.timedelta(days=365), actor=civil,
    )  # fmt: skip
    submitted = timezone.now() - dt.timedelta(days=OVERDUE_DAYS_AGO)
    deadline = working_days_add(timezone.localtime(submitted).date(), services.SHARING_ANSWER_DAYS)
    SharingRequest.objects.filter(pk=request.pk).update(submitted_at=submitted, deadline=deadline)
    services.sharing_overdue_escalate()


def demo_catalogue_seed(accounts_file: Path) -> int:
    """Resources, open datasets, a pending and an overdue sharing request and the CKAN token; returns datasets
    published now."""
    if not User.objects.filter(username="data-office").exists():
        return 0
    for name, title in GROUPS:
        services.group_ensure(name=name, title=title)
    _catalogue_resources()
    published = sum(_publish(*row) for row in _datasets())
    civil = User.objects.filter(username="data-civil").first()
    annual = DataResource.objects.filter(provider__code="FZ-GSJ", name="市场主体年报信息").first()
    if civil is not None and annual is not None and not SharingRequest.objects.filter(resource=annual).exists():
        today = city_today()
        services.sharing_request_submit(
            resource_code=annual.code, items=["credit_code", "name", "entity_type"], purpose="社会救助对象经营情况核对",
            scenario="最低生活保障申请审核时，核对申请人名下是否有市场主体。", period_from=today,
            period_until=today + dt.timedelta(days=365), actor=civil,
        )  # fmt: skip
    if civil is not None:
        _overdue_request(civil)
    if not DepartmentApiToken.objects.filter(department__code="FZ-GSJ", name="demo", revoked_at__isnull=True).exists():
        _token, raw = services.api_token_issue(department_code="FZ-GSJ", name="demo", actor=SYSTEM)
        _append(accounts_file, [f"ckan-token-fz-gsj\t{raw}\n"])
    return published
