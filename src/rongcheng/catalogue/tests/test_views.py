"""The staff pages of the catalogue: who sees what, forms that refuse with their errors, uploads with a per-row
report, sharing answered on the page; an authorization matrix for each page."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rongcheng.accounts.models import AccountKind, User
from rongcheng.catalogue.models import DataResource, ResourceRow, SharingRequest
from rongcheng.catalogue.tests import factories as f

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _resident():
    return User.objects.create_user(username="resident1", kind=AccountKind.RESIDENT)


TITLES = {item["name"]: item["description"] for item in f.resource_data()["items"]}


def _url(resource, suffix=""):
    return f"/catalogue/r/{resource.classification}/{resource.sequence}/{suffix}"


@pytest.mark.parametrize("who", ["anonymous", "resident", "staff", "editor"])
def test_authorization_matrix_of_the_catalogue_pages(who):
    resource = f.resource()
    user = {"anonymous": None, "resident": _resident(), "staff": f.staff(), "editor": f.editor()}[who]
    client = _client(user)
    expected = {"anonymous": 302, "resident": 403, "staff": 200, "editor": 200}[who]
    for path in ("/catalogue/", _url(resource), "/catalogue/sharing/", "/catalogue/datasets/"):
        assert client.get(path).status_code == expected, path
    assert client.get(_url(resource, "edit/")).status_code == {"staff": 403, "editor": 200}.get(who, expected)
    assert client.get("/catalogue/new/").status_code == {"staff": 403, "editor": 200}.get(who, expected)


def test_an_editor_catalogues_a_resource_and_bad_metadata_shows_its_errors():
    editor = f.editor()
    client = _client(editor)
    data = {**{k: v for k, v in f.resource_data().items() if k != "items"}, "provider": "FZ-GSJ",
            "items": "credit_code|字符型|统一社会信用代码|否\nname|text|名称|否"}  # fmt: skip
    bad = client.post("/catalogue/new/", {**data, "sharing_type": "not_shared", "sharing_condition": ""})
    assert bad.status_code == 422
    assert "有条件共享须写明条件" in bad.content.decode()
    assert not DataResource.objects.exists()
    good = client.post("/catalogue/new/", data)
    assert good.status_code == 302
    resource = DataResource.objects.get()
    assert resource.item_names == ["credit_code", "name"]
    assert good["Location"] == _url(resource)


def test_an_upload_that_does_not_match_shows_the_report_and_stores_nothing():
    resource = f.resource()
    client = _client(f.editor())
    bad = b"credit_code,name,capital,established,legal_person\n1,a,abc,2017-01-01,x\n"
    response = client.post(_url(resource, "upload/"), {"file": SimpleUploadedFile("a.csv", bad)})
    assert response.status_code == 422
    page = response.content.decode()
    assert "第 2 行 capital" in page
    assert "应为数值" in page
    assert not ResourceRow.objects.exists()
    ok = client.post(_url(resource, "upload/"), {"file": SimpleUploadedFile("a.csv", f.CSV_OK)})
    assert ok.status_code == 302
    assert ResourceRow.objects.count() == 2


def test_a_department_asks_and_the_provider_answers_on_the_pages():
    resource = f.resource()
    asker = f.requester()
    response = _client(asker).post(_url(resource, "request/"), {
        "items": ["name"], "purpose": "低保审核", "scenario": "核对申请人经营情况", "period_from": "2026-12-01",
        "period_until": "2027-06-30",
    })  # fmt: skip
    request = SharingRequest.objects.get()
    assert response["Location"] == f"/catalogue/sharing/{request.number}/"
    steward = f.steward()
    inbox = _client(steward).get("/catalogue/sharing/").content.decode()
    assert request.number in inbox
    # the steward reads the data items by their titles; the form still sends their names
    detail = _client(steward).get(f"/catalogue/sharing/{request.number}/").content.decode()
    assert f"<dd>{TITLES['name']}</dd>" in detail
    assert f'value="name" checked> {TITLES["name"]}</label>' in detail
    _client(steward).post(f"/catalogue/sharing/{request.number}/refuse/", {"reason": "超出范围"})
    request.refresh_from_db()
    assert (request.state, request.reason) == ("refused", "超出范围")
    outsider = f.staff(dept=f.department("FZ-WJW", "福州市卫生和计划生育委员会"))
    assert _client(outsider).get(f"/catalogue/sharing/{request.number}/").status_code == 404


def test_a_not_shared_resource_cannot_be_asked_for_on_the_page():
    resource = f.resource(sharing_type="not_shared", sharing_condition="《统计法》")
    response = _client(f.requester()).post(_url(resource, "request/"), {
        "items": ["name"], "purpose": "x", "scenario": "y", "period_from": "2026-12-01", "period_until": "2027-01-01",
    })  # fmt: skip
    assert response.status_code == 422
    assert "不予共享" in response.content.decode()
    assert not SharingRequest.objects.exists()


def test_the_data_steward_issues_and_revokes_a_token_shown_once():
    from rongcheng.catalogue.models import DepartmentApiToken

    steward = f.steward()
    assert _client(f.editor()).get("/catalogue/tokens/").status_code == 403
    page = _client(steward).post("/catalogue/tokens/", {"name": "市场监管业务系统"}).content.decode()
    token = DepartmentApiToken.objects.get()
    assert "rc-ckan-" in page
    assert token.digest not in page
    assert len(token.digest) == 64
    _client(steward).post("/catalogue/tokens/", {"revoke": token.prefix})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_resources_versions_are_told_in_the_pages_language():
    """The services note a version in their own words ("created", "upload FILE: N rows", "changed: a, b"); the page
    says them in Chinese or English, never the English words on a Chinese page."""
    from rongcheng.catalogue import services

    resource = f.resource()
    editor = f.editor()
    editor.display_name = "林晓"
    editor.save(update_fields=["display_name"])
    client = _client(editor)
    client.post(_url(resource, "upload/"), {"file": SimpleUploadedFile("firms.csv", f.CSV_OK)})
    services.data_resource_update(code=resource.code, changes={"summary": "新的摘要。", "update_cycle": 7},
                                  actor=editor)  # fmt: skip
    page = client.get(_url(resource)).content.decode()
    assert "上传 firms.csv：2 行" in page
    assert "修改了：资源摘要、更新周期" in page
    assert "编目" in page
    assert "upload firms.csv" not in page
    assert "changed:" not in page
    assert ">created<" not in page
    assert "<td>林晓（福州市市场监督管理局）</td>" in page  # who changed it by name and department
    assert f">{editor.username}<" not in page  # not by the login name the version keeps
    client.cookies["django_language"] = "en"
    english = client.get(_url(resource)).content.decode()
    assert "Uploaded firms.csv: 2 rows" in english
    assert "Changed: " in english
    assert "<td>林晓 (福州市市场监督管理局)</td>" in english


def test_a_dataset_with_no_review_asked_for_shows_a_dash_not_none():
    f.published("firms-by-district")
    client = _client(f.steward())
    client.cookies["django_language"] = "en"
    page = client.get("/catalogue/datasets/").content.decode()
    assert "firms by district" in page
    assert "<td>None</td>" not in page
    assert "<td>—</td>" in page


def test_a_resources_data_items_are_named_in_words_the_api_field_only_as_such():
    """Each data item's row is headed by its name in words (the standard in its description's brackets is a note);
    the field name the exchange API uses appears only as code in its own column, never as the item's name."""
    resource = f.resource(items=[
        {"name": "division_code", "type": "text", "description": "行政区划代码（GB/T 2260）"},
        {"name": "sex", "type": "text", "description": "性别", "personal": True},
        {"name": "count", "type": "integer", "description": ""},
    ])  # fmt: skip
    page = _client(f.requester()).get(_url(resource)).content.decode()
    table = page.split('aria-label="信息项"')[1].split("</table>")[0]
    rows = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    assert rows == [
        ["名称", "类型", "个人信息", "接口字段名", "说明"],
        ["行政区划代码", "字符型", "否", '<code lang="en">division_code</code>', "GB/T 2260"],
        ["性别", "字符型", "是", '<code lang="en">sex</code>', "—"],
        ["count", "整数型", "否", '<code lang="en">count</code>', "—"],  # no description: its field name, still
    ]
    assert "<td>division_code</td>" not in page
    assert '<th scope="row">sex</th>' not in page


def test_the_sharing_forms_items_are_labelled_by_their_names_the_api_field_secondary():
    resource = f.resource()
    page = _client(f.requester()).get(_url(resource, "request/")).content.decode()
    labels = re.findall(r'name="items" value="credit_code"[^>]*>(.*?)</label>', page)
    assert labels == [' 统一社会信用代码 <span class="api-field">接口字段名 <code lang="en">credit_code</code></span>']
    assert "（credit_code）" not in page


def test_an_editor_on_the_english_pages_keeps_the_personal_data_flags_the_form_shows():
    """The items' text is written in the page's language (Yes/No in English); sent back unchanged, it must keep each
    item's personal-data flag (the English "Yes" was read as no: legal_person lost its flag, and its protection)."""
    resource = f.resource()
    assert resource.personal_items == ["legal_person"]
    client = _client(f.editor(resource.provider))
    client.cookies["django_language"] = "en"
    form = client.get(_url(resource, "edit/")).content.decode()
    assert "personal data (Yes/No)" in form
    assert "是/否" not in form
    assert "Types: Text, " in form  # the list in English punctuation
    found = re.search(r'<textarea id="items" name="items"[^>]*>(.*?)</textarea>', form, re.S)
    assert found is not None
    text = found.group(1)
    assert "legal_person|Text|法定代表人|Yes" in text.splitlines()
    data = {k: v for k, v in f.resource_data().items() if k != "items"}
    response = client.post(_url(resource, "edit/"), {**data, "summary": "改过的摘要。", "items": text})
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.summary == "改过的摘要。"
    assert resource.personal_items == ["legal_person"]


def test_an_english_page_brackets_its_notes_in_english_punctuation():
    """A resource of platform data says it is always current, and a dataset names the checks it did not meet, in
    the page's own brackets (the Chinese （） stayed around the English words)."""
    from rongcheng.catalogue import services

    items = [{"name": c.name, "type": c.type, "description": c.description, "personal": c.personal}
             for c in services.provider_columns("accounts.departments")]  # fmt: skip
    resource = services.data_resource_create(provider_code=f.department().code, actor=f.SYSTEM, data=f.resource_data(
        items=items, backing="accounts.departments", sharing_type="unconditional", sharing_condition=""))  # fmt: skip
    client = _client(f.requester())
    assert "（平台数据实时更新）" in client.get(_url(resource)).content.decode()
    client.cookies["django_language"] = "en"
    english = client.get(_url(resource)).content.decode()
    assert " (platform data, always current)" in english
    assert "（" not in english.split("<main")[1]
    f.published("poor-data", fmt="XLSX", notes="短")
    poor = Client().get("/opendata/dataset/poor-data", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert " (not met)</li>" in poor
    assert "（" not in poor.split('<ul class="checks">')[1].split("</ul>")[0]


def test_the_punctuation_around_data_follows_the_pages_language():
    """A condition (data, in Chinese) follows its English label after an English colon, a Chinese one after a
    Chinese label: no full-width ：on an English page."""
    resource = f.resource()
    client = _client(f.requester())
    chinese = client.get(_url(resource)).content.decode()
    assert f"：{resource.sharing_condition}</dd>" in chinese
    client.cookies["django_language"] = "en"
    english = client.get(_url(resource)).content.decode()
    assert f"Shared with conditions: {resource.sharing_condition}</dd>" in english
    assert f"：{resource.sharing_condition}" not in english


def test_a_list_of_names_is_joined_in_the_pages_language():
    """A dataset's tags are data (Chinese words), joined with the Chinese enumeration comma on a Chinese page and
    with an English comma on an English page: no 、 between English-page items."""
    f.published("tagged-data", tags=("交通", "公交"))
    chinese = Client().get("/opendata/dataset/tagged-data", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "<dd>交通、公交</dd>" in chinese
    english = Client().get("/opendata/dataset/tagged-data", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<dd>交通, 公交</dd>" in english
    assert "交通、公交" not in english
