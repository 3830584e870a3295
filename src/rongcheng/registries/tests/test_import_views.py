"""The staff page for bulk import: who may use it, the report it shows, the error report it offers."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rongcheng.audit.models import AuditRecord
from rongcheng.registries.models import Address, LegalEntity, Person
from rongcheng.registries.tests.factories import resident, staff
from rongcheng.registries.tests.test_importing import CHINESE_HEADER, PNG, credit_code, csv_bytes, person_row

pytestmark = pytest.mark.django_db

URL = "/registries/import/"


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def importer(username: str = "importer", *, entities: bool = False):
    user = staff(username)
    user.user_permissions.add(Permission.objects.get(codename="add_person"))
    if entities:
        user.user_permissions.add(Permission.objects.get(codename="add_legalentity"))
    return user


def upload(client, data: bytes, name: str = "persons.csv", **fields):
    return client.post(URL, {"kind": "persons", "file": SimpleUploadedFile(name, data), **fields})


def test_url():
    assert reverse("registries:import") == URL
    assert reverse("registries:import-errors", args=["abc"]) == "/registries/import/abc/errors.csv"


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('identity:sign-in')}?next={URL}"
    response = client.post(URL, {"kind": "persons", "file": SimpleUploadedFile("p.csv", csv_bytes([person_row(1)]))})
    assert response.status_code == 302
    assert Person.objects.count() == 0


def test_staff_without_the_permission_is_refused(client):
    client.force_login(staff("reader"))  # may read the registries, not add to them
    assert client.get(URL).status_code == 403
    assert upload(client, csv_bytes([person_row(1)])).status_code == 403
    assert (Person.objects.count(), AuditRecord.objects.exclude(outcome="denied").count()) == (0, 0)
    assert AuditRecord.objects.filter(outcome="denied").count() == 2  # each refusal recorded once


def test_a_resident_holding_the_permission_is_refused(client):
    user = resident()
    user.user_permissions.add(Permission.objects.get(codename="add_person"))
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert upload(client, csv_bytes([person_row(1)])).status_code == 403
    assert Person.objects.count() == 0


def test_the_form_and_the_accepted_columns_are_shown(client):
    client.force_login(importer())
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'name="strict"' in body
    assert "公民身份号码" in body
    assert "统一社会信用代码" in body
    assert "<script" not in body
    assert "style=" not in body


def test_an_upload_is_imported_and_the_report_shown(client):
    user = importer()
    client.force_login(user)
    response = upload(client, csv_bytes([person_row(1), person_row(2)], header=CHINESE_HEADER))
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.rows_read, report.inserted, report.unchanged, report.rejected) == (2, 2, 0, 0)
    body = response.content.decode()
    assert '<td id="count-inserted">2</td>' in body
    assert "全部行均已处理，没有错误。" in body
    assert "error-report-download" not in body
    assert Person.objects.count() == 2
    record = AuditRecord.objects.get(action="registries.import")
    assert (record.actor_kind, record.actor_id, record.actor_label) == ("user", str(user.pk), "importer")
    assert record.detail["file"] == "persons.csv"


def test_rejected_rows_are_listed_and_the_error_report_downloads_for_this_session_only(client):
    client.force_login(importer())
    rows = [person_row(1), person_row(2, id_number="350102198502300017"), person_row(3, name="")]
    response = upload(client, csv_bytes(rows))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<td id="count-rejected">2</td>' in body
    assert "<td>3</td><td>id_number</td><td><code>id_number.birth_date</code></td>" in body
    assert "<td>4</td><td>name</td><td><code>name.required</code></td>" in body
    token = response.context["error_report_token"]
    download = client.get(reverse("registries:import-errors", args=[token]))
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="import-errors.csv"' in download["Content-Disposition"]
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["row", "column", "rule", "message"],
        ["3", "id_number", "id_number.birth_date",
         "the birth date (characters 7-14) is not a real date from 1800 on"],
        ["4", "name", "name.required", "name is required"],
    ]  # fmt: skip
    assert Person.objects.count() == 1

    client.force_login(importer("colleague"))
    assert client.get(reverse("registries:import-errors", args=[token])).status_code == 404


def test_strict_mode_with_a_bad_row_says_nothing_was_imported(client):
    client.force_login(importer())
    response = upload(client, csv_bytes([person_row(1), person_row(2, name="")]), strict="on")
    assert response.status_code == 200
    assert "严格模式：有行被拒绝，整个文件未导入，库中数据没有变化。" in response.content.decode()
    assert (Person.objects.count(), Address.objects.count(), AuditRecord.objects.count()) == (0, 0, 0)


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (PNG, "photo.csv", "photo.csv is a PNG image, not a CSV or Excel (.xlsx) file."),
        (csv_bytes([["x"]], header=["nom"]), "persons.csv", "Column 1 of persons.csv is headed “nom”"),
    ],
)
def test_a_refused_file_is_explained_and_nothing_stored(client, data, name, message):
    client.force_login(importer())
    response = upload(client, data, name)
    assert response.status_code == 400
    body = response.content.decode()
    assert "文件未导入，库中数据没有变化。" in body
    assert message in body
    assert (Person.objects.count(), AuditRecord.objects.count()) == (0, 0)


def test_a_post_without_a_file_is_a_form_error(client):
    client.force_login(importer())
    response = client.post(URL, {"kind": "persons"})
    assert response.status_code == 400
    assert response.context["form"].errors["file"]


def test_entities_need_their_own_permission(client):
    rows = [[credit_code(1), "福州甲有限公司", "2010-05-01"]]
    data = csv_bytes(rows, header=["credit_code", "name", "established_on"])
    client.force_login(importer())
    response = client.post(URL, {"kind": "entities", "file": SimpleUploadedFile("e.csv", data)})
    assert response.status_code == 403
    assert LegalEntity.objects.count() == 0

    client.force_login(importer("registrar", entities=True))
    response = client.post(URL, {"kind": "entities", "file": SimpleUploadedFile("e.csv", data)})
    assert response.status_code == 200
    assert (response.context["report"].inserted, LegalEntity.objects.count()) == (1, 1)
