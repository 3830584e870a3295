"""A service whose materials all come from the government's own records (a property certificate and the population
registry) and whose result is a residence permit (居住证), with the departments, keys and licence types it needs."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import User
from rongcheng.hall.models import ServiceItem
from rongcheng.hall.tests import factories as f
from rongcheng.licences.models import Licence, LicenceType
from rongcheng.licences.services import licence_issue, licence_type_define
from rongcheng.licences.tests import factories as lf
from rongcheng.registries.selectors import person_for_resident

MOHURD = "11100000000013338W"
PROPERTY_TYPE = MOHURD + "060"
RESIDENCE_TYPE = MOHURD + "061"
PROPERTY_FACE = {"location": "福州市鼓楼区五四路100号1单元101", "area_m2": 89}


def setup_licences() -> dict[str, Any]:
    gaj = lf.with_key(lf.department("FZ-GAJ", "福州市公安局", serial=3))
    gtj = lf.with_key(lf.department("FZ-GTJ", "福州市国土资源局", serial=4))
    property_type = licence_type_define(
        code=PROPERTY_TYPE, name="不动产权证书", department_id=gtj.pk, holder_kind="person", validity_years=None,
        face_schema=[{"name": "location", "label": "坐落", "type": "string", "required": True, "personal": True},
                     {"name": "area_m2", "label": "面积（平方米）", "type": "integer", "required": True}],
        actor=lf.SYSTEM,
    )  # fmt: skip
    licence_type_define(
        code=RESIDENCE_TYPE, name="居住证", department_id=gaj.pk, holder_kind="person", validity_years=1,
        face_schema=[{"name": "residence_address", "label": "居住地址", "type": "string", "required": True},
                     {"name": "original_residence", "label": "户籍地", "type": "string", "required": True}],
        actor=lf.SYSTEM, one_valid_per_holder=True,
    )  # fmt: skip
    item = f.service(
        "GAJ-JZZ-001", name="居住证办理", department="FZ-GAJ", any_window=True, issues_licence_type=RESIDENCE_TYPE,
        materials=[
            {"code": "holder", "name": "申领人身份信息", "source": "registry",
             "fields": ["person.name", "person.id_number", "person.address"]},
            {"code": "property", "name": "合法稳定住所证明（不动产权证书）", "source": "licence",
             "licence_type": PROPERTY_TYPE},
        ],
        result_face={"residence_address": "property:location", "original_residence": "holder:person.address"},
    )  # fmt: skip
    land_clerk = lf.officer(gtj, "gtj-clerk")
    return {"gaj": gaj, "gtj": gtj, "item": item, "property_type": property_type, "land_clerk": land_clerk}


def police_officer(username: str | None = None) -> User:
    officer = f.officer(username, dept=f.department("FZ-GAJ", "福州市公安局"))
    officer.user_permissions.add(Permission.objects.get(content_type__app_label="licences", codename="add_licence"))
    return User.objects.get(pk=officer.pk)


def property_for(resident: User, setup: dict[str, Any]) -> Licence:
    return licence_issue(
        licence_type=setup["property_type"], holder=person_for_resident(user=resident), face=dict(PROPERTY_FACE),
        actor=setup["land_clerk"],
    )  # fmt: skip


def residence_type() -> LicenceType:
    return LicenceType.objects.get(code=RESIDENCE_TYPE)


__all__ = ["ServiceItem", "police_officer", "property_for", "residence_type", "setup_licences"]
