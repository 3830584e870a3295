"""Service-hall test data built through the services: services, applicants bound to persons, officers."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import AccountKind, AssuranceLevel, Department, User
from rongcheng.audit.services import Actor
from rongcheng.hall import services
from rongcheng.hall.models import Application, ServiceItem
from rongcheng.registries.tests.factories import make_person

SYSTEM = Actor(kind="system", id="tests", label="test setup")
_numbers = itertools.count(1)
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def department(code: str = "FZ-GSJ", name: str = "福州市市场监督管理局") -> Department:
    return Department.objects.get_or_create(code=code, defaults={"name": name, "short_name": name[3:]})[0]


def service(code: str = "GSJ-001", *, materials: list[dict[str, Any]] | None = None, **fields: Any) -> ServiceItem:
    data: dict[str, Any] = {
        "code": code, "name": "个体工商户设立登记", "department": "FZ-GSJ", "kind": "licensing",
        "legal_basis": "《促进个体工商户发展条例》", "statutory_days": 15, "promised_days": 3, "min_assurance": 2,
        "any_window": True, "issues_licence_type": "",
        "materials": materials if materials is not None else [
            {"code": "identity", "name": "经营者身份信息", "source": "registry",
             "fields": ["person.name", "person.id_number", "person.address"]},
            {"code": "premises", "name": "经营场所证明", "source": "upload", "formats": ["pdf", "jpg", "png"],
             "max_bytes": 1024},
        ],
    }  # fmt: skip
    data.update(fields)
    department(data["department"]) if data["department"] == "FZ-GSJ" else None
    return services.service_item_upsert(data=data, actor=SYSTEM)


def applicant(username: str | None = None, *, level: int = AssuranceLevel.L2, email: str = "") -> User:
    person = make_person()
    user = User.objects.create_user(
        username=username or f"resident{next(_numbers)}", password="Rc-test-2017!", kind=AccountKind.RESIDENT,
        assurance_level=level, email=email, id_number_index=person.id_number_index,
    )  # fmt: skip
    return user


def officer(username: str | None = None, *, dept: Department | None = None, can_decide: bool = True) -> User:
    user = User.objects.create_user(
        username=username or f"officer{next(_numbers)}", password="Rc-test-2017!", kind=AccountKind.STAFF,
        department=dept or department(), is_staff=True,
    )  # fmt: skip
    if can_decide:
        user.user_permissions.add(Permission.objects.get(codename="decide_application"))
    return User.objects.get(pk=user.pk)  # a fresh instance: no cached permissions


def submitted(user: User, item: ServiceItem) -> Application:
    application = services.application_start(user=user, service_code=item.code)
    services.application_prefill(user=user, application_id=application.pk, authorize_licences=True)
    for spec in item.materials:
        if spec["source"] == "upload":
            services.application_upload(
                user=user, application_id=application.pk, material_code=spec["code"], file_name="a.pdf", content=PDF
            )
    return services.application_submit(user=user, application_id=application.pk)


def walk(application: Application, officer_user: User, *names: str, reason: str = "理由") -> Application:
    for name in names:
        if name == "resubmit":
            application = services.application_resubmit(user=application.applicant, application_id=application.pk)
        else:
            application = services.application_transition(
                user=officer_user, application_id=application.pk, transition=name, reason=reason
            )
    return application
