"""City-case test data: a small grid in 鼓楼区, units, categories and the staff of each role, built through the
services where they exist."""

from __future__ import annotations

import io
import itertools
from typing import Any

from django.contrib.auth.models import Permission
from PIL import Image

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.cases import services
from rongcheng.cases.models import Case, Category, GridAssignment
from rongcheng.divisions.models import Division, DivisionLevel, GridCell

SYSTEM = Actor(kind="system", id="tests", label="test setup")
_numbers = itertools.count(1)
# Cell 01 of 鼓楼区 东街街道 某社区: a box around this point; CELL2 next to it in another street.
LON, LAT = 119.2965, 26.0865
CELL = "35010200100101"
CELL2 = "35010200200101"
OUTSIDE = (121.47, 31.23)  # Shanghai


def jpeg(size: tuple[int, int] = (32, 24), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def department(code: str, name: str) -> Department:
    return Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": name[3:]})[0]


def grid() -> None:
    city, _ = Division.objects.get_or_create(
        code="350100", defaults={"name": "福州市", "level": DivisionLevel.PREFECTURE}
    )
    county, _ = Division.objects.get_or_create(
        code="350102", defaults={"name": "鼓楼区", "level": DivisionLevel.COUNTY, "parent": city}
    )
    for street_code, street_name, cell, x0 in (
        ("350102001", "东街街道", CELL, 119.29),
        ("350102002", "南街街道", CELL2, 119.30),
    ):
        street, _ = Division.objects.get_or_create(
            code=street_code, defaults={"name": street_name, "level": DivisionLevel.STREET, "parent": county}
        )
        community, _ = Division.objects.get_or_create(
            code=street_code + "001", defaults={"name": "第一社区", "level": DivisionLevel.COMMUNITY, "parent": street}
        )
        x1, y0, y1 = x0 + 0.01, 26.08, 26.09
        GridCell.objects.get_or_create(
            code=cell,
            defaults={
                "name": "01网格",
                "community": community,
                "polygon": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
                "min_lon": x0,
                "min_lat": y0,
                "max_lon": x1,
                "max_lat": y1,
            },
        )


def category(code: str = "C0101", **fields: Any) -> Category:
    unit = department("FZ-SZ", "福州市市政工程中心")
    defaults: dict[str, Any] = {
        "kind": "component" if code.startswith("C") else "event",
        "major_code": code[1:3],
        "major_name": "公用设施类",
        "minor_code": code[3:5],
        "name": "井盖",
        "default_unit": unit,
        "normal_limit": 3,
        "normal_unit": "days",
        "urgent_limit": 4,
        "urgent_unit": "hours",
        "photos_to_close": 1,
        "duplicate_radius_m": 50,
    }
    defaults.update(fields)
    return services.category_upsert_by_system(actor=SYSTEM, code=code, defaults=defaults)[0]


def world() -> Category:
    grid()
    return category()


def _user(kind: str, permissions: tuple[str, ...], dept: Department | None, username: str | None) -> User:
    user = User.objects.create_user(
        username=username or f"u{next(_numbers)}",
        password="Rc-test-2017!",
        kind=kind,
        department=dept,
        is_staff=kind == AccountKind.STAFF,
        display_name="测试",
    )
    for codename in permissions:
        app, _, name = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(codename=name, content_type__app_label=app))
    return User.objects.get(pk=user.pk)


def resident(username: str | None = None) -> User:
    return _user(AccountKind.RESIDENT, (), None, username)


def centre(username: str | None = None) -> User:
    """受理员 and 派遣员 in one (the command centre)."""
    dept = department("FZ-CGW", "福州市城市管理委员会")
    return _user(AccountKind.STAFF, ("cases.register_case", "cases.dispatch_case"), dept, username)


def unit_officer(code: str = "FZ-SZ", name: str = "福州市市政工程中心", username: str | None = None) -> User:
    return _user(AccountKind.STAFF, ("cases.handle_case",), department(code, name), username)


def grid_worker(cell: str = CELL, username: str | None = None) -> User:
    user = _user(AccountKind.STAFF, ("cases.verify_case",), department("FZ-CGW", "福州市城市管理委员会"), username)
    GridAssignment.objects.create(worker=user, cell_code=cell)
    return user


def operator(username: str | None = None) -> User:
    return _user(AccountKind.STAFF, ("cases.take_call",), department("FZ-12345", "福州市12345便民服务平台"), username)


def staff(*permissions: str, username: str | None = None) -> User:
    return _user(AccountKind.STAFF, permissions, department("FZ-CGW", "福州市城市管理委员会"), username)


def reported(user: User | None = None, **fields: Any) -> Case:
    data: dict[str, Any] = {
        "channel": "resident",
        "category_code": "C0101",
        "description": "井盖缺失",
        "lon": LON,
        "lat": LAT,
        "user": user,
        "photos": [jpeg()],
    }
    data.update(fields)
    return services.case_report(**data)


def walk(case: Case, *steps: tuple[User, str], **options: Any) -> Case:
    for user, name in steps:
        case = services.case_transition(user=user, number=case.number, name=name, **options.get(name, {}))
    return case
