"""/api/v1/registries/: who may call what, what each caller sees, what is audited, and how bad input is refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
import traceback
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_application_model

from rongcheng.audit.models import AuditRecord
from rongcheng.registries.models import FieldEntitlement, Indicator, Person, RecordVersion
from rongcheng.registries.permissions import PERSON_PROTECTED_FIELDS
from rongcheng.registries.tests.factories import (
    api_client,
    department,
    entitle,
    make_entity,
    make_id_number,
    make_person,
    resident,
    staff,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/registries"
ID_NUMBER = "350102198503120018"
ADDRESS = "福州市鼓楼区三坊七巷1号"
CLEAR = {"id_number": ID_NUMBER, "phone": "13812345678", "name": "林则徐", "birth_date": "1985-03-12",
         "address": ADDRESS}  # fmt: skip
MASKED = {"id_number": "350102********0018", "phone": "138****5678", "name": "林**", "birth_date": "1985-**-**",
          "address": "********"}  # fmt: skip
ENTITLED_PURPOSE = "public_security"
OTHER_PURPOSE = "service_hall"
SECRET = "test-client-secret-0123456789"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Client secrets are hashed with the first password hasher (argon2 in production: ~0.1 s a check)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def person():
    return make_person(id_number=ID_NUMBER, name="林则徐", phone="13812345678", address=ADDRESS)


@pytest.fixture
def entity(person):
    return make_entity(legal_representative_id=person.pk)


def problem(response, status: int) -> Any:
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    document = response.json()
    assert document["status"] == status
    return document


def without_instance(response) -> str:
    """The problem document less `instance`, the request's own path (which may hold the ID number it asked for)."""
    document = response.json()
    assert document.pop("instance").startswith(API)
    return json.dumps(document, ensure_ascii=False)


def rules(response) -> list[str]:
    return [error["rule"] for error in response.json().get("errors", [])]


def token_for(user, *, scope: str) -> str:
    """An access token from the real token endpoint, by the client-credentials grant."""
    Application = get_application_model()
    application = Application.objects.create(
        name=user.username, user=user, client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, client_secret=SECRET,
    )  # fmt: skip
    basic = base64.b64encode(f"{application.client_id}:{SECRET}".encode()).decode()
    response = Client().post(
        "/oauth/token/", {"grant_type": "client_credentials", "scope": scope}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content.decode()
    assert response.json()["expires_in"] == 600
    return str(response.json()["access_token"])


@dataclass
class Caller:
    """One kind of caller of the API, with the purpose it states."""

    name: str
    user: Any = None
    token: str | None = None
    purpose: str = ENTITLED_PURPOSE
    http: Client = field(default_factory=Client)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: Any):
        return self.http.get(API + path, params, headers=self.headers())

    def send(self, method: str, path: str, body: dict[str, Any]):
        call = getattr(self.http, method)
        return call(API + path, json.dumps(body, default=str), content_type="application/json", headers=self.headers())


def signed_in(name: str, user, purpose: str = ENTITLED_PURPOSE) -> Caller:
    caller = Caller(name, user=user, purpose=purpose)
    caller.http.force_login(user)
    return caller


def entitled_role() -> Group:
    role = Group.objects.create(name="公安户籍民警")
    entitle(role=role, fields=PERSON_PROTECTED_FIELDS, purpose=ENTITLED_PURPOSE)
    return role


def make_caller(kind: str) -> Caller:
    if kind == "anonymous":
        return Caller(kind)
    if kind == "resident":
        return signed_in(kind, resident())
    if kind == "staff_without_permission":
        return signed_in(kind, staff("clerk", can_read=False))
    if kind == "staff_masked":
        return signed_in(kind, staff("officer"))
    if kind == "staff_entitled":
        return signed_in(kind, staff("officer", role=entitled_role()))
    if kind == "staff_entitled_other_purpose":
        return signed_in(kind, staff("officer", role=entitled_role()), purpose=OTHER_PURPOSE)
    if kind == "staff_entitled_self_service":
        return signed_in(kind, staff("officer", role=entitled_role()), purpose="self_service")
    if kind == "staff_masked_self_service":
        return signed_in(kind, staff("officer"), purpose="self_service")
    client = api_client()
    if kind.startswith("client_entitled"):
        entitle(client=client, fields=PERSON_PROTECTED_FIELDS, purpose=ENTITLED_PURPOSE)
    purpose = {"client_entitled_other_purpose": OTHER_PURPOSE, "client_self_service": "self_service"}
    return Caller(kind, user=client, token=token_for(client, scope="registries:read"),
                  purpose=purpose.get(kind, ENTITLED_PURPOSE))  # fmt: skip


# Who gets what: status, and for a 200 whether the protected fields come in clear.
READ_MATRIX = [
    ("anonymous", 401, None),
    ("resident", 403, None),
    ("staff_without_permission", 403, None),
    ("staff_masked", 200, MASKED),
    ("staff_entitled", 200, CLEAR),
    # A purpose is the reader's only if its roles or client are entitled for it; self-service only the subject's.
    ("staff_entitled_other_purpose", 403, None),
    ("staff_entitled_self_service", 403, None),
    ("staff_masked_self_service", 403, None),
    ("client_masked", 200, MASKED),
    ("client_entitled", 200, CLEAR),
    ("client_entitled_other_purpose", 403, None),
    ("client_self_service", 403, None),
]


def _by_id_number(caller: Caller, person) -> tuple[Any, Any]:
    response = caller.send("post", "/persons/by-id-number", {"id_number": ID_NUMBER, "purpose": caller.purpose})
    return response, lambda body: body


def _by_record(caller: Caller, person) -> tuple[Any, Any]:
    return caller.get(f"/persons/{person.pk}", purpose=caller.purpose), lambda body: body


def _search(caller: Caller, person) -> tuple[Any, Any]:
    response = caller.get("/persons", purpose=caller.purpose, name="林则徐", division_code="350102")
    return response, lambda body: body["items"][0]


def _history(caller: Caller, person) -> tuple[Any, Any]:
    return caller.get(f"/persons/{person.pk}/history", purpose=caller.purpose), lambda body: body[-1]["record"]


def _as_of(caller: Caller, person) -> tuple[Any, Any]:
    response = caller.get(f"/persons/{person.pk}", purpose=caller.purpose, as_of=timezone.now().isoformat())
    return response, lambda body: body


PERSON_READS = {
    "by_id_number": (_by_id_number, "registries.person.read"),
    "by_record": (_by_record, "registries.person.read"),
    "search": (_search, "registries.person.search"),
    "history": (_history, "registries.person.history"),
    "as_of": (_as_of, "registries.person.read"),
}
_VIA = {"by_id_number": "id_number", "by_record": "record", "search": "search", "history": "history", "as_of": "as_of"}


@pytest.mark.parametrize("endpoint", list(PERSON_READS))
@pytest.mark.parametrize(("kind", "status", "expected"), READ_MATRIX)
def test_person_read_matrix(person, endpoint, kind, status, expected):
    caller = make_caller(kind)
    read, denied_action = PERSON_READS[endpoint]
    last = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response, record_of = read(caller, person)
    new_records = AuditRecord.objects.filter(id__gt=last)
    if status != 200:
        problem(response, status)
        text = without_instance(response)
        assert not any(value in text for value in CLEAR.values())
        assert not any(value in text for value in MASKED.values() if value != "********")
        if kind == "anonymous":
            assert response["WWW-Authenticate"] == 'Bearer realm="rongcheng"'
            assert not new_records.exists()
        else:
            (refusal,) = new_records
            assert (refusal.action, refusal.outcome, refusal.actor_id) == (denied_action, "denied", str(caller.user.pk))
            assert (refusal.purpose, refusal.source_address) == (caller.purpose, "127.0.0.1")
        return
    assert response.status_code == 200, response.content.decode()
    record = record_of(response.json())
    assert {f: record[f] for f in PERSON_PROTECTED_FIELDS} == expected
    clear_fields = sorted(PERSON_PROTECTED_FIELDS) if expected is CLEAR else []
    assert record["clear"] == clear_fields
    assert (record["record_id"], record["sex"], record["division_code"], record["version"]) == (
        person.pk, "male", "350102", 1,
    )  # fmt: skip
    (audit,) = new_records
    assert (audit.action, audit.outcome, audit.purpose) == ("registries.person.read", "success", caller.purpose)
    assert (audit.actor_id, audit.actor_label) == (str(caller.user.pk), caller.user.username)
    assert audit.actor_kind == ("api_client" if kind.startswith("client") else "user")
    assert (audit.target_type, audit.target_id, audit.source_address) == (
        "registries.person",
        str(person.pk),
        "127.0.0.1",
    )
    assert audit.detail == {"clear": clear_fields, "via": _VIA[endpoint]}


ENTITY_MATRIX = [
    ("anonymous", 401),
    ("resident", 403),
    ("staff_without_permission", 403),
    ("staff_masked", 200),
    ("client_masked", 200),
]


@pytest.mark.parametrize("by", ["credit_code", "record", "as_of"])
@pytest.mark.parametrize(("kind", "status"), ENTITY_MATRIX)
def test_entity_read_matrix(entity, by, kind, status):
    caller = make_caller(kind)
    last = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
    if by == "credit_code":
        response = caller.send(
            "post", "/entities/by-credit-code", {"credit_code": entity.credit_code, "purpose": caller.purpose}
        )
    elif by == "record":
        response = caller.get(f"/entities/{entity.pk}", purpose=caller.purpose)
    else:
        response = caller.get(f"/entities/{entity.pk}", purpose=caller.purpose, as_of=timezone.now().isoformat())
    new_records = AuditRecord.objects.filter(id__gt=last)
    if status != 200:
        problem(response, status)
        assert entity.credit_code not in without_instance(response)
        assert [(r.action, r.outcome) for r in new_records] == (
            [] if kind == "anonymous" else [("registries.entity.read", "denied")]
        )
        return
    assert response.status_code == 200, response.content.decode()
    assert response.json() == {
        "record_id": entity.pk, "credit_code": entity.credit_code, "name": "福州榕城科技有限公司",
        "entity_type": "企业", "division_code": "350102", "legal_representative_id": entity.legal_representative_id,
        "address": "", "registration_authority": "", "established_on": "2010-05-01", "status": "active",
        "closed_on": None,
    }  # fmt: skip
    (audit,) = new_records
    assert (audit.action, audit.outcome, audit.purpose, audit.actor_id) == (
        "registries.entity.read", "success", caller.purpose, str(caller.user.pk),
    )  # fmt: skip


def writer(kind: str) -> Caller:
    """Callers of the write endpoints; `writer` kinds hold the add and change permissions."""
    if kind in ("anonymous", "resident", "staff_without_permission"):
        return make_caller(kind)
    if kind == "staff_reader":
        return signed_in(kind, staff("reader"))
    permissions = Permission.objects.filter(
        content_type__app_label="registries", codename__in=["add_person", "change_person", "add_indicator"]
    )
    if kind == "staff_writer":
        user = staff("registrar")
        user.user_permissions.add(*permissions)
        return signed_in(kind, user)
    user = api_client("mzj-system")
    user.user_permissions.add(*permissions)
    scope = "registries:read" if kind == "client_read_scope" else "registries:read registries:write"
    return Caller(kind, user=user, token=token_for(user, scope=scope))


WRITE_MATRIX = [
    ("anonymous", 401, None),
    ("resident", 403, "forbidden"),
    ("staff_without_permission", 403, "forbidden"),
    ("staff_reader", 403, "forbidden"),
    ("client_read_scope", 403, "insufficient-scope"),
    ("staff_writer", None, None),
    ("client_writer", None, None),
]
NEW_ID_NUMBER = "350103199001010020"


def _register(caller: Caller, person):
    body = {"id_number": NEW_ID_NUMBER, "name": "陈靖姑", "phone": "13900001111", "ethnicity": "01"}
    return caller.send("post", "/persons", body), 201, "registries.person.register"


def _correct(caller: Caller, person):
    body = {"name": "林徐", "reason": "户籍更正", "expected_version": 1}
    return caller.send("patch", f"/persons/{person.pk}", body), 200, "registries.person.correct"


def _close(caller: Caller, person):
    body = {"status": "deceased", "on": "2020-01-01", "reason": "死亡登记"}
    return caller.send("post", f"/persons/{person.pk}/close", body), 200, "registries.person.close"


def _indicator(caller: Caller, person):
    body = {"period": "2017", "value": "7104.02", "name": "地区生产总值", "unit": "亿元", "source_department": "FZ-GAJ"}
    return caller.send("post", "/indicators/gdp", body), 201, "registries.indicator.record"


WRITES = {"register": _register, "correct": _correct, "close": _close, "indicator": _indicator}


def _state() -> tuple[Any, ...]:
    return (
        list(Person.objects.order_by("pk").values_list("pk", "name", "status", "version")),
        RecordVersion.objects.count(),
        Indicator.objects.count(),
    )


@pytest.mark.parametrize("operation", list(WRITES))
@pytest.mark.parametrize(("kind", "status", "slug"), WRITE_MATRIX)
def test_write_matrix(person, operation, kind, status, slug):
    department()
    caller = writer(kind)
    before = _state()
    last = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response, success, action = WRITES[operation](caller, person)
    new_records = AuditRecord.objects.filter(id__gt=last)
    if status is not None:
        document = problem(response, status)
        assert _state() == before
        if kind == "anonymous":
            assert not new_records.exists()
        else:
            assert document["type"] == f"/problems/{slug}"
            (refusal,) = new_records
            assert (refusal.action, refusal.outcome, refusal.actor_id) == (action, "denied", str(caller.user.pk))
        return
    assert response.status_code == success, response.content.decode()
    assert [(r.action, r.outcome, r.actor_id) for r in new_records] == [(action, "success", str(caller.user.pk))]
    if operation == "register":
        created = Person.objects.get(pk=response.json()["record_id"])
        assert response.json() == {
            "record_id": created.pk, "id_number": "350103********0020", "status": "living", "version": 1,
            "valid_from": response.json()["valid_from"],
        }  # fmt: skip
        assert (created.name, created.phone_masked, created.division_code) == ("陈靖姑", "139****1111", "350103")
    elif operation == "correct":
        assert (response.json()["version"], Person.objects.get(pk=person.pk).name) == (2, "林徐")
    elif operation == "close":
        person.refresh_from_db()
        assert (response.json()["status"], person.status, person.closed_on) == (
            "deceased", "deceased", dt.date(2020, 1, 1),
        )  # fmt: skip
    else:
        assert response.json() == {
            "code": "gdp",
            "division_code": "350100",
            "period": "2017",
            "value": "7104.0200",
            "outcome": "created",
        }


def test_a_session_write_needs_the_csrf_token(person):
    user = staff("registrar")
    user.user_permissions.add(Permission.objects.get(codename="add_person"))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post(
        API + "/persons", {"id_number": NEW_ID_NUMBER, "name": "陈"}, content_type="application/json"
    )
    problem(response, 403)
    assert not Person.objects.filter(name="陈").exists()


# Bad input: a 4xx problem document, nothing stored, no read audited.


@pytest.fixture
def officer(person) -> Caller:
    user = staff("officer", role=entitled_role())
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_person", "change_person"]))
    return signed_in("officer", user)


def _reads_audited() -> int:
    return AuditRecord.objects.filter(action__startswith="registries.person.", outcome="success").count()


@pytest.mark.parametrize(
    ("path", "params", "rule"),
    [
        ("/persons/by-id-number", {"id_number": f"{ID_NUMBER[:-1]}9", "purpose": ENTITLED_PURPOSE},
         "id_number.checksum"),
        ("/persons/by-id-number", {"id_number": "350102198502300017", "purpose": ENTITLED_PURPOSE},
         "id_number.birth_date"),
        ("/persons/by-id-number", {"id_number": ID_NUMBER, "purpose": "curiosity"}, "purpose.known"),
        ("/persons/by-id-number", {"id_number": ID_NUMBER}, "missing"),
        ("/persons", {"purpose": ENTITLED_PURPOSE, "name": "林则徐", "cursor": "forged"}, "cursor.signature"),
        ("/persons", {"purpose": ENTITLED_PURPOSE, "name": "林则徐", "limit": 0}, "greater_than_equal"),
        ("/persons", {"purpose": ENTITLED_PURPOSE}, "search.criteria"),
        ("/persons/{pk}", {"purpose": ENTITLED_PURPOSE, "as_of": "yesterday"}, "datetime_from_date_parsing"),
        ("/persons/{pk}", {"purpose": ENTITLED_PURPOSE, "as_of": "2024-02-30T10:00:00"}, "datetime_from_date_parsing"),
        ("/persons/{pk}/history", {"purpose": ""}, "purpose.required"),
        ("/entities/by-credit-code", {"credit_code": "91350102MA0000001X", "purpose": ENTITLED_PURPOSE},
         "credit_code.check"),
    ],
)  # fmt: skip
def test_bad_read_input_is_refused_without_a_read(officer, person, path, params, rule):
    before = _reads_audited()
    if path.startswith(("/persons/by-id-number", "/entities/by-credit-code")):
        response = officer.send("post", path, params)
    else:
        response = officer.get(path.format(pk=person.pk), **params)
    problem(response, 422)
    assert rule in rules(response), response.json()
    assert _reads_audited() == before
    assert "林则徐" not in response.content.decode()


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"id_number": "350102198503120010", "name": "陈"}, "id_number.checksum"),
        ({"id_number": NEW_ID_NUMBER, "name": "陈", "division_code": "999999"}, "division.known"),
        ({"id_number": "350102199002300011", "name": "陈"}, "id_number.birth_date"),
        ({"id_number": NEW_ID_NUMBER, "name": "陈", "birth_date": "1990-02-30"}, "date_from_datetime_parsing"),
        ({"id_number": NEW_ID_NUMBER, "name": "陈", "birth_date": "1991-01-01"}, "birth_date.matches_id_number"),
        ({"id_number": NEW_ID_NUMBER, "name": ""}, "name.required"),
        ({"name": "陈"}, "missing"),
    ],
)
def test_bad_registration_is_refused_and_nothing_is_stored(officer, body, rule):
    before = (Person.objects.count(), AuditRecord.objects.count())
    response = officer.send("post", "/persons", body)
    problem(response, 422)
    assert rule in rules(response), response.json()
    assert (Person.objects.count(), AuditRecord.objects.count()) == before


def test_a_correction_needs_the_current_version_and_a_real_record(officer, person):
    stale = officer.send("patch", f"/persons/{person.pk}", {"name": "林徐", "reason": "更正", "expected_version": 7})
    assert problem(stale, 409)["type"] == "/problems/stale-version"
    missing = officer.send(
        "patch", f"/persons/{person.pk + 999}", {"name": "林", "reason": "更正", "expected_version": 1}
    )
    problem(missing, 404)
    closing = officer.send(
        "post", f"/persons/{person.pk}/close", {"status": "deceased", "on": "2023-02-30", "reason": "x"}
    )
    problem(closing, 422)
    future = officer.send(
        "post", f"/persons/{person.pk}/close", {"status": "deceased", "on": "2999-01-01", "reason": "x"}
    )
    assert "date.range" in rules(problem_or(future, 422))
    person.refresh_from_db()
    assert (person.version, person.name, person.status) == (1, "林则徐", "living")
    assert not RecordVersion.objects.exists()


def problem_or(response, status):
    problem(response, status)
    return response


def test_unknown_records_are_404_problems(officer):
    for path in ("/persons/999999", "/persons/999999/history", "/entities/999999"):
        assert problem(officer.get(path, purpose=ENTITLED_PURPOSE), 404)["type"] == "/problems/not-found"
    missing = officer.send("post", "/persons/by-id-number", {"id_number": "350103199001010020",
                                                             "purpose": ENTITLED_PURPOSE})  # fmt: skip
    problem(missing, 404)
    assert "350103199001010020" not in missing.content.decode()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"/persons/by-id-number/{ID_NUMBER}", "/api/v1/registries/persons/by-id-number"),
        ("/entities/by-credit-code/91350102MA2YXL3E4N", "/api/v1/registries/entities/by-credit-code"),
    ],
)
def test_identifiers_in_paths_are_gone_and_never_echoed(officer, person, old, new, caplog):
    before = AuditRecord.objects.count()
    response = officer.get(old, purpose=ENTITLED_PURPOSE)
    document = problem(response, 410)
    assert document["type"] == "/problems/identifier-in-path"
    assert document["new_route"] == new
    assert old.rsplit("/", 1)[1] not in response.content.decode()
    assert old.rsplit("/", 1)[1] not in caplog.text  # Django's request log does not get the path either
    assert AuditRecord.objects.count() == before


def test_search_pages_with_a_signed_cursor(officer, person):
    others = [make_person(id_number=make_id_number(sequence=sequence), name="林则徐") for sequence in (2, 3)]
    first = officer.get("/persons", purpose=ENTITLED_PURPOSE, name="林则徐", limit=2)
    assert first.status_code == 200
    page = first.json()
    assert [item["record_id"] for item in page["items"]] == [person.pk, others[0].pk]
    second = officer.get("/persons", purpose=ENTITLED_PURPOSE, name="林则徐", limit=2, cursor=page["next_cursor"])
    assert [item["record_id"] for item in second.json()["items"]] == [others[1].pk]
    assert second.json()["next_cursor"] is None


@pytest.mark.django_db(transaction=True)
def test_a_search_page_audits_each_person_read_and_commits_once(officer, person, monkeypatch, settings):
    settings.AUDIT_SEAL_MODE = "manual"  # the sealer's own transactions are not the request's
    others = [make_person(id_number=make_id_number(sequence=sequence), name="林则徐") for sequence in (2, 3)]
    commits = []
    commit = connection.commit

    def counted_commit() -> None:
        commits.append(traceback.format_stack(limit=12))
        commit()

    monkeypatch.setattr(connection, "commit", counted_commit)
    audit_inserts: list[bool] = []  # for each INSERT into the trail: inside a transaction block (True) or its own

    def watched(execute, sql, params, many, context):
        if sql.lstrip().replace('"', "").upper().startswith("INSERT INTO AUDIT_RECORD"):
            audit_inserts.append(context["connection"].in_atomic_block)
        return execute(sql, params, many, context)

    before = AuditRecord.objects.count()
    with connection.execute_wrapper(watched):
        found = officer.get("/persons", purpose=ENTITLED_PURPOSE, name="林则徐", limit=10)
    assert found.status_code == 200
    assert [item["record_id"] for item in found.json()["items"]] == [person.pk, *(p.pk for p in others)]
    records = AuditRecord.objects.order_by("id")[before:]
    assert [(r.action, r.target_id, r.detail["via"]) for r in records] == [
        ("registries.person.read", str(pk), "search") for pk in (person.pk, *(p.pk for p in others))
    ]
    # The page's three records in one transaction, not one flush per person: one statement, which is its own
    # transaction on PostgreSQL (committed with it, no COMMIT of its own) and inside one committed block on SQLite.
    # The signed-in caller's session is saved only when its activity is noted (at most once a minute), so not more
    # than once here.
    reads = [stack for stack in commits if not any("sessions/backends" in frame for frame in stack)]
    assert len(audit_inserts) == 1
    assert len(reads) + audit_inserts.count(False) == 1
    assert len(commits) - len(reads) in (0, 1)


def test_as_of_reads_the_version_in_force_and_history_lists_both(officer, person):
    between = timezone.now()
    corrected = officer.send(
        "patch",
        f"/persons/{person.pk}",
        {"name": "林徐", "phone": "13900001111", "reason": "户籍更正", "expected_version": 1},
    )
    assert corrected.status_code == 200, corrected.content.decode()
    before = officer.get(f"/persons/{person.pk}", purpose=ENTITLED_PURPOSE, as_of=between.isoformat())
    assert before.status_code == 200, before.content.decode()
    assert (before.json()["name"], before.json()["phone"], before.json()["version"]) == ("林则徐", "13812345678", 1)
    now = officer.get(f"/persons/{person.pk}", purpose=ENTITLED_PURPOSE)
    assert (now.json()["name"], now.json()["phone"], now.json()["version"]) == ("林徐", "13900001111", 2)
    naive_local = timezone.localtime(between).replace(tzinfo=None).isoformat()
    assert officer.get(f"/persons/{person.pk}", purpose=ENTITLED_PURPOSE, as_of=naive_local).json()["version"] == 1
    history = officer.get(f"/persons/{person.pk}/history", purpose=ENTITLED_PURPOSE).json()
    assert [(v["version"], v["record"]["name"], v["replaced_by"], v["reason"]) for v in history] == [
        (1, "林则徐", "correct", "户籍更正"), (2, "林徐", "", ""),
    ]  # fmt: skip
    assert history[0]["changed_by"] == "officer"
    assert history[0]["valid_to"] is not None
    assert history[1]["valid_to"] is None
    too_early = officer.get(f"/persons/{person.pk}", purpose=ENTITLED_PURPOSE, as_of="2000-01-01T00:00:00+08:00")
    problem(too_early, 404)


# Indicators: public reads, permissioned writes, idempotent upsert.


@pytest.fixture
def statistician() -> Caller:
    department()
    user = staff("statistician")
    user.user_permissions.add(Permission.objects.get(codename="add_indicator"))
    return signed_in("statistician", user)


def _gdp(period: str, value: str | Decimal, **extra: Any) -> dict[str, Any]:
    return {"period": period, "value": value, "name": "地区生产总值", "unit": "亿元", "source_department": "FZ-GAJ",
            **extra}  # fmt: skip


def test_indicator_series_is_public_and_upserts_are_idempotent(statistician):
    assert statistician.send("post", "/indicators/gdp", _gdp("2017", "7104.02")).status_code == 201
    assert statistician.send("post", "/indicators/gdp", _gdp("2016-Q4", "1850.5")).status_code == 201
    again = statistician.send("post", "/indicators/gdp", _gdp("2017", "7104.0200"))
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    revised = statistician.send("post", "/indicators/gdp", _gdp("2017", "7104.5"))
    assert (revised.status_code, revised.json()["outcome"], revised.json()["value"]) == (200, "revised", "7104.5000")
    assert Indicator.objects.count() == 2
    actions = list(
        AuditRecord.objects.filter(action__startswith="registries.indicator.").values_list("action", "detail")
    )
    assert actions == [
        ("registries.indicator.record", {"code": "gdp", "division_code": "350100", "period": "2017",
                                         "value": "7104.0200"}),
        ("registries.indicator.record", {"code": "gdp", "division_code": "350100", "period": "2016-Q4",
                                         "value": "1850.5000"}),
        ("registries.indicator.revise", {"code": "gdp", "division_code": "350100", "period": "2017",
                                         "changes": {"value": ["7104.0200", "7104.5000"]}}),
    ]  # fmt: skip
    series = Client().get(API + "/indicators/gdp")
    assert series.status_code == 200
    same = {"name": "地区生产总值", "unit": "亿元", "source_department": "FZ-GAJ"}
    assert series.json() == {
        "code": "gdp",
        "division_code": "350100",
        "values": [
            {"period": "2016-Q4", "value": "1850.5000", **same},
            {"period": "2017", "value": "7104.5000", **same},
        ],
    }
    problem(Client().get(API + "/indicators/cpi"), 404)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (_gdp("2017-13", "1"), "period.format"),
        (_gdp("2017-Q5", "1"), "period.format"),
        (_gdp("17", "1"), "period.format"),
        (_gdp("1800", "1"), "period.year"),
        (_gdp("2017", "1.00001"), "value.precision"),
        (_gdp("2017", "1" * 17), "value.precision"),
        (_gdp("2017", "1", division_code="999999"), "division.known"),
        (_gdp("2017", "1", source_department="FZ-NONE"), "department.known"),
        (_gdp("2017", "1", unit=""), "unit.required"),
        (_gdp("2017", "NaN"), "finite_number"),
        (_gdp("2017", "abc"), "decimal_parsing"),
    ],
)
def test_bad_indicator_values_are_refused(statistician, body, rule):
    before = AuditRecord.objects.count()
    response = statistician.send("post", "/indicators/gdp", body)
    problem(response, 422)
    assert rule in rules(response), response.json()
    assert (Indicator.objects.count(), AuditRecord.objects.count()) == (0, before)


def test_indicator_code_is_checked():
    department()
    from rongcheng.registries.errors import RegistryInputInvalid
    from rongcheng.registries.indicators import indicator_record
    from rongcheng.registries.tests.factories import SYSTEM

    with pytest.raises(RegistryInputInvalid) as caught:
        indicator_record(data={**_gdp("2017", "1"), "code": "gdp growth"}, actor=SYSTEM)
    assert [e["rule"] for e in caught.value.errors] == ["code.format"]
    recorded = indicator_record(data={**_gdp("2017", Decimal("1.5")), "code": "gdp"}, actor=SYSTEM)
    assert (recorded.outcome, recorded.indicator.value) == ("created", Decimal("1.5"))
    assert not FieldEntitlement.objects.exists()
