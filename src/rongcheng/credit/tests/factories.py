"""Public-credit test data built through the services: the credit office, reporting departments, memoranda, lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.credit import services
from rongcheng.credit.models import ListEntry, Memorandum
from rongcheng.licences.tests import factories as lf

PENALTY: dict[str, Any] = {
    "kind": "penalty", "subject_kind": "entity", "subject_name": "福州某某食品有限公司",
    "subject_code": "91350100MA2XN1Y057", "legal_representative": "王某",
    "legal_representative_id": "350102198503120018",
    "document_name": "行政处罚决定书", "document_number": "榕市监罚〔2026〕12号", "category": "罚款",
    "content": "罚款人民币贰万元整", "violation_type": "食品安全", "violation_facts": "经营超过保质期的食品",
    "basis": "《中华人民共和国食品安全法》第一百二十四条", "fine_amount": "2", "decided_on": "2026-11-20",
}  # fmt: skip


def _staff(username: str, dept: Department, *codenames: str) -> User:
    user = User.objects.create_user(
        username=username, password="Rc-test-2017!", kind=AccountKind.STAFF, department=dept, is_staff=True,
        display_name=username,
    )  # fmt: skip
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="credit", codename=codename))
    return User.objects.get(pk=user.pk)


def office_department() -> Department:
    dept = lf.department("FZ-FGW", "福州市发展和改革委员会", serial=9)
    from rongcheng.licences.models import DepartmentKey

    if not DepartmentKey.objects.filter(department=dept).exists():
        lf.with_key(dept)
    return dept


def office(username: str = "xyb") -> User:
    return _staff(username, office_department(), "manage_lists", "review_repair")


def reporter(username: str = "gsj-credit", code: str = "FZ-GSJ", name: str = "福州市市场监督管理局") -> User:
    return _staff(username, lf.department(code, name, serial=7), "report_record")


def memorandum(list_type: str = "black", code: str = "MEMO-SX", user: User | None = None) -> Memorandum:
    return services.memorandum_save(
        user=user or office("memo-" + code.lower()),
        data={"code": code, "title": "关于对失信被执行人实施联合惩戒的合作备忘录" if list_type == "black"
              else "关于对纳税信用A级纳税人实施联合激励措施的合作备忘录",
              "document_number": "发改财金〔2016〕141号", "list_type": list_type, "signed_on": "2016-01-20",
              "measures": [{"code": "M1", "text": "限制取得政府供应土地", "departments": "国土资源部门"},
                           {"code": "M2", "text": "限制参与政府采购", "departments": "财政部门"}]},
    )  # fmt: skip


def listed(user: User, *, code: str, name: str, kind: str = "entity", list_type: str = "black",
           memo: str = "MEMO-SX", listed_on: dt.date = dt.date(2026, 1, 5), **more: Any) -> ListEntry:  # fmt: skip
    lf.department("FZ-GSJ", "福州市市场监督管理局", serial=7)
    data = {"list_type": list_type, "list_name": "失信被执行人" if list_type == "black" else "纳税信用A级纳税人",
            "subject_kind": kind, "subject_code": code, "subject_name": name, "department": "FZ-GSJ",
            "legal_basis": "《最高人民法院关于公布失信被执行人名单信息的若干规定》", "memorandum": memo,
            "listed_on": listed_on.isoformat(), **more}  # fmt: skip
    return services.list_entry_add(user=user, data=data)
