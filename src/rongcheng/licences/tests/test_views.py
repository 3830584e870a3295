"""Licence pages: who may open each, what they show, and the verification page's answers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.utils.html import escape

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.models import AuditRecord
from rongcheng.licences.identifiers import identifier_make, identifier_parse
from rongcheng.licences.models import HolderAuthorization, Licence
from rongcheng.licences.services import holder_authorization_grant, licence_transition, licence_use_record
from rongcheng.licences.tests.factories import (
    MARRIAGE_TYPE_CODE,
    department,
    issue_marriage,
    make_person,
    marriage_type,
    officer,
    resident,
    with_key,
)

pytestmark = pytest.mark.django_db
ID_NUMBER = "350102198503120018"


@pytest.fixture
def world():
    dept = with_key(department())
    marriage_type(dept)
    clerk = officer(dept)
    person = make_person(id_number=ID_NUMBER, name="林则徐")
    licence = issue_marriage(clerk, person)
    return {"dept": dept, "clerk": clerk, "licence": licence, "holder": resident("holder", person=person)}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_verification_page_for_anyone(world):
    identifier = world["licence"].identifier
    response = Client().get(f"/licences/verify/{identifier}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-verdict="valid"' in page
    assert "林**" in page
    assert "350102********0018" in page
    assert ID_NUMBER not in page
    assert "沈葆桢" not in page


def test_verification_page_names_the_face_fields_in_the_reader_s_language(world):
    """The face's labels are the licence standard's (Chinese); the labels the platform knows read in English on the
    English page, the values stay as issued."""
    url = f"/licences/verify/{world['licence'].identifier}/"
    chinese = Client().get(url).content.decode()
    english_client = Client()
    english_client.cookies["django_language"] = "en"
    english = english_client.get(url).content.decode()
    assert "<dt>登记日期</dt>" in chinese
    assert "<dt>Registered on</dt>" not in chinese
    assert "<dt>Registered on</dt>" in english
    assert "<dt>登记日期</dt>" not in english
    assert "<dt>Spouse's name</dt>" in english or "<dt>Spouse&#x27;s name</dt>" in english


def test_verification_page_over_the_limit_is_a_429_page_with_retry_after(world, settings):
    """Issue 10: the page answered 429 without Retry-After; it is now the site's 429 page, with the header."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "licences.verify": {"address": "2/60"}}
    url = f"/licences/verify/{world['licence'].identifier}/"
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    refused = client.get(url)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "请求过于频繁" in refused.content.decode()
    assert client.head(url).status_code == 429


def test_verification_page_says_tampered_after_a_raw_sql_edit(world):
    licence = world["licence"]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE licences_licence SET issuer_name = %s WHERE id = %s", ["福州市某局", licence.pk])
    page = Client().get(f"/licences/verify/{licence.identifier}/").content.decode()
    assert 'data-verdict="tampered"' in page
    assert 'data-verdict="valid"' not in page


def test_verification_page_after_revocation_and_bad_identifiers(world):
    licence = world["licence"]
    licence_transition(licence=licence, action="revoke", reason="吊销", actor=world["clerk"])
    page = Client().get(f"/licences/verify/{licence.identifier}/").content.decode()
    assert 'data-verdict="revoked"' in page
    wrong = licence.identifier[:-1] + ("A" if licence.identifier[-1] != "A" else "B")
    assert Client().get(f"/licences/verify/{wrong}/").status_code == 400
    assert Client().get("/licences/verify/garbage/").status_code == 400


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_verification_refusals_are_translated_and_offer_the_form_again(world, language):
    """Walk-through: garbage and a wrong check character answered in English on the Chinese page, with no form to
    try again and a mangled echo of what was typed. Each refusal is a sentence in the page's language, above the
    form holding what was typed (escaped)."""
    identifier = world["licence"].identifier
    wrong = identifier[:-1] + ("A" if identifier[-1] != "A" else "B")
    parsed = identifier_parse(identifier)
    unknown = str(identifier_make(type_code=parsed.type_code, issuer_code=parsed.issuer_code, serial="209900000001"))
    client = Client(headers={"accept-language": language})
    english = language == "en"
    cases = [
        ("/licences/verify/?identifier=<b>乱码</b>", 400, "<b>乱码</b>",
         "This is not a licence identifier" if english else "这不是有效的证照标识"),
        (f"/licences/verify/{wrong}/", 400, wrong,
         "check character" if english else "校验码不符"),
        (f"/licences/verify/?identifier={wrong}", 400, wrong,
         "check character" if english else "校验码不符"),
        ("/licences/verify/garbage/", 400, "garbage",
         "This is not a licence identifier" if english else "这不是有效的证照标识"),
    ]  # fmt: skip
    cases.append(
        (f"/licences/verify/{unknown}/", 404, unknown, "No licence has this identifier" if english else "没有找到")
    )
    for url, status, typed, sentence in cases:
        response = client.get(url)
        page = response.content.decode()
        assert response.status_code == status, url
        assert sentence in page, url
        assert "GB/T 36904 form" not in page
        assert "was mistyped or altered" not in page
        assert 'name="identifier"' in page
        assert f'value="{escape(typed)}"' in page, url
        assert "<b>乱码</b>" not in page
        assert ("重新输入" in page) is not english


def test_verification_form_leads_to_the_page_for_a_well_formed_identifier(world):
    identifier = world["licence"].identifier
    response = Client().get("/licences/verify/", {"identifier": f"  {identifier.lower()} "})
    assert (response.status_code, response["Location"]) == (302, f"/licences/verify/{identifier}/")


@pytest.mark.parametrize("page", ["", "print/", "document/"])
def test_licence_pages_matrix(world, page):
    url = f"/licences/{world['licence'].identifier}/{page}" + ("?purpose=入学" if page == "print/" else "")
    assert Client().get(url).status_code == 302  # to sign-in
    assert signed_in(resident("stranger", person=make_person())).get(url).status_code == 403
    other = officer(department("FZ-GSJ", "福州市市场监督管理局", serial=2), "gsj")
    assert signed_in(other).get(url).status_code == 403
    for user in (world["holder"], world["clerk"]):
        assert signed_in(user).get(url).status_code == 200


def test_print_page_needs_a_purpose_and_does_not_double_its_words(world):
    """Walk-through: "办理入学" printed "仅供办理办理入学使用"; an empty purpose printed no stamp."""
    url = f"/licences/{world['licence'].identifier}/print/"
    client = signed_in(world["holder"])
    for typed in ("办理入学", "入学", "仅供办理入学使用"):
        page = client.get(url, {"purpose": typed}).content.decode()
        assert "仅供办理入学使用" in page
        assert "办理办理" not in page
    for empty in ({}, {"purpose": ""}, {"purpose": "  "}, {"purpose": "办理"}):
        response = client.get(url, empty)
        assert response.status_code == 302
        assert response["Location"] == f"/licences/{world['licence'].identifier}/"
    assert AuditRecord.objects.filter(action="licences.licence.print").count() == 3


def test_print_page_has_qr_watermark_and_full_code(world):
    identifier = world["licence"].identifier
    page = signed_in(world["holder"]).get(f"/licences/{identifier}/print/", {"purpose": "公积金提取"}).content.decode()
    assert "仅供办理公积金提取使用" in page
    assert "<svg" in page
    assert 'class="qr"' in page
    assert f"/licences/verify/{identifier}/" in page
    assert ID_NUMBER in page
    assert AuditRecord.objects.filter(action="licences.licence.print", detail__purpose="公积金提取").count() == 1


def test_transition_from_the_detail_page(world):
    url = f"/licences/{world['licence'].identifier}/"
    body = {"action": "suspend", "reason": "暂扣"}
    assert signed_in(world["holder"]).post(url, body).status_code == 403
    viewer = officer(world["dept"], "viewer", perms=("view_licence",))
    assert signed_in(viewer).post(url, body).status_code == 403
    assert Licence.objects.get().status == "valid"
    assert signed_in(world["clerk"]).post(url, body).status_code == 302
    assert Licence.objects.get().status == "suspended"
    response = signed_in(world["clerk"]).post(url, {"action": "suspend", "reason": "again"})
    assert response.status_code == 400


def test_mine_page_lists_licences_and_records_authorizations(world):
    assert Client().get("/licences/mine/").status_code == 302
    system = User.objects.create_user(username="hall", kind=AccountKind.API_CLIENT, display_name="网上办事大厅")
    page = signed_in(world["holder"]).get("/licences/mine/").content.decode()
    assert world["licence"].identifier in page
    assert f'<option value="{system.pk}">网上办事大厅</option>' in page
    client = signed_in(world["holder"])
    for grantee, reference in ((world["clerk"].pk, "BJ-1"), (system.pk, "BJ\x001"), (system.pk, "hall-x")):
        refused = client.post(
            "/licences/mine/", {"grantee": grantee, "application_reference": reference, "valid_days": 30}
        )
        assert refused.status_code == 400
        assert not HolderAuthorization.objects.exists()
    response = client.post("/licences/mine/", {"grantee": system.pk, "application_reference": "BJ-1", "valid_days": 30})
    assert response.status_code == 302
    authorization = HolderAuthorization.objects.get()
    assert signed_in(resident("other", person=make_person())).post(
        f"/licences/authorizations/{authorization.pk}/withdraw/").status_code == 403  # fmt: skip
    assert signed_in(world["holder"]).post(f"/licences/authorizations/{authorization.pk}/withdraw/").status_code == 302
    assert HolderAuthorization.objects.get().withdrawn_at is not None
    assert "尚未与人口库" in signed_in(resident("unbound")).get("/licences/mine/").content.decode()


def test_issue_page(world):
    assert signed_in(world["holder"]).get("/licences/issue/").status_code == 403
    client = signed_in(world["clerk"])
    assert MARRIAGE_TYPE_CODE in client.get("/licences/issue/").content.decode()
    body = {"type": MARRIAGE_TYPE_CODE, "holder_code": ID_NUMBER, "face_spouse_name": "沈葆桢",
            "face_registered_on": "2016-10-01", "face_certificate_kind": "结婚证"}  # fmt: skip
    bad = client.post(f"/licences/issue/?type={MARRIAGE_TYPE_CODE}", {**body, "face_registered_on": "2016-02-30"})
    assert bad.status_code == 400
    assert Licence.objects.count() == 1
    ok = client.post(f"/licences/issue/?type={MARRIAGE_TYPE_CODE}", body)
    assert ok.status_code == 302
    assert Licence.objects.count() == 2


def test_bulk_issue_is_validated_per_row_and_idempotent(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    other = make_person()
    from rongcheng.licences.documents import holder_code_of

    lines = [
        "holder_code,reference,spouse_name,registered_on,certificate_kind",
        f"{ID_NUMBER},P-1,沈葆桢,2016-10-01,结婚证",
        f"{holder_code_of(world['licence'])[:-1]}X,P-2,某某,2016-10-01,结婚证",  # wrong check digit
        "350102198001010011,P-3,某某,2016-13-01,离婚证",
    ]
    from rongcheng.licences.models import LicenceType

    licence_type = LicenceType.objects.get()
    client = signed_in(world["clerk"])

    def upload():
        data = ("\n".join(lines) + "\n").encode()
        return client.post("/licences/bulk/", {"licence_type": licence_type.pk,
                                               "file": SimpleUploadedFile("x.csv", data, "text/csv")})  # fmt: skip

    first = upload()
    assert first.status_code == 200
    assert 'data-issued="1"' in first.content.decode()
    assert Licence.objects.count() == 2
    lines.append(f"{'350102198503120018'},P-4,林某,2016-10-01,结婚证")
    del other
    second = upload()
    assert 'data-issued="1"' in second.content.decode()
    assert Licence.objects.count() == 3
    assert 'data-issued="0"' in upload().content.decode()
    assert Licence.objects.count() == 3
    assert signed_in(world["holder"]).get("/licences/bulk/").status_code == 403


def test_well_known_keys(world):
    body = Client().get("/.well-known/licence-keys").json()
    assert [k["key_id"] for k in body["keys"]] == [world["licence"].key_id]


@pytest.mark.parametrize(("language", "name"), [("zh-hans", "网上办事大厅"), ("en", "Online service hall")])
def test_mine_page_names_who_used_a_licence_and_for_which_application(world, language, name):
    """Walk-through: a hall use showed the account name "hall" and an empty 办件编号 on 我的证照."""
    system = User.objects.create_user(username="hall", kind=AccountKind.API_CLIENT, display_name="网上办事大厅")
    holder_authorization_grant(holder_user=world["holder"], grantee=system, application_reference="BJ-7",
                               valid_for=dt.timedelta(days=30))  # fmt: skip
    licence_use_record(licence=world["licence"], application_reference="BJ-7", actor=system)
    client = signed_in(world["holder"])
    page = client.get("/licences/mine/", headers={"accept-language": language}).content.decode()
    uses = page[page.index('<table class="records">') :]
    assert f"<td>{name}</td>" in uses
    assert "<td>hall</td>" not in uses
    assert "<td>BJ-7</td>" in uses
    detail = signed_in(world["clerk"]).get(f"/licences/{world['licence'].identifier}/").content.decode()
    assert "<td>hall</td>" not in detail
    assert "<td>BJ-7</td>" in detail
