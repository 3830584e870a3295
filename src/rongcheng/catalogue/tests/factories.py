"""Test data for the catalogue, built through its services."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.services import Actor
from rongcheng.catalogue import services
from rongcheng.catalogue.models import DataResource

SYSTEM = Actor.system("tests")
_numbers = itertools.count(1)


def department(code: str = "FZ-GSJ", name: str = "福州市市场监督管理局") -> Department:
    return Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": name[3:]})[0]


def staff(*codenames: str, dept: Department | None = None, username: str | None = None) -> User:
    user = User.objects.create_user(
        username=username or f"staff{next(_numbers)}", password="Rc-test-2017!", kind=AccountKind.STAFF,
        department=dept or department(), is_staff=True,
    )  # fmt: skip
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="catalogue", codename=codename))
    return User.objects.get(pk=user.pk)


def editor(dept: Department | None = None) -> User:
    return staff("edit_dataresource", dept=dept)


def steward(dept: Department | None = None) -> User:
    return staff("steward_dataresource", "edit_dataresource", dept=dept)


def requester(dept: Department | None = None) -> User:
    return staff("request_sharing", dept=dept or department("FZ-MZJ", "福州市民政局"))


def office() -> User:
    return staff("manage_catalogue", dept=department("FZ-SZB", "福州市数字福州建设领导小组办公室"))


ITEMS = [
    {"name": "credit_code", "type": "text", "description": "统一社会信用代码"},
    {"name": "name", "type": "text", "description": "名称"},
    {"name": "capital", "type": "number", "description": "注册资本（万元）"},
    {"name": "established", "type": "date", "description": "成立日期"},
    {"name": "legal_person", "type": "text", "description": "法定代表人", "personal": True},
]


def resource_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "市场主体登记信息", "category": "departmental", "classification": "01001",
        "summary": "本市市场主体的登记信息。", "items": ITEMS, "format": "database",
        "sharing_type": "conditional", "sharing_condition": "用于市场监管和政务服务", "sharing_method": "api",
        "open_type": "not_open", "open_condition": "含个人信息", "update_cycle": 1,
    }  # fmt: skip
    data.update(overrides)
    return data


def resource(provider: Department | None = None, **overrides: Any) -> DataResource:
    provider = provider or department()
    return services.data_resource_create(provider_code=provider.code, data=resource_data(**overrides), actor=SYSTEM)


CSV_OK = (
    "credit_code,name,capital,established,legal_person\n"
    "91350100MA2XXXXX01,榕城科技有限公司,100,2017-03-01,张三\n"
    "91350100MA2XXXXX02,闽江贸易有限公司,50.5,2018-07-15,李四\n"
).encode()


def published(
    name: str, *, org: Department | None = None, backing: str = "accounts.departments", tags: tuple[str, ...] = (),
    private: bool = False, fmt: str = "CSV", notes: str = "本数据集由平台数据生成，按更新周期发布。", **extra: Any,
):  # fmt: skip
    """A dataset published the only way there is: an editor drafts and asks, the data steward approves."""
    org = org or department()
    editor_user = editor(org)
    steward_user = steward(org)
    services.dataset_create(
        organization_code=org.code, name=name,
        data={"title": name.replace("-", " "), "notes": notes, "tags": list(tags), "private": private,
              "license_id": "cc-by-4.0", "update_cycle": 30,
              "resources": [{"name": f"{name} 数据", "format": fmt, "backing": backing}], **extra},
        actor=editor_user,
    )  # fmt: skip
    services.publication_request(name=name, actor=editor_user)
    services.publication_approve(name=name, actor=steward_user)
    from rongcheng.catalogue.models import Dataset

    return Dataset.objects.get(name=name)
