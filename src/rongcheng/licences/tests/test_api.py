"""/api/v1/licences/: the authorization matrix of every endpoint, problem documents, nothing changed on refusal."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest
from django.test import Client

from rongcheng.audit.models import AuditRecord
from rongcheng.licences.models import HolderAuthorization, Licence, LicenceUse, StatusChange
from rongcheng.licences.tests.factories import (
    MARRIAGE_FACE,
    MARRIAGE_TYPE_CODE,
    department,
    issue_marriage,
    make_person,
    marriage_type,
    officer,
    resident,
    with_key,
)
from rongcheng.registries.tests.factories import api_client
from rongcheng.registries.tests.test_api import token_for

pytestmark = pytest.mark.django_db
API = "/api/v1/licences"
ID_NUMBER = "350102198503120018"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world():
    dept = with_key(department())
    marriage_type(dept)
    clerk = officer(dept)
    person = make_person(id_number=ID_NUMBER, name="林则徐")
    licence = issue_marriage(clerk, person)
    holder = resident("holder", person=person)
    return {"dept": dept, "clerk": clerk, "person": person, "licence": licence, "holder": holder}


def problem(response, status):
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def post(client: Client, path: str, body, **headers):
    return client.post(API + path, json.dumps(body), content_type="application/json", headers=headers)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def state():
    return (Licence.objects.count(), StatusChange.objects.count(), LicenceUse.objects.count(),
            HolderAuthorization.objects.count(), AuditRecord.objects.filter(outcome="success").count())  # fmt: skip


def test_public_verification_needs_no_account(world):
    licence = world["licence"]
    response = Client().get(f"{API}/verify/{licence.identifier}")
    assert response.status_code == 200
    body = response.json()
    assert (body["authentic"], body["currently_valid"], body["status"]) == (True, True, "valid")
    assert (body["holder_name"], body["holder_code"]) == ("林**", "350102********0018")
    assert body["face"]["配偶姓名"] == "***"
    assert body["issuer_name"] == "福州市民政局"
    assert ID_NUMBER not in response.content.decode()


@pytest.mark.parametrize(
    ("identifier", "status", "rule"),
    [
        (
            "1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000123.001.K",
            422,
            "identifier.check_character",
        ),
        ("not-an-identifier", 422, "identifier.format"),
        ("1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000123.001.J", 404, None),
        ("%00%ff%fe", 400, "text.control_characters"),  # refused at the edge (config.middleware)
    ],
)
def test_verification_of_bad_identifiers(world, identifier, status, rule):
    document = problem(Client().get(f"{API}/verify/{identifier}"), status)
    if rule:
        assert [e["rule"] for e in document["errors"]] == [rule]


def test_verification_is_rate_limited_per_address(world, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "licences.verify": {"address": "3/60"}}
    url = f"{API}/verify/{world['licence'].identifier}"
    assert [Client(REMOTE_ADDR="10.0.0.1").get(url).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert Client(REMOTE_ADDR="10.0.0.2").get(url).status_code == 200
    problem(Client(REMOTE_ADDR="10.0.0.1").get(url), 429)


def test_exported_document_verifies_and_tampering_is_detected(world):
    export = signed_in(world["holder"]).get(f"{API}/{world['licence'].identifier}/document").json()
    answer = post(Client(), "/documents/verify", export).json()
    assert answer == {"authentic": True, "reason": "authentic", "identifier": world["licence"].identifier,
                      "currently_valid": True}  # fmt: skip
    export["content"]["KZ_spouse_name"] = "别人"
    assert post(Client(), "/documents/verify", export).json()["authentic"] is False
    for garbage in ({"format": "x"}, {"format": "rongcheng-licence/1", "content": [], "signature": 3},
                    {"format": "rongcheng-licence/1", "content": {"ZZQZMC": "x"},
                     "signature": {"key_id": "x", "value": "!!"}}):  # fmt: skip
        response = post(Client(), "/documents/verify", garbage)
        assert response.status_code == 200
        assert response.json()["authentic"] is False


def test_a_canonical_form_that_is_not_the_content_is_not_authentic(world):
    """An export shows its content twice; a canonical form naming another holder must not ride on a valid content."""
    export = signed_in(world["holder"]).get(f"{API}/{world['licence'].identifier}/document").json()
    other = json.loads(export["canonical"])
    other["CZZT"] = "别人"
    for canonical in (json.dumps(other, ensure_ascii=False, separators=(",", ":"), sort_keys=True), 3, ""):
        answer = post(Client(), "/documents/verify", {**export, "canonical": canonical}).json()
        assert answer == {"authentic": False, "reason": "the canonical form does not match the content",
                          "identifier": None, "currently_valid": None}  # fmt: skip
    without = {k: v for k, v in export.items() if k != "canonical"}
    assert post(Client(), "/documents/verify", without).json()["authentic"] is True


def test_keys_are_published(world):
    body = Client().get(f"{API}/keys").json()
    assert [k["key_id"] for k in body] == [world["licence"].key_id]
    assert body[0]["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    well_known = Client().get("/.well-known/licence-keys")
    assert well_known.status_code == 200
    assert well_known.json()["keys"][0]["key_id"] == world["licence"].key_id
    types = Client().get(f"{API}/types").json()
    assert [t["code"] for t in types] == [MARRIAGE_TYPE_CODE]


def _issue_body():
    return {"licence_type": MARRIAGE_TYPE_CODE, "holder_code": ID_NUMBER, "face": MARRIAGE_FACE}


def test_issue_matrix(world):
    dept = world["dept"]
    other = department("FZ-GSJ", "福州市市场监督管理局", serial=2)
    system_with = api_client("mzj-system", can_read=False)
    system_with.department = dept
    system_with.save()
    system_with.user_permissions.add(*officer(dept, "tmp").user_permissions.all())
    callers = {
        "anonymous": (Client(), {}, 401),
        "resident": (signed_in(world["holder"]), {}, 403),
        "officer without permission": (signed_in(officer(dept, "viewer", perms=("view_licence",))), {}, 403),
        "officer of another department": (signed_in(officer(other, "gsj")), {}, 403),
        "token without scope": (
            Client(),
            {"Authorization": f"Bearer {token_for(system_with, scope='licences:read')}"},
            403,
        ),
    }
    for name, (client, headers, status) in callers.items():
        before = state()
        problem(post(client, "/", _issue_body(), **headers), status)
        assert state() == before, name
    created = post(Client(), "/", _issue_body(),
                   Authorization=f"Bearer {token_for(system_with, scope='licences:issue')}")  # fmt: skip
    assert created.status_code == 201, created.content
    assert created.json()["holder_code"] == "350102********0018"
    response = post(signed_in(world["clerk"]), "/", {**_issue_body(), "face": {"spouse_name": 3}})
    assert [e["rule"] for e in problem(response, 422)["errors"]] == ["face.string", "face.required", "face.required"]
    problem(post(signed_in(world["clerk"]), "/", {**_issue_body(), "holder_code": "350102198503121234"}), 422)
    problem(post(signed_in(world["clerk"]), "/", {**_issue_body(), "licence_type": "nope"}), 404)
    ok = post(signed_in(world["clerk"]), "/", {**_issue_body(), "source_reference": "paper-1"})
    assert ok.status_code == 201
    again = post(signed_in(world["clerk"]), "/", {**_issue_body(), "source_reference": "paper-1"})
    assert [e["rule"] for e in problem(again, 422)["errors"]] == ["source_reference.unique"]


def test_transition_matrix(world):
    dept, identifier = world["dept"], world["licence"].identifier
    body = {"action": "revoke", "reason": "以欺骗手段取得"}
    for client, status in ((Client(), 401), (signed_in(world["holder"]), 403),
                           (signed_in(officer(dept, "viewer", perms=("view_licence", "add_licence"))), 403),
                           (signed_in(officer(department("FZ-GSJ", "市场监管局", 2), "gsj")), 403)):  # fmt: skip
        before = state()
        problem(post(client, f"/{identifier}/transitions", body), status)
        assert state() == before
    response = post(signed_in(world["clerk"]), f"/{identifier}/transitions", body)
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    problem(post(signed_in(world["clerk"]), f"/{identifier}/transitions", {"action": "reinstate", "reason": "x"}), 409)
    assert Client().get(f"{API}/verify/{identifier}").json()["status"] == "revoked"


def test_read_and_export_matrix(world):
    identifier = world["licence"].identifier
    stranger = resident("stranger", person=make_person())
    for client, status in ((Client(), 401), (signed_in(stranger), 403),
                           (signed_in(officer(department("FZ-GSJ", "市场监管局", 2), "gsj")), 403)):  # fmt: skip
        problem(client.get(f"{API}/{identifier}"), status)
        problem(client.get(f"{API}/{identifier}/document"), status)
    for user in (world["holder"], world["clerk"]):
        assert signed_in(user).get(f"{API}/{identifier}").json()["identifier"] == identifier
        export = signed_in(user).get(f"{API}/{identifier}/document").json()
        assert export["content"]["CZZTDM"] == ID_NUMBER
    assert AuditRecord.objects.filter(action="licences.licence.export", outcome="success").count() == 2


def test_holder_query_and_use_matrix(world):
    system = api_client("hall-system", can_read=False)
    system.user_permissions.add(*officer(world["dept"], "tmp2", perms=("view_licence",)).user_permissions.all())
    token = token_for(system, scope="licences:read")
    auth = {"Authorization": f"Bearer {token}"}
    query = {"holder_code": ID_NUMBER, "application_reference": "BJ-2017-0001"}
    identifier = world["licence"].identifier
    before = state()
    problem(post(Client(), "/holder-queries", query), 401)
    problem(post(Client(), "/holder-queries", query, **auth), 403)  # no authorization from the holder yet
    problem(post(Client(), f"/{identifier}/uses", {"application_reference": "BJ-2017-0001"}, **auth), 403)
    problem(post(signed_in(world["clerk"]), "/holder-queries", query), 403)
    assert state() == before
    registry_token = token_for(api_client("registry-only"), scope="registries:read")
    problem(post(Client(), "/holder-queries", query, Authorization=f"Bearer {registry_token}"), 403)
    grant = post(signed_in(world["holder"]), "/authorizations",
                 {"grantee": "hall-system", "application_reference": "BJ-2017-0001"})  # fmt: skip
    assert grant.status_code == 201, grant.content
    fetched = post(Client(), "/holder-queries", query, **auth)
    assert [item["identifier"] for item in fetched.json()] == [identifier]
    used = post(Client(), f"/{identifier}/uses", {"application_reference": "BJ-2017-0001"}, **auth)
    assert used.status_code == 201
    assert used.json()["by"] == "hall-system"
    uses = signed_in(world["holder"]).get(f"{API}/mine/uses").json()
    assert [(u["kind"], u["application_reference"], u["by"]) for u in uses] == [
        ("use", "BJ-2017-0001", "hall-system"),
        ("fetch", "BJ-2017-0001", "hall-system"),
    ]
    post(signed_in(world["clerk"]), f"/{identifier}/transitions", {"action": "suspend", "reason": "暂扣"})
    problem(post(Client(), f"/{identifier}/uses", {"application_reference": "BJ-2017-0001"}, **auth), 409)


def test_mine_and_authorization_matrix(world):
    problem(Client().get(f"{API}/mine"), 401)
    assert signed_in(resident("nobody")).get(f"{API}/mine").json() == []
    mine = signed_in(world["holder"]).get(f"{API}/mine").json()
    assert [m["identifier"] for m in mine] == [world["licence"].identifier]
    before = state()
    problem(post(Client(), "/authorizations", {"grantee": "clerk", "application_reference": "A"}), 401)
    problem(
        post(signed_in(resident("unbound")), "/authorizations", {"grantee": "clerk", "application_reference": "A"}), 403
    )
    problem(
        post(signed_in(world["holder"]), "/authorizations", {"grantee": "ghost", "application_reference": "A"}), 422
    )
    problem(post(signed_in(world["holder"]), "/authorizations", {"grantee": "clerk", "application_reference": ""}), 422)
    assert state() == before


OPENSSL = shutil.which("openssl")


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not on PATH")
def test_openssl_verifies_the_exported_document(world, tmp_path):
    export = signed_in(world["holder"]).get(f"{API}/{world['licence'].identifier}/document").json()
    keys = Client().get("/.well-known/licence-keys").json()["keys"]
    pem = next(k["public_key_pem"] for k in keys if k["key_id"] == export["signature"]["key_id"])
    (tmp_path / "key.pem").write_text(pem)
    (tmp_path / "content").write_bytes(export["canonical"].encode())
    (tmp_path / "sig").write_bytes(base64.b64decode(export["signature"]["value"]))

    def verify():
        return subprocess.run(
            [str(OPENSSL), "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "key.pem"), "-rawin",
             "-in", str(tmp_path / "content"), "-sigfile", str(tmp_path / "sig"), "-digest", "sm3",
             "-pkeyopt", f"distid:{export['signature']['signer_id']}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    result = verify()
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout
    # The canonical bytes are the RFC 8785 form of the content, so any JCS implementation gets the same input.
    from rongcheng.licences.canonical import canonical_json

    assert canonical_json(export["content"]) == export["canonical"].encode()
    (tmp_path / "content").write_bytes(export["canonical"].replace("林则徐", "林则涂").encode())
    tampered = verify()
    assert tampered.returncode != 0
    assert "Signature Verification Failure" in tampered.stdout
