"""The hall's pages: who may open which page, and the applicant's and officer's forms through the same services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rongcheng.audit.models import AuditRecord
from rongcheng.hall.models import Application, CalendarDay, State
from rongcheng.hall.tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    item = f.service()
    resident = f.applicant()
    officer = f.officer()
    application = f.walk(f.submitted(resident, item), officer, "accept")
    clerk = f.officer()
    clerk.user_permissions.add(Permission.objects.get(codename="change_calendarday"))
    return {"item": item, "resident": resident, "stranger": f.applicant(), "officer": officer,
            "powerless": f.officer(can_decide=False), "clerk": type(clerk).objects.get(pk=clerk.pk),
            "application": application}  # fmt: skip


CALLERS = ("anonymous", "resident", "stranger", "powerless", "officer", "clerk")
PAGES: dict[str, tuple[int, ...]] = {
    "catalogue":         (200, 200, 200, 200, 200, 200),
    "service":           (200, 200, 200, 200, 200, 200),
    "my-applications":   (302, 200, 200, 200, 200, 200),
    "application":       (302, 200, 404, 404, 404, 404),
    "workbench":         (302, 403, 403, 403, 200, 200),
    "workbench-detail":  (302, 403, 403, 403, 200, 200),
    "calendar":          (302, 403, 403, 403, 403, 200),
}  # fmt: skip


def _url(name: str, world) -> str:
    if name == "service":
        return reverse("hall:service", args=[world["item"].code])
    if name in ("application", "workbench-detail"):
        return reverse(f"hall:{name}", args=[world["application"].pk])
    return reverse(f"hall:{name}")


@pytest.mark.parametrize("page", list(PAGES))
def test_page_authorization_matrix(world, page):
    statuses = []
    for name in CALLERS:
        client = Client()
        if name != "anonymous":
            client.force_login(world[name])
        statuses.append(client.get(_url(page, world)).status_code)
    assert tuple(statuses) == PAGES[page], dict(zip(CALLERS, statuses, strict=True))


def test_apply_through_the_pages(world):
    client = Client()
    resident = world["resident"]
    client.force_login(resident)
    response = client.post(reverse("hall:apply", args=["GSJ-001"]))
    draft = Application.objects.filter(applicant=resident, state=State.DRAFT).get()
    assert response["Location"] == reverse("hall:application", args=[draft.pk])
    client.post(reverse("hall:application-action", args=[draft.pk, "prefill"]), {"authorize": "on"})
    page = client.get(response["Location"]).content.decode()
    assert "林则徐" in page
    assert "registries:person.name" not in page  # the source named for people
    assert "人口基础信息库" in page
    upload = SimpleUploadedFile("lease.png", f.PNG)
    client.post(reverse("hall:application-action", args=[draft.pk, "upload"]), {"material": "premises", "file": upload})
    client.post(reverse("hall:application-action", args=[draft.pk, "submit"]), {"statement": "开茶铺"})
    draft.refresh_from_db()
    assert draft.state == State.SUBMITTED
    assert draft.statement == "开茶铺"


def test_pressing_apply_again_continues_the_open_draft_instead_of_starting_another(world):
    client = Client()
    resident = world["resident"]
    client.force_login(resident)
    first = client.post(reverse("hall:apply", args=["GSJ-001"]))
    draft = Application.objects.get(applicant=resident, state=State.DRAFT)
    starts = AuditRecord.objects.filter(action="hall.application.start").count()
    again = client.post(reverse("hall:apply", args=["GSJ-001"]))
    assert again["Location"] == first["Location"] == reverse("hall:application", args=[draft.pk])
    assert list(Application.objects.filter(applicant=resident, state=State.DRAFT)) == [draft]
    assert AuditRecord.objects.filter(action="hall.application.start").count() == starts


def test_the_applicant_deletes_a_stray_draft_with_its_files_and_nobody_else_can(
    world, django_capture_on_commit_callbacks
):
    client = Client()
    resident = world["resident"]
    client.force_login(resident)
    client.post(reverse("hall:apply", args=["GSJ-001"]))
    draft = Application.objects.get(applicant=resident, state=State.DRAFT)
    upload = SimpleUploadedFile("lease.png", f.PNG)
    client.post(reverse("hall:application-action", args=[draft.pk, "upload"]), {"material": "premises", "file": upload})
    stored = draft.provided.get(code="premises").file
    assert default_storage.exists(stored)
    assert 'id="discard"' in client.get(reverse("hall:application", args=[draft.pk])).content.decode()
    assert f'data-discard="{draft.pk}"' in client.get(reverse("hall:my-applications")).content.decode()

    stranger = Client()
    stranger.force_login(world["officer"])
    refused = stranger.post(reverse("hall:application-action", args=[draft.pk, "discard"]))
    assert refused.status_code == 404
    assert Application.objects.filter(pk=draft.pk).exists()
    assert not AuditRecord.objects.filter(action="hall.application.discard").exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("hall:application-action", args=[draft.pk, "discard"]))
    assert response["Location"] == reverse("hall:my-applications")
    assert not Application.objects.filter(pk=draft.pk).exists()
    assert not default_storage.exists(stored)
    record = AuditRecord.objects.get(action="hall.application.discard")
    assert (record.actor_id, record.target_id, record.detail) == (
        str(resident.pk),
        str(draft.pk),
        {"service": "GSJ-001", "files": 1},
    )


def test_a_refused_upload_is_a_message_and_changes_nothing(world):
    client = Client()
    client.force_login(world["resident"])
    client.post(reverse("hall:apply", args=["GSJ-001"]))
    draft = Application.objects.get(applicant=world["resident"], state=State.DRAFT)
    response = client.post(
        reverse("hall:application-action", args=[draft.pk, "upload"]),
        {"material": "premises", "file": SimpleUploadedFile("x.pdf", b"not a pdf at all")},
        follow=True,
    )
    assert "文件格式不符合本材料的要求。" in response.content.decode()  # in the reader's words, not the API's
    assert not draft.provided.filter(code="premises").exists()


def test_officer_takes_transitions_from_the_workbench(world):
    client = Client()
    client.force_login(world["officer"])
    application = world["application"]
    url = reverse("hall:workbench-transition", args=[application.pk])
    client.post(url, {"transition": "review"})
    client.post(url, {"transition": "return_for_correction", "reason": "补充租赁合同"})
    application.refresh_from_db()
    assert application.state == State.CORRECTION
    response = client.post(url, {"transition": "approve"}, follow=True)
    assert "不可能" in response.content.decode() or "not possible" in response.content.decode()
    application.refresh_from_db()
    assert application.state == State.CORRECTION


def test_the_calendar_page_edits_days(world):
    client = Client()
    client.force_login(world["clerk"])
    client.post(reverse("hall:calendar"), {"date": "2027-02-09", "kind": "holiday", "name": "春节"})
    assert CalendarDay.objects.get().name == "春节"
    client.post(reverse("hall:calendar"), {"date": "2027-02-09", "remove": "1"})
    assert not CalendarDay.objects.exists()


def test_workbench_page_queries_do_not_grow(world):
    client = Client()
    client.force_login(world["officer"])
    client.get(reverse("hall:workbench"))
    with CaptureQueriesContext(connection) as first:
        client.get(reverse("hall:workbench"))
    for _ in range(4):
        f.submitted(world["resident"], world["item"])
    with CaptureQueriesContext(connection) as second:
        client.get(reverse("hall:workbench"))
    assert len(first) == len(second)


def test_my_applications_page_queries_do_not_grow(world):
    client = Client()
    client.force_login(world["resident"])
    client.get(reverse("hall:my-applications"))
    with CaptureQueriesContext(connection) as first:
        client.get(reverse("hall:my-applications"))
    for _ in range(4):
        f.submitted(world["resident"], world["item"])
    with CaptureQueriesContext(connection) as second:
        client.get(reverse("hall:my-applications"))
    assert len(first) == len(second)


def test_below_the_assurance_level_the_page_asks_to_step_up(world):
    weak = f.applicant(level=1)
    client = Client()
    client.force_login(weak)
    response = client.post(reverse("hall:apply", args=["GSJ-001"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("identity:step-up") + "?level=2&next=")
    assert not Application.objects.filter(applicant=weak).exists()


def test_a_material_prefilled_from_an_english_page_is_stored_as_the_registry_writes_it():
    """The sex was stored in the language of the page that prefilled it ("male" from an English page, shown so on
    the Chinese pages and copied into licences); it is stored as the registry writes it and shown in each reader's
    language."""
    from rongcheng.hall import services
    from rongcheng.hall.models import ApplicationMaterial

    item = f.service(materials=[{"code": "identity", "name": "经营者身份信息", "source": "registry",
                                 "fields": ["person.name", "person.sex"]}])  # fmt: skip
    resident = f.applicant()
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(resident)
    application = services.application_start(user=resident, service_code=item.code)
    response = client.post(reverse("hall:application-action", args=[application.pk, "prefill"]), {})
    assert response.status_code == 302
    sex = ApplicationMaterial.objects.get(application=application, code="identity").values["person.sex"]["value"]
    assert sex in ("男", "女")
    english = client.get(reverse("hall:application", args=[application.pk])).content.decode()
    assert {"男": "Male", "女": "Female"}[sex].lower() in english.lower()
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(reverse("hall:application", args=[application.pk])).content.decode()
    assert sex in chinese
    assert ">male<" not in chinese.lower()
    assert ">female<" not in chinese.lower()


def test_the_submitted_application_says_what_happens_next_in_both_languages():
    from rongcheng.hall import services

    item = f.service(promised_days=1, materials=[{"code": "identity", "name": "经营者身份信息", "source": "registry",
                                                  "fields": ["person.name"]}])  # fmt: skip
    resident = f.applicant()
    application = services.application_start(user=resident, service_code=item.code)
    services.application_prefill(user=resident, application_id=application.pk, authorize_licences=False)
    client = Client()
    client.force_login(resident)
    url = reverse("hall:application", args=[application.pk])
    assert 'id="what-next"' not in client.get(url).content.decode()  # a draft: nothing has happened yet
    services.application_submit(user=resident, application_id=application.pk)
    chinese = client.get(url).content.decode()
    assert 'id="what-next"' in chinese
    assert "受理后承诺 1 个工作日内办结。" in chinese
    client.cookies["django_language"] = "en"
    english = client.get(url).content.decode()
    assert "concluded within 1 working day." in english
    assert "1 working days" not in english
