"""A company applying through its representatives: a legal entity with its business licence (营业执照), the legal
representative who claimed it in the identity platform, a delegated agent (经办人), and a food-business permit
(食品经营许可) service for legal entities whose result is a 食品经营许可证 held by the entity."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import Permission

from rongcheng.accounts.models import User
from rongcheng.hall.tests import factories as f
from rongcheng.identity.clock import clock
from rongcheng.identity.models import Representation
from rongcheng.identity.services import representation_claim, representation_delegate, representation_revoke
from rongcheng.licences.models import Licence, LicenceType
from rongcheng.licences.services import licence_issue, licence_type_define
from rongcheng.licences.tests import factories as lf
from rongcheng.registries.selectors import person_for_resident
from rongcheng.registries.tests.factories import make_entity

BUSINESS_TYPE = "11100000000013338W070"
FOOD_TYPE = lf.FOOD_TYPE_CODE
BUSINESS_FACE = {"entity_type": "有限责任公司", "business_scope": "餐饮服务；食品销售"}
SERVICE = "GSJ-SP-001"


def setup_company() -> dict[str, Any]:
    gsj = lf.with_key(lf.department("FZ-GSJ", "福州市市场监督管理局", serial=7))
    business_type = licence_type_define(
        code=BUSINESS_TYPE, name="营业执照", department_id=gsj.pk, holder_kind="entity", validity_years=None,
        face_schema=[{"name": "entity_type", "label": "类型", "type": "string", "required": True},
                     {"name": "business_scope", "label": "经营范围", "type": "string", "required": True}],
        actor=lf.SYSTEM,
    )  # fmt: skip
    lf.food_type(gsj)
    item = f.service(
        SERVICE, name="食品经营许可", department="FZ-GSJ", any_window=True, applicant_kind="entity",
        issues_licence_type=FOOD_TYPE,
        materials=[
            {"code": "business_licence", "name": "营业执照", "source": "licence", "licence_type": BUSINESS_TYPE},
            {"code": "representative", "name": "经办人身份信息", "source": "registry",
             "fields": ["person.name", "person.id_number"]},
        ],
        result_face={"business_scope": "business_licence:business_scope", "premises": "=福州市鼓楼区东街1号"},
    )  # fmt: skip
    boss = f.applicant("boss")
    entity = make_entity(name="福州闽都餐饮有限公司", legal_representative_id=person_for_resident(user=boss).pk)
    claimed = representation_claim(user=boss, credit_code=entity.credit_code)
    agent = f.applicant("agent")
    delegated = representation_delegate(
        user=boss, credit_code=entity.credit_code, delegate_username="agent",
        valid_until=clock.now() + dt.timedelta(days=30),
    )  # fmt: skip
    clerk = lf.officer(gsj, "gsj-clerk")
    business = licence_issue(licence_type=business_type, holder=entity, face=dict(BUSINESS_FACE), actor=clerk)
    officer = f.officer("gsj-officer", dept=gsj)
    officer.user_permissions.add(Permission.objects.get(content_type__app_label="licences", codename="add_licence"))
    return {
        "gsj": gsj, "item": item, "entity": entity, "boss": boss, "agent": agent, "claimed": claimed,
        "delegated": delegated, "business": business, "clerk": clerk,
        "officer": User.objects.get(pk=officer.pk), "outsider": f.applicant("outsider"),
    }  # fmt: skip


def revoke(representation: Representation, by: User) -> None:
    representation_revoke(user=by, representation_id=representation.pk)


def food_type() -> LicenceType:
    return LicenceType.objects.get(code=FOOD_TYPE)


__all__ = ["Licence", "revoke", "setup_company"]
