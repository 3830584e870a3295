"""Applying: prefill from the population registry (audited, visible to the resident), drafts, the open queue's
partial index kept in step with the workflow's open states."""

from __future__ import annotations

import pytest

from rongcheng.hall import services
from rongcheng.hall.errors import MaterialInvalid, ServiceItemInvalid, TransitionNotAllowed
from rongcheng.hall.models import Application, ApplicationMaterial
from rongcheng.hall.tests import factories as f
from rongcheng.hall.workflow import OPEN
from rongcheng.registries.selectors import person_reads_for_resident

pytestmark = pytest.mark.django_db


def test_prefill_is_a_read_the_resident_sees():
    item = f.service()
    resident = f.applicant()
    application = services.application_start(user=resident, service_code=item.code)
    services.application_prefill(user=resident, application_id=application.pk, authorize_licences=False)
    material = ApplicationMaterial.objects.get(application=application, code="identity")
    assert material.values["person.name"]["source"] == "registries:person.name"
    assert material.values["person.address"]["value"] == "福州市鼓楼区三坊七巷1号"
    reads = person_reads_for_resident(user=resident)
    assert [(r.by_self, r.purpose, r.via) for r in reads] == [(True, "service_hall", "hall_prefill")]


def test_an_unbound_account_cannot_be_prefilled_and_nothing_is_stored():
    from rongcheng.accounts.models import User

    item = f.service()
    unbound = f.applicant()
    User.objects.filter(pk=unbound.pk).update(id_number_index="")
    unbound.refresh_from_db()
    application = services.application_start(user=unbound, service_code=item.code)
    with pytest.raises(MaterialInvalid):
        services.application_prefill(user=unbound, application_id=application.pk, authorize_licences=False)
    assert not ApplicationMaterial.objects.exists()


def test_a_draft_is_saved_and_resumed_but_frozen_once_submitted():
    item = f.service()
    resident = f.applicant()
    application = services.application_start(user=resident, service_code=item.code)
    services.application_save(user=resident, application_id=application.pk, statement="第一稿")
    assert Application.objects.get(pk=application.pk).statement == "第一稿"
    submitted = f.submitted(resident, item)
    with pytest.raises(TransitionNotAllowed):
        services.application_save(user=resident, application_id=submitted.pk, statement="改")
    assert Application.objects.get(pk=submitted.pk).statement == ""


@pytest.mark.parametrize(
    ("materials", "rule"),
    [
        ([{"code": "a", "name": "甲", "source": "fax"}], "material.source"),
        ([{"code": "a", "name": "甲", "source": "registry", "fields": ["person.salary"]}], "material.fields"),
        ([{"code": "a", "name": "甲", "source": "upload", "formats": ["exe"]}], "material.formats"),
        (
            [{"code": "a", "name": "甲", "source": "upload", "formats": ["pdf"], "max_bytes": 10**9}],
            "material.max_bytes",
        ),
        ([{"code": "a", "name": "甲", "source": "licence"}], "material.licence_type"),
        ([{"code": "a", "name": "甲", "source": "licence", "licence_type": "x"}] * 2, "material.unique"),
    ],
)
def test_a_badly_declared_material_is_refused(materials, rule):
    f.department()
    with pytest.raises(ServiceItemInvalid) as caught:
        f.service("BAD-1", materials=materials)
    assert caught.value.errors[0]["rule"] == rule


def test_the_open_queue_index_matches_the_open_states():
    index = next(i for i in Application._meta.indexes if i.name == "hall_app_dept_open")
    assert index.condition is not None
    (lookup, states) = index.condition.children[0]
    assert lookup == "state__in"
    assert set(states) == OPEN | {"correction"}


@pytest.fixture
def media(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}}}  # fmt: skip
    return tmp_path


def _stored_files(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@pytest.mark.django_db(transaction=True)  # the replaced file goes when the upload commits
def test_replacing_a_material_leaves_only_the_new_file_tied_to_its_record_by_sm3(media):
    from rongcheng.kernel.crypto import sm3_digest

    item = f.service()
    user = f.applicant()
    application = services.application_start(user=user, service_code=item.code)
    first = services.application_upload(user=user, application_id=application.pk, material_code="premises",
                                        file_name="a.pdf", content=f.PDF)  # fmt: skip
    assert _stored_files(media) == [first.file]
    second_content = f.PDF + b"% second\n"
    second = services.application_upload(user=user, application_id=application.pk, material_code="premises",
                                         file_name="b.pdf", content=second_content)  # fmt: skip
    assert _stored_files(media) == [second.file] != [first.file]
    record = ApplicationMaterial.objects.get(application=application, code="premises")
    assert record.sm3 == sm3_digest((media / record.file).read_bytes()).hex() == sm3_digest(second_content).hex()
