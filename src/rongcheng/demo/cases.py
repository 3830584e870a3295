"""The demo city's digital city management: the GB/T 30428 major classes with a realistic set of minor classes, the
units that handle them and a routing table by district, the command centre's roles and staff, grid workers on the
grid cells of 鼓楼区, an Open311 key for a department system, and over the last 90 days cases in every district,
open and closed, each walked through the services. Idempotent: a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from PIL import Image

from rongcheng.accounts.models import Department, User
from rongcheng.audit.services import Actor
from rongcheng.cases import services as cases
from rongcheng.cases.models import Case, CaseEvent, Category, GridAssignment, Open311Key, Route, UnitRole
from rongcheng.demo.models import SeedChunk
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.staff.models import Duty, Role, RoleAssignment
from rongcheng.staff.services import role_define, role_grant_by_system

SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")
OPEN311_SYSTEM = "福州水务集团工单系统（演示）"
CASES_SEED = 2017

UNITS: tuple[tuple[str, str, str], ...] = (
    ("FZ-SZGC", "福州市市政工程管理处", "市政处"),
    ("FZ-YLJ", "福州市园林局", "市园林局"),
    ("FZ-HWC", "福州市环境卫生管理处", "市环卫处"),
    ("FZ-CGZF", "福州市城市管理综合执法支队", "市城管执法支队"),
    ("FZ-JJZD", "福州市公安局交通警察支队", "市交警支队"),
    ("FZ-SWJT", "福州水务集团有限公司", "水务集团"),
    ("FZ-12345", "福州市12345便民服务平台", "12345平台"),
)
# The district 城市管理局 that handle street order and cleanliness events in their district.
DISTRICT_UNITS = {
    "350102": ("FZ-GL-CGJ", "福州市鼓楼区城市管理局", "鼓楼区城管局"),
    "350103": ("FZ-TJ-CGJ", "福州市台江区城市管理局", "台江区城管局"),
    "350104": ("FZ-CS-CGJ", "福州市仓山区城市管理局", "仓山区城管局"),
    "350111": ("FZ-JA-CGJ", "福州市晋安区城市管理局", "晋安区城管局"),
}

C, E = "component", "event"
# kind, major code, major name, minor code, name, default unit, (normal, unit), (urgent, unit), options
CATEGORIES: tuple[tuple[Any, ...], ...] = (
    (C, "01", "公用设施类", "01", "上水井盖", "FZ-SWJT", (2, "days"), (2, "hours"), {}),
    (C, "01", "公用设施类", "02", "污水井盖", "FZ-SZGC", (2, "days"), (2, "hours"), {}),
    (C, "01", "公用设施类", "03", "雨水井盖", "FZ-SZGC", (2, "days"), (2, "hours"), {}),
    (C, "01", "公用设施类", "04", "雨水箅子", "FZ-SZGC", (2, "days"), (4, "hours"), {}),
    (C, "01", "公用设施类", "11", "燃气井盖", "FZ-SZGC", (1, "days"), (1, "hours"), {}),
    (C, "01", "公用设施类", "14", "消防栓", "FZ-SWJT", (3, "days"), (4, "hours"), {}),
    (C, "01", "公用设施类", "21", "路灯", "FZ-SZGC", (3, "days"), (8, "hours"), {}),
    (C, "02", "道路交通类", "06", "交通标志牌", "FZ-JJZD", (5, "days"), (8, "hours"), {}),
    (C, "02", "道路交通类", "07", "交通信号灯", "FZ-JJZD", (1, "days"), (2, "hours"), {}),
    (C, "02", "道路交通类", "12", "道路护栏", "FZ-SZGC", (5, "days"), (8, "hours"), {}),
    (C, "02", "道路交通类", "03", "公交站亭", "FZ-SZGC", (5, "days"), (8, "hours"), {}),
    (C, "03", "市容环境类", "01", "公共厕所", "FZ-HWC", (3, "days"), (4, "hours"), {}),
    (C, "03", "市容环境类", "05", "垃圾箱", "FZ-HWC", (3, "days"), (8, "hours"), {}),
    (C, "04", "园林绿化类", "02", "行道树", "FZ-YLJ", (5, "days"), (4, "hours"), {}),
    (C, "04", "园林绿化类", "03", "护树设施", "FZ-YLJ", (5, "days"), (8, "hours"), {}),
    (C, "04", "园林绿化类", "04", "绿地", "FZ-YLJ", (5, "days"), (8, "hours"), {}),
    (C, "05", "房屋土地类", "03", "宣传栏", "FZ-CGZF", (5, "days"), (8, "hours"), {}),
    (C, "06", "其他设施类", "02", "工地", "FZ-CGZF", (5, "days"), (4, "hours"), {}),
    (E, "01", "市容环境类", "01", "私搭乱建", "FZ-CGZF", (10, "days"), (1, "days"), {"anonymous_allowed": False}),
    (E, "01", "市容环境类", "02", "暴露垃圾", "FZ-HWC", (1, "days"), (2, "hours"), {}),
    (E, "01", "市容环境类", "03", "积存垃圾渣土", "FZ-HWC", (2, "days"), (4, "hours"), {}),
    (E, "01", "市容环境类", "04", "道路不洁", "FZ-HWC", (1, "days"), (2, "hours"), {"duplicate_radius_m": 100}),
    (E, "01", "市容环境类", "05", "水域不洁", "FZ-HWC", (2, "days"), (4, "hours"), {"duplicate_radius_m": 200}),
    (E, "02", "宣传广告类", "01", "非法小广告", "FZ-CGZF", (2, "days"), (8, "hours"), {}),
    (E, "02", "宣传广告类", "02", "违规户外广告", "FZ-CGZF", (10, "days"), (1, "days"), {}),
    (E, "03", "施工管理类", "01", "施工扰民", "FZ-CGZF", (1, "days"), (2, "hours"), {}),
    (E, "03", "施工管理类", "02", "工地扬尘", "FZ-CGZF", (1, "days"), (4, "hours"), {}),
    (E, "03", "施工管理类", "03", "道路遗撒", "FZ-HWC", (1, "days"), (2, "hours"), {}),
    (E, "03", "施工管理类", "05", "无证掘路", "FZ-SZGC", (2, "days"), (4, "hours"), {}),
    (E, "04", "突发事件类", "01", "路面塌陷", "FZ-SZGC", (1, "days"), (1, "hours"), {"photos_to_close": 2}),
    (E, "04", "突发事件类", "02", "自来水管破裂", "FZ-SWJT", (1, "days"), (1, "hours"), {}),
    (E, "04", "突发事件类", "04", "下水道堵塞", "FZ-SWJT", (1, "days"), (2, "hours"), {}),
    (E, "04", "突发事件类", "05", "道路积水", "FZ-SZGC", (1, "days"), (1, "hours"), {"duplicate_radius_m": 200}),
    (E, "05", "街面秩序类", "01", "无照经营游商", "FZ-CGZF", (1, "days"), (2, "hours"), {}),
    (E, "05", "街面秩序类", "02", "流浪乞讨", "FZ-CGZF", (1, "days"), (4, "hours"), {"sensitive": True}),
    (E, "05", "街面秩序类", "04", "店外经营", "FZ-CGZF", (1, "days"), (4, "hours"), {}),
    (E, "05", "街面秩序类", "05", "机动车乱停放", "FZ-JJZD", (1, "days"), (2, "hours"), {}),
    (E, "05", "街面秩序类", "06", "非机动车乱停放", "FZ-CGZF", (1, "days"), (4, "hours"), {}),
)
# Street-order and cleanliness events in the four central districts go to the district's 城市管理局.
DISTRICT_ROUTED = ("E0101", "E0102", "E0201", "E0501", "E0504", "E0506")

# role: (description, permissions, city-wide)
ROLES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "数字城管受理员": ("监督中心：立案、不予立案、并单、结案。", ("cases.register_case",), True),
    "数字城管派遣员": (
        "指挥中心：派遣、退单仲裁、审批延期和缓办、督办；查看统计。",
        ("cases.dispatch_case", "cases.view_statistics"),
        True,
    ),
    "数字城管值班长": (
        "指挥中心值班长：立案与派遣、派遣规则和网格员、Open311 接口密钥、统计。",
        ("cases.register_case", "cases.dispatch_case", "cases.manage_routing", "cases.manage_open311key",
         "cases.view_statistics"),
        True,
    ),
    "处置单位人员": ("专业部门：接收、处置、反馈本单位的案卷，申请延期或缓办，退单。", ("cases.handle_case",), False),
    "网格员": ("网格员：在负责的网格上报问题、简易程序处置、核查处置结果。", ("cases.verify_case",), True),
    "热线话务员": ("12345 热线：受理来电、回访。", ("cases.take_call", "cases.view_statistics"), True),
}  # fmt: skip
# username: (role, display name, department code) — accounts made by demo.services with the other demo accounts.
GRANTS: dict[str, str] = {
    "cgintake": "数字城管受理员",
    "cgdispatch": "数字城管派遣员",
    "cgchief": "数字城管值班长",
    "roadunit": "处置单位人员",
    "gridworker": "网格员",
    "hotline": "热线话务员",
}
DEMO_ACCOUNTS: tuple[tuple[str, str, str, str, str, bool, str], ...] = (
    ("cgintake", "数字城管受理员", "staff", "FZ-CGW", "", False, "city cases: registers, rejects, merges, closes"),
    ("cgdispatch", "数字城管派遣员", "staff", "FZ-CGW", "", False, "city cases: dispatches, arbitrates, supervises"),
    ("cgchief", "数字城管值班长", "staff", "FZ-CGW", "", False, "city cases: routing, grid workers, Open311 keys"),
    ("roadunit", "市政处处置人员", "staff", "FZ-SZGC", "", False, "city cases: the municipal works unit's officer"),
    ("gridworker", "鼓楼区网格员", "staff", "FZ-CGW", "", False, "city cases: grid worker of 鼓楼区's first cells"),
    ("hotline", "12345话务员", "staff", "FZ-12345", "", False, "city cases: hotline operator, call-backs"),
)
DESCRIPTIONS = ("井盖缺失，行人容易踩空", "路灯不亮已经三天", "垃圾堆放在路边没人清理", "有人在人行道上摆摊",
                "雨后路面积水很深", "小广告贴满了电线杆", "工地夜间施工噪音很大", "行道树倒伏挡住了路")  # fmt: skip


def units_seed() -> int:
    added = 0
    for code, name, short in (*UNITS, *DISTRICT_UNITS.values()):
        _, created = Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": short})
        added += created
    return added


def categories_seed() -> int:
    added = 0
    for kind, major, major_name, minor, name, unit, normal, urgent, options in CATEGORIES:
        code = ("C" if kind == C else "E") + major + minor
        defaults = {
            "kind": kind, "major_code": major, "major_name": major_name, "minor_code": minor, "name": name,
            "default_unit": Department.objects.get(code=unit), "normal_limit": normal[0], "normal_unit": normal[1],
            "urgent_limit": urgent[0], "urgent_unit": urgent[1], **options,
        }  # fmt: skip
        added += cases.category_upsert_by_system(actor=SYSTEM, code=code, defaults=defaults)[1]
    return added


def routes_seed() -> int:
    """The district rows of the routing table (written as the system: the demo has no 值班长 signed in yet)."""
    added = 0
    for district, (unit_code, _name, _short) in DISTRICT_UNITS.items():
        unit = Department.objects.get(code=unit_code)
        for code in DISTRICT_ROUTED:
            _, created = Route.objects.get_or_create(
                category=cases.category_get(code), cell_code="", street_code=district, unit=unit,
                defaults={"role": UnitRole.MAIN},
            )  # fmt: skip
            added += created
    # Cleanliness events on the main roads: the environmental sanitation office assists the district.
    return added


def roles_seed() -> int:
    defined = set(Role.objects.values_list("group__name", flat=True))
    for name, (description, permissions, city_wide) in ROLES.items():
        if name not in defined:
            role_define(name=name, duty=Duty.BUSINESS, description=description, permissions=permissions,
                        city_wide=city_wide, actor=SYSTEM)  # fmt: skip
    granted = 0
    for username, role_name in GRANTS.items():
        user = User.objects.select_related("department").filter(username=username).first()
        role = Role.objects.select_related("group").filter(group__name=role_name).first()
        if user is None or role is None:
            continue
        if RoleAssignment.objects.filter(user=user, role=role, revoked_at__isnull=True).exists():
            continue
        department = None if ROLES[role_name][2] else user.department
        with transaction.atomic():
            role_grant_by_system(user=user, role=role, department=department, actor=SYSTEM)
        granted += 1
    worker = User.objects.filter(username="gridworker").first()
    if worker is not None and not GridAssignment.objects.filter(worker=worker).exists():
        for code in (
            GridCell.objects.filter(code__startswith="350102001").order_by("code").values_list("code", flat=True)[:4]
        ):
            GridAssignment.objects.create(worker=worker, cell_code=code)
    return granted


def open311_key_seed(accounts_file: Path) -> None:
    """One key for a department system, its line in the accounts file (`open311<TAB>key`); issued again only when
    the line was lost (the key itself is never stored)."""
    lines = accounts_file.read_text(encoding="utf-8").splitlines() if accounts_file.exists() else []
    if any(line.startswith("open311\t") for line in lines):
        return
    _row, key = cases.open311_key_issue_by_system(name=OPEN311_SYSTEM, actor=SYSTEM)
    lines.append(f"open311\t{key}\t# Open311 api_key of {OPEN311_SYSTEM}: POST /open311/v2/requests.json")
    accounts_file.touch(mode=0o600, exist_ok=True)
    accounts_file.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _jpeg(rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(buffer, "JPEG")
    return buffer.getvalue()


def cases_seed(count: int = 240, seed: int = CASES_SEED) -> int:
    """Cases in every district over the last 90 days, walked through the services to the step each has reached,
    then dated back to their day (the timeline moves with them)."""
    if SeedChunk.objects.filter(kind="cases", seed=seed).exists():
        return 0
    staff = {u.username: u for u in User.objects.filter(username__in=GRANTS)}
    if len(staff) < len(GRANTS):
        return 0
    rng = random.Random(seed)
    counties = list(
        Division.objects.filter(level=DivisionLevel.COUNTY, valid_to__isnull=True).values_list("code", flat=True)
    )
    cells_by_county: dict[str, list[GridCell]] = {}
    for cell in GridCell.objects.order_by("code"):
        cells_by_county.setdefault(cell.code[:6], []).append(cell)
    categories = [c for c in Category.objects.filter(active=True).order_by("code") if c.anonymous_allowed]
    worker_cells = set(GridAssignment.objects.filter(worker=staff["gridworker"]).values_list("cell_code", flat=True))
    now = timezone.now()
    made = 0
    for index in range(count):
        county = counties[index % len(counties)]
        cells = cells_by_county.get(county)
        if not cells:
            continue
        cell = rng.choice(cells)
        lon = rng.uniform(cell.min_lon, cell.max_lon)
        lat = rng.uniform(cell.min_lat, cell.max_lat)
        category = rng.choice(categories)
        hotline = index % 5 == 0
        with transaction.atomic():
            case = cases.case_report(
                channel="hotline" if hotline else "api", category_code=category.code,
                description=rng.choice(DESCRIPTIONS), lon=lon, lat=lat, user=staff["hotline"] if hotline else None,
                address=f"{cell.name}附近", hotline_kind="complaint" if hotline else "",
                caller_phone="13800000000" if hotline else "", system_label="" if hotline else "市民随手拍（演示）",
                photos=[_jpeg(rng)],
            )  # fmt: skip
            _walk(case, rng, staff, worker_cells, case.cell_code)
            age = dt.timedelta(days=rng.uniform(0, 90))
            _date_back(case, now - age)
        made += 1
    SeedChunk.objects.create(kind="cases", seed=seed, index=0, size=made)
    return made


def _walk(case: Case, rng: random.Random, staff: dict[str, User], worker_cells: set[str], cell: str) -> None:
    """Take the case to a random stage: about a third stay open at some step, the rest are closed."""
    stage = rng.random()
    take = cases.case_transition
    if stage < 0.08:
        return
    if stage < 0.12:
        take(user=staff["cgintake"], number=case.number, name="reject", reason="不属于城市管理范围")
        return
    take(user=staff["cgintake"], number=case.number, name="register")
    if stage < 0.18:
        return
    unit = Department.objects.get(code="FZ-SZGC")
    take(user=staff["cgdispatch"], number=case.number, name="dispatch", unit_codes=[unit.code])
    if stage < 0.26:
        return
    take(user=staff["roadunit"], number=case.number, name="start")
    if stage < 0.34:
        return
    take(user=staff["roadunit"], number=case.number, name="report_back",
         photos=[_jpeg(rng) for _ in range(case.category.photos_to_close)])  # fmt: skip
    verifier = staff["gridworker"] if cell in worker_cells else None
    if verifier is None:
        # Cells without a demo grid worker: verified by the platform's own grid worker of the case's cell, the
        # demo gives the 网格员 these cells too.
        GridAssignment.objects.get_or_create(worker=staff["gridworker"], cell_code=cell)
        worker_cells.add(cell)
        verifier = staff["gridworker"]
    if stage < 0.4:
        return
    take(user=verifier, number=case.number, name="verify_pass")
    take(user=staff["cgintake"], number=case.number, name="close")
    if case.channel == "hotline":
        take(user=staff["hotline"], number=case.number, name="callback", rating=rng.choice((4, 5, 5, 3)))


def _date_back(case: Case, when: dt.datetime) -> None:
    """Move the case and its timeline to `when`, keeping the intervals between its steps."""
    shift = when - case.created_at
    Case.objects.filter(pk=case.pk).update(created_at=when, updated_at=when + dt.timedelta(hours=6))
    for field in ("registered_at", "dispatched_at", "closed_at", "deadline", "arbitration_deadline"):
        value = getattr(Case.objects.get(pk=case.pk), field)
        if value is not None:
            Case.objects.filter(pk=case.pk).update(**{field: value + shift})
    for event in CaseEvent.objects.filter(case=case):
        CaseEvent.objects.filter(pk=event.pk).update(at=event.at + shift)


def demo_cases_seed(accounts_file: Path, count: int = 240) -> dict[str, int]:
    report = {
        "units": units_seed(),
        "categories": categories_seed(),
        "routes": routes_seed(),
        "grants": roles_seed(),
    }
    open311_key_seed(accounts_file)
    report["cases"] = cases_seed(count)
    report["keys"] = Open311Key.objects.count()
    return report
