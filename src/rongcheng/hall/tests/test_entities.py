"""A company applies through its representatives: the applicant party is the legal entity, chosen at start and
re-checked on every applicant step; its business licence prefills the application under its authorization, which
the representative grants on its behalf; the result is issued to the entity and seen by its representatives."""

from __future__ import annotations

import pytest

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import services
from rongcheng.hall.errors import ApplicantKindRefused, RepresentationInactive
from rongcheng.hall.models import Application, ApplicationEvent, ApplicationMaterial, State
from rongcheng.hall.tests import factories as f
from rongcheng.hall.tests.entities import BUSINESS_FACE, SERVICE, revoke, setup_company
from rongcheng.licences.errors import LicenceNotUsable
from rongcheng.licences.models import HolderAuthorization, Licence, LicenceUse
from rongcheng.licences.selectors import licence_verify, licences_of_resident
from rongcheng.licences.services import licence_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    return setup_company()


def _prefilled(company, who: str = "agent") -> Application:
    user = company[who]
    application = services.application_start(user=user, service_code=SERVICE, credit_code=company["entity"].credit_code)
    services.application_prefill(user=user, application_id=application.pk, authorize_licences=True)
    return Application.objects.get(pk=application.pk)


def _counts() -> tuple[int, int, int, int, int]:
    return (
        Application.objects.count(), ApplicationEvent.objects.count(), ApplicationMaterial.objects.count(),
        LicenceUse.objects.count(), AuditRecord.objects.filter(outcome="success").count(),
    )  # fmt: skip


def test_a_delegated_agent_applies_for_the_entity_with_its_business_licence_prefilled(company):
    application = _prefilled(company)
    assert (application.applicant, application.legal_entity) == (company["agent"], company["entity"])
    business = company["business"]
    material = ApplicationMaterial.objects.get(application=application, code="business_licence")
    assert material.licence_identifier == business.identifier
    assert material.values["business_scope"] == {
        "value": BUSINESS_FACE["business_scope"],
        "source": f"licence:{business.identifier}",
        "label": "经营范围",
    }
    assert material.values["holder"]["value"] == "福州闽都餐饮有限公司"
    authorization = HolderAuthorization.objects.get(application_reference=f"hall-{application.pk}")
    assert (authorization.holder_index, authorization.granted_by) == (company["entity"].credit_code, company["agent"])
    assert list(LicenceUse.objects.values_list("licence", "kind")) == [(business.pk, "fetch")]
    # the registry material is the acting person's own identity
    assert ApplicationMaterial.objects.get(application=application, code="representative").source == "registry"


def test_the_result_is_issued_to_the_entity_and_its_representatives_see_it(company):
    application = _prefilled(company)
    services.application_submit(user=company["agent"], application_id=application.pk)
    assert LicenceUse.objects.filter(kind="use", licence=company["business"]).count() == 1
    approved = f.walk(Application.objects.get(pk=application.pk), company["officer"], "accept", "review", "approve")
    issued = Licence.objects.get(identifier=approved.issued_licence)
    assert issued.licence_type.code == "11100000000013338W051"
    assert (issued.holder_index, issued.holder_name) == (company["entity"].credit_code, "福州闽都餐饮有限公司")
    assert issued.face == {"business_scope": BUSINESS_FACE["business_scope"], "premises": "福州市鼓楼区东街1号"}
    assert licence_verify(issued.identifier).authentic
    assert issued in licences_of_resident(company["agent"])
    assert issued in licences_of_resident(company["boss"])
    assert issued not in licences_of_resident(company["outsider"])


def test_the_legal_representative_applies_too(company):
    application = _prefilled(company, "boss")
    submitted = services.application_submit(user=company["boss"], application_id=application.pk)
    assert (submitted.state, submitted.legal_entity) == (State.SUBMITTED, company["entity"])


def test_an_account_without_a_representation_cannot_start_for_the_entity(company):
    before = _counts()
    with pytest.raises(RepresentationInactive) as caught:
        services.application_start(
            user=company["outsider"], service_code=SERVICE, credit_code=company["entity"].credit_code
        )
    assert caught.value.status == 403
    assert _counts() == before
    denied = AuditRecord.objects.get(action="hall.application.start", outcome="denied")
    assert denied.detail["why"] == "representation inactive"
    assert denied.actor_id == str(company["outsider"].pk)


def test_an_unknown_credit_code_is_refused_the_same_way(company):
    with pytest.raises(RepresentationInactive):
        services.application_start(user=company["agent"], service_code=SERVICE, credit_code="91350102MA0000000X")
    assert not Application.objects.exists()


def test_after_revocation_the_agent_cannot_start(company):
    revoke(company["delegated"], company["boss"])
    before = _counts()
    with pytest.raises(RepresentationInactive):
        services.application_start(
            user=company["agent"], service_code=SERVICE, credit_code=company["entity"].credit_code
        )
    assert _counts() == before
    assert AuditRecord.objects.filter(action="hall.application.start", outcome="denied").count() == 1


def test_after_revocation_the_agent_cannot_submit_and_nothing_changes(company):
    application = _prefilled(company)
    revoke(company["delegated"], company["boss"])
    before = _counts()
    with pytest.raises(RepresentationInactive):
        services.application_submit(user=company["agent"], application_id=application.pk)
    stored = Application.objects.get(pk=application.pk)
    assert (stored.state, stored.number, stored.version) == (State.DRAFT, None, application.version)
    assert _counts() == before
    assert not LicenceUse.objects.filter(kind="use").exists()
    denied = AuditRecord.objects.get(action="hall.application.submit", outcome="denied")
    assert denied.target_id == str(application.pk)


def test_after_revocation_the_agent_cannot_prefill_or_upload(company):
    application = services.application_start(
        user=company["agent"], service_code=SERVICE, credit_code=company["entity"].credit_code
    )
    revoke(company["delegated"], company["boss"])
    before = _counts()
    with pytest.raises(RepresentationInactive):
        services.application_prefill(user=company["agent"], application_id=application.pk, authorize_licences=True)
    assert _counts() == before
    assert not HolderAuthorization.objects.exists()
    assert AuditRecord.objects.filter(action="hall.application.prefill", outcome="denied").count() == 1


def test_an_entity_service_needs_an_entity_and_a_person_service_refuses_one(company):
    with pytest.raises(ApplicantKindRefused):
        services.application_start(user=company["agent"], service_code=SERVICE)
    person_only = f.service("GSJ-GT-001")
    with pytest.raises(ApplicantKindRefused):
        services.application_start(
            user=company["agent"], service_code=person_only.code, credit_code=company["entity"].credit_code
        )
    assert not Application.objects.exists()
    either = f.service("GSJ-ANY-001", applicant_kind="any")
    as_person = services.application_start(user=company["agent"], service_code=either.code)
    as_entity = services.application_start(
        user=company["agent"], service_code=either.code, credit_code=company["entity"].credit_code
    )
    assert (as_person.legal_entity, as_entity.legal_entity) == (None, company["entity"])


def test_a_revoked_business_licence_is_refused_as_a_material(company):
    application = _prefilled(company)
    licence_transition(licence=company["business"], action="revoke", reason="吊销", actor=company["clerk"])
    before = _counts()
    with pytest.raises(LicenceNotUsable):
        services.application_submit(user=company["agent"], application_id=application.pk)
    stored = Application.objects.get(pk=application.pk)
    assert (stored.state, stored.number) == (State.DRAFT, None)
    assert _counts() == before


def test_a_revoked_business_licence_is_not_prefilled(company):
    licence_transition(licence=company["business"], action="revoke", reason="吊销", actor=company["clerk"])
    application = _prefilled(company)
    assert not ApplicationMaterial.objects.filter(application=application, code="business_licence").exists()
