"""Materials from electronic licences: fetched with the applicant's authorization for the application, each use
recorded, a revoked licence refused; on approval the result is issued as a licence signed by the deciding
department."""

from __future__ import annotations

import pytest

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import services
from rongcheng.hall.errors import TransitionGuardFailed
from rongcheng.hall.models import Application, ApplicationMaterial, State
from rongcheng.hall.tests import factories as f
from rongcheng.hall.tests.licensed import PROPERTY_FACE, police_officer, property_for, setup_licences
from rongcheng.licences.errors import LicenceNotUsable
from rongcheng.licences.models import Licence, LicenceUse
from rongcheng.licences.selectors import licence_verify, licences_of_resident
from rongcheng.licences.services import licence_transition
from rongcheng.licences.tests import factories as lf

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    setup = setup_licences()
    resident = f.applicant(level=2)
    setup["property"] = property_for(resident, setup)
    return {**setup, "resident": resident, "officer": police_officer()}


def _prefilled(world, authorize: bool = True) -> Application:
    application = services.application_start(user=world["resident"], service_code="GAJ-JZZ-001")
    services.application_prefill(user=world["resident"], application_id=application.pk, authorize_licences=authorize)
    return application


def test_prefill_fetches_the_licence_under_the_applicants_authorization(world):
    application = _prefilled(world)
    material = ApplicationMaterial.objects.get(application=application, code="property")
    identifier = world["property"].identifier
    assert material.licence_identifier == identifier
    assert material.values["location"] == {
        "value": PROPERTY_FACE["location"], "source": f"licence:{identifier}", "label": "坐落"}  # fmt: skip
    assert list(LicenceUse.objects.values_list("kind", "application_reference")) == [
        ("fetch", f"hall-{application.pk}")]  # fmt: skip


def test_without_authorization_nothing_is_fetched_and_the_material_is_missing(world):
    application = _prefilled(world, authorize=False)
    assert not ApplicationMaterial.objects.filter(application=application, code="property").exists()
    assert not LicenceUse.objects.exists()
    with pytest.raises(TransitionGuardFailed):
        services.application_submit(user=world["resident"], application_id=application.pk)


def test_submission_records_the_use_and_approval_issues_the_result(world):
    application = _prefilled(world)
    services.application_submit(user=world["resident"], application_id=application.pk)
    assert LicenceUse.objects.filter(kind="use", licence=world["property"]).count() == 1
    approved = f.walk(Application.objects.get(pk=application.pk), world["officer"], "accept", "review", "approve")
    assert approved.state == State.APPROVED
    issued = Licence.objects.get(identifier=approved.issued_licence)
    assert issued.licence_type.code.endswith("061")
    assert issued.department.code == "FZ-GAJ"
    assert issued.face == {
        "residence_address": PROPERTY_FACE["location"], "original_residence": "福州市鼓楼区三坊七巷1号"}  # fmt: skip
    verification = licence_verify(issued.identifier)
    assert verification.authentic
    assert verification.currently_valid
    assert issued in licences_of_resident(world["resident"])


def test_a_resident_holding_a_valid_permit_cannot_apply_for_a_second_one(world):
    first = _prefilled(world)
    services.application_submit(user=world["resident"], application_id=first.pk)
    approved = f.walk(Application.objects.get(pk=first.pk), world["officer"], "accept", "review", "approve")
    held = Licence.objects.get(identifier=approved.issued_licence)
    again = _prefilled(world)
    with pytest.raises(TransitionGuardFailed) as refused:
        services.application_submit(user=world["resident"], application_id=again.pk)
    assert str(refused.value) == (
        f"您已持有有效的居住证（证照编号 {held.number}），不能重复申领；如需换领或补领，请办理换领、补领事项。"
    )
    assert Application.objects.get(pk=again.pk).state == State.DRAFT
    assert Licence.objects.filter(licence_type=held.licence_type).count() == 1
    # Once it is no longer valid (revoked by the police), applying again is possible.
    licence_transition(licence=held, action="revoke", reason="居住地变更", actor=lf.officer(world["gaj"], "gaj-clerk"))
    services.application_submit(user=world["resident"], application_id=again.pk)
    assert Application.objects.get(pk=again.pk).state == State.SUBMITTED


def test_the_english_page_says_which_licence_is_already_held(world):
    """The refusal is English around the licence type's Chinese name; the page shows it, not a vague sentence."""
    from django.utils import translation

    from rongcheng.hall.views import page_message

    first = _prefilled(world)
    services.application_submit(user=world["resident"], application_id=first.pk)
    approved = f.walk(Application.objects.get(pk=first.pk), world["officer"], "accept", "review", "approve")
    held = Licence.objects.get(identifier=approved.issued_licence)
    again = _prefilled(world)
    with translation.override("en"), pytest.raises(TransitionGuardFailed) as refused:
        services.application_submit(user=world["resident"], application_id=again.pk)
    with translation.override("en"):
        assert page_message(refused.value) == (
            f"You already hold a valid 居住证 (number {held.number}) and cannot apply for a second one; to renew or "
            "replace it, apply for the renewal or replacement service."
        )


def test_a_revoked_licence_cannot_be_used_and_nothing_changes(world):
    application = _prefilled(world)
    licence_transition(licence=world["property"], action="revoke", reason="登记错误", actor=world["land_clerk"])
    audits = AuditRecord.objects.filter(outcome="success").count()
    with pytest.raises(LicenceNotUsable) as caught:
        services.application_submit(user=world["resident"], application_id=application.pk)
    assert caught.value.status == 409
    stored = Application.objects.get(pk=application.pk)
    assert (stored.state, stored.number) == (State.DRAFT, None)
    assert not LicenceUse.objects.filter(kind="use").exists()
    assert AuditRecord.objects.filter(outcome="success").count() == audits


def test_approval_without_the_right_to_issue_is_refused_whole(world):
    application = _prefilled(world)
    services.application_submit(user=world["resident"], application_id=application.pk)
    plain = f.officer(dept=f.department("FZ-GAJ", "福州市公安局"))  # may decide, may not issue licences
    application = f.walk(Application.objects.get(pk=application.pk), plain, "accept", "review")
    from rongcheng.kernel.errors import DomainError

    with pytest.raises(DomainError):
        services.application_transition(user=plain, application_id=application.pk, transition="approve")
    stored = Application.objects.get(pk=application.pk)
    assert (stored.state, stored.issued_licence) == (State.UNDER_REVIEW, "")
    assert not Licence.objects.filter(licence_type__code__endswith="061").exists()
