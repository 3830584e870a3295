"""Limits of the service hall: rate limits on starting drafts and uploading (API and pages), the quota of open
drafts per account and service, and the quota of upload bytes per application. A refusal changes nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rongcheng.audit.models import AuditRecord
from rongcheng.hall import services
from rongcheng.hall.errors import DraftQuotaReached, UploadQuotaExceeded
from rongcheng.hall.models import Application, ApplicationMaterial
from rongcheng.hall.tests import factories as f
from rongcheng.hall.tests.test_api import API, client_for, problem

pytestmark = pytest.mark.django_db

PREMISES_SPEC = {"code": "premises", "name": "经营场所证明", "source": "upload", "formats": ["pdf"],
                 "max_bytes": 4096}  # fmt: skip
PLAN_SPEC = {"code": "plan", "name": "平面图", "source": "upload", "formats": ["pdf"], "max_bytes": 4096}


def _pdf(size: int) -> bytes:
    return f.PDF + b"%" * (size - len(f.PDF))


def _state() -> tuple[int, int, int]:
    return Application.objects.count(), ApplicationMaterial.objects.count(), AuditRecord.objects.count()


def test_starting_drafts_through_the_api_is_rate_limited_per_account(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "hall.draft": {"address": "100/3600", "account": "2/3600"}}
    settings.HALL_OPEN_DRAFTS_PER_SERVICE = 10
    f.service()
    applicant = client_for(f.applicant(), token_scope="hall:apply")
    for _ in range(2):
        started = applicant.post(f"{API}/applications", {"service": "GSJ-001"}, content_type="application/json")
        assert started.status_code == 201
    before = _state()
    refused = applicant.post(f"{API}/applications", {"service": "GSJ-001"}, content_type="application/json")
    document = problem(refused, 429)
    assert document["type"] == "/problems/rate-limited"
    assert int(refused["Retry-After"]) == document["retry_after"] > 0
    assert _state() == before
    other = client_for(f.applicant(), token_scope="hall:apply")  # per account: another one still may
    assert other.post(f"{API}/applications", {"service": "GSJ-001"}, content_type="application/json").status_code == 201


def test_the_apply_page_answers_429_with_retry_after(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "hall.draft": {"account": "1/3600"}}
    f.service()
    client = client_for(f.applicant())
    assert client.post("/hall/services/GSJ-001/apply/").status_code == 302
    before = _state()
    refused = client.post("/hall/services/GSJ-001/apply/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "请求过于频繁" in refused.content.decode()
    assert _state() == before


def test_an_account_holds_a_bounded_number_of_open_drafts_per_service(settings):
    settings.HALL_OPEN_DRAFTS_PER_SERVICE = 2
    f.service()
    f.service("GSJ-002")
    user = f.applicant()
    for _ in range(2):
        services.application_start(user=user, service_code="GSJ-001")
    before = _state()
    with pytest.raises(DraftQuotaReached) as refused:
        services.application_start(user=user, service_code="GSJ-001")
    assert refused.value.extra == {"quota": 2}
    assert _state() == before
    services.application_start(user=user, service_code="GSJ-002")  # another service is counted apart
    response = client_for(user, token_scope="hall:apply").post(
        f"{API}/applications", {"service": "GSJ-001"}, content_type="application/json"
    )
    assert problem(response, 409)["type"] == "/problems/hall-draft-quota-reached"


def test_at_the_draft_quota_the_apply_page_continues_the_open_draft(settings):
    settings.HALL_OPEN_DRAFTS_PER_SERVICE = 1
    f.service()
    user = f.applicant()
    draft = services.application_start(user=user, service_code="GSJ-001")
    client = client_for(user)
    response = client.post("/hall/services/GSJ-001/apply/")
    assert response["Location"] == f"/hall/applications/{draft.pk}/"
    assert list(Application.objects.all()) == [draft]


def test_uploads_of_one_application_stay_within_the_byte_quota(settings):
    settings.HALL_UPLOAD_BYTES_PER_APPLICATION = 5000
    f.service(materials=[PREMISES_SPEC, PLAN_SPEC])
    user = f.applicant()
    application = services.application_start(user=user, service_code="GSJ-001")
    services.application_upload(user=user, application_id=application.pk, material_code="premises",
                                file_name="a.pdf", content=_pdf(3000))  # fmt: skip
    before = _state()
    with pytest.raises(UploadQuotaExceeded) as refused:
        services.application_upload(user=user, application_id=application.pk, material_code="plan",
                                    file_name="b.pdf", content=_pdf(2001))  # fmt: skip
    assert [e["rule"] for e in refused.value.errors] == ["upload.quota"]
    assert _state() == before
    # replacing a material counts the new file instead of the old one
    services.application_upload(user=user, application_id=application.pk, material_code="premises",
                                file_name="a2.pdf", content=_pdf(2500))  # fmt: skip
    services.application_upload(user=user, application_id=application.pk, material_code="plan",
                                file_name="b.pdf", content=_pdf(2500))  # fmt: skip
    assert list(ApplicationMaterial.objects.order_by("code").values_list("code", "file_size")) == [
        ("plan", 2500),
        ("premises", 2500),
    ]


def test_uploads_are_rate_limited_per_account(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "hall.upload": {"account": "1/3600"}}
    f.service()
    user = f.applicant()
    application = services.application_start(user=user, service_code="GSJ-001")
    api = client_for(user, token_scope="hall:apply")
    url = f"{API}/applications/{application.pk}/materials/premises"
    assert api.post(url, {"file": SimpleUploadedFile("a.pdf", f.PDF)}).status_code == 200
    before = _state()
    refused = api.post(url, {"file": SimpleUploadedFile("b.pdf", f.PDF)})
    assert problem(refused, 429)["retry_after"] > 0
    assert _state() == before
    page = client_for(user)
    response = page.post(f"/hall/applications/{application.pk}/upload/",
                         {"material": "premises", "file": SimpleUploadedFile("c.pdf", f.PDF)})  # fmt: skip
    assert response.status_code == 429
    assert _state() == before
