"""Each security rule raises its event, and what is announced (mail, webhook) names nobody."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor, audit_record, audit_seal
from rongcheng.identity.errors import AccountLocked, SignInRefused
from rongcheng.identity.services import password_sign_in
from rongcheng.kernel.errors import PermissionDenied
from rongcheng.kernel.tests.contexts import request_from
from rongcheng.operations import jobs
from rongcheng.operations.models import EventState, SecurityEvent
from rongcheng.operations.security import audit_chain_check, audit_trail_scan
from rongcheng.operations.services import security_event_acknowledge, security_event_close

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"
PASSWORD = "Correct-Horse-9!"


class _Hook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def webhook(settings):
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OPERATIONS_SECURITY_WEBHOOK = f"http://127.0.0.1:{server.server_address[1]}/hook"
    settings.OPERATIONS_SECURITY_EMAILS = ["soc@city.invalid"]
    yield _Hook.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def rules(settings):
    settings.OPERATIONS_SECURITY_RULES = {
        **settings.OPERATIONS_SECURITY_RULES,
        "brute_force": {"failures": 3, "seconds": 600},
        "credential_stuffing": {"accounts": 3, "seconds": 600},
        "mass_read": {"persons": 5, "seconds": 3600},
    }
    settings.IDENTITY_LOCKOUT_THRESHOLD = 4
    return settings.OPERATIONS_SECURITY_RULES


def _account(username: str, **extra: Any) -> User:
    if extra.get("kind") == AccountKind.STAFF:
        extra["department"], _ = Department.objects.get_or_create(code="FZ-SZB", defaults={"name": "市政府办公厅"})
    return User.objects.create_user(username=username, password=PASSWORD, **extra)


def _fail_sign_in(username: str, capture) -> None:
    with request_from(ADDRESS), capture(execute=True), pytest.raises((SignInRefused, AccountLocked)):
        password_sign_in(username=username, password="wrong")


def _notified(capture, webhook: list[bytes], *secrets: str) -> dict[str, Any]:
    """Run the notification jobs; the one webhook payload, after checking nothing personal left in mail or hook."""
    with capture(execute=True):
        jobs.jobs_drain()
    assert len(webhook) == 1
    assert len(mail.outbox) == 1
    sent = webhook[0].decode() + mail.outbox[0].subject + mail.outbox[0].body
    for secret in (ADDRESS, *secrets):
        assert secret not in sent
    payload: dict[str, Any] = json.loads(webhook[0])
    return payload


def test_brute_force_on_one_account(rules, webhook, django_capture_on_commit_callbacks):
    alice = _account("alice", kind=AccountKind.RESIDENT)
    for _ in range(3):
        _fail_sign_in("alice", django_capture_on_commit_callbacks)
    event = SecurityEvent.objects.get(rule="brute_force")
    assert (event.severity, event.subject_type, event.subject_id, event.state) == (
        "medium", "accounts.user", str(alice.pk), EventState.OPEN)  # fmt: skip
    assert event.evidence == {"failures": 3, "window_seconds": 600}
    payload = _notified(django_capture_on_commit_callbacks, webhook, "alice")
    assert payload["rule"] == "brute_force"
    assert payload["event"] == event.pk
    assert set(payload) == {"type", "event", "rule", "title", "severity", "occurrences", "occurred_at", "dashboard"}


def test_lockout(rules, webhook, django_capture_on_commit_callbacks, settings):
    settings.OPERATIONS_SECURITY_RULES = {**rules, "brute_force": {"failures": 100, "seconds": 600}}
    bob = _account("bob", kind=AccountKind.RESIDENT)
    for _ in range(4):
        _fail_sign_in("bob", django_capture_on_commit_callbacks)
    event = SecurityEvent.objects.get(rule="lockout")
    assert (event.subject_id, event.evidence) == (str(bob.pk), {"failures": 4})
    assert SecurityEvent.objects.count() == 1
    _notified(django_capture_on_commit_callbacks, webhook, "bob")


def test_credential_stuffing_across_accounts_from_one_address(rules, webhook, django_capture_on_commit_callbacks):
    for name in ("carol", "dave"):
        _account(name, kind=AccountKind.RESIDENT)
    for name in ("carol", "dave", "nobody-here"):
        _fail_sign_in(name, django_capture_on_commit_callbacks)
    event = SecurityEvent.objects.get(rule="credential_stuffing")
    assert (event.severity, event.subject_type, event.subject_id) == ("high", "address", ADDRESS)
    assert event.evidence == {"accounts": 3, "failures": 3, "window_seconds": 600}
    _notified(django_capture_on_commit_callbacks, webhook, "carol", "dave", "nobody-here")


def test_a_staff_member_reading_unusually_many_persons(rules, webhook, django_capture_on_commit_callbacks):
    officer = _account("officer7", kind=AccountKind.STAFF)
    actor = Actor("user", str(officer.pk), officer.username)
    with django_capture_on_commit_callbacks(execute=True):
        for person in range(5):
            audit_record(action="registries.person.read", actor=actor, target_type="registries.person",
                         target_id=person, purpose="service_hall")  # fmt: skip
        audit_trail_scan()
    event = SecurityEvent.objects.get(rule="mass_read")
    assert (event.subject_type, event.subject_id, event.evidence) == (
        "accounts.user", str(officer.pk), {"person_reads": 5, "window_seconds": 3600})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert audit_trail_scan() == 0  # read up to here already: nothing raised twice
    _notified(django_capture_on_commit_callbacks, webhook, "officer7")


def test_reuse_of_a_revoked_refresh_token(webhook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(action="oidc.refresh_token.reuse", actor=Actor("api_client", "9", "client-abc"), outcome="denied",
                     target_type="oidc.token_family", target_id="fam-1", source_address=ADDRESS,
                     detail={"client_id": "client-abc", "family_revoked": True})  # fmt: skip
        audit_trail_scan()
    event = SecurityEvent.objects.get(rule="refresh_token_reuse")
    assert (event.severity, event.subject_type, event.subject_id) == ("high", "oidc.client", "client-abc")
    _notified(django_capture_on_commit_callbacks, webhook, "client-abc")


def test_administrator_duty_granted(webhook, django_capture_on_commit_callbacks):
    from rongcheng.staff.models import Duty
    from rongcheng.staff.services import role_define, role_grant_by_system

    system = Actor.system("test")
    role = role_define(name="安全管理员", duty=Duty.SECURITY, description="", permissions=("staff.assign_role",),
                       city_wide=True, actor=system)  # fmt: skip
    erin = _account("erin", kind=AccountKind.STAFF)
    with django_capture_on_commit_callbacks(execute=True):
        role_grant_by_system(user=erin, role=role, department=None, actor=system)
        audit_trail_scan()
    event = SecurityEvent.objects.get(rule="duty_change")
    assert (event.severity, event.subject_id) == ("high", str(erin.pk))
    assert event.evidence["duty"] == "security"
    assert event.evidence["change"] == "grant"
    _notified(django_capture_on_commit_callbacks, webhook, "erin", "安全管理员")


def test_a_new_api_client(webhook, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Permission

    from rongcheng.oidc.services import client_register

    manager = _account("oidc-manager", kind=AccountKind.STAFF)
    manager.user_permissions.add(Permission.objects.get(codename="manage_client"))
    manager = User.objects.get(pk=manager.pk)
    with django_capture_on_commit_callbacks(execute=True):
        issued = client_register(actor=manager, name="不动产登记系统", department_code="FZ-SZB",
                                 grant_type="client-credentials", redirect_uris=[])  # fmt: skip
        audit_trail_scan()
    client_id = issued.registration.application.client_id
    event = SecurityEvent.objects.get(rule="new_api_client")
    assert (event.severity, event.subject_type, event.subject_id) == ("low", "oidc.client", client_id)
    assert event.evidence == {"audit_record": AuditRecord.objects.get(action="oidc.client.register").pk,
                              "grant_type": "client-credentials", "by_account": str(manager.pk)}  # fmt: skip
    _notified(django_capture_on_commit_callbacks, webhook, client_id, "不动产登记系统", "oidc-manager",
              issued.client_secret)  # fmt: skip


def test_a_failed_audit_verification(webhook, django_capture_on_commit_callbacks):
    record = audit_record(action="registries.person.read", actor=Actor("user", "5", "frank"), target_id="77")
    audit_seal()
    with transaction.atomic():  # tampered behind the triggers' back, as a database superuser could
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        AuditRecord.objects.filter(pk=record.pk).update(target_id="78")
    with django_capture_on_commit_callbacks(execute=True):
        audit_chain_check()
    event = SecurityEvent.objects.get(rule="audit_verification")
    assert (event.severity, event.subject_type, event.evidence["first_bad_record"]) == (
        "critical",
        "audit.chain",
        record.pk,
    )
    _notified(django_capture_on_commit_callbacks, webhook, "frank")


def test_the_security_administrator_acknowledges_and_closes(django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Permission

    with django_capture_on_commit_callbacks(execute=True):
        audit_record(action="oidc.client.register", actor=Actor("user", "3", "x"), target_type="oidc.client",
                     target_id="c1", detail={"grant_type": "client-credentials"})  # fmt: skip
        audit_trail_scan()
    event = SecurityEvent.objects.get()
    officer = _account("grace", kind=AccountKind.STAFF)
    with pytest.raises(PermissionDenied):
        security_event_acknowledge(user=officer, event_id=event.pk)
    assert AuditRecord.objects.filter(action="operations.security_event.refused", actor_id=str(officer.pk)).count() == 1
    secadmin = _account("secadmin2", kind=AccountKind.STAFF)
    secadmin.user_permissions.add(Permission.objects.get(codename="manage_securityevent"))
    secadmin = User.objects.get(pk=secadmin.pk)
    security_event_acknowledge(user=secadmin, event_id=event.pk)
    security_event_close(user=secadmin, event_id=event.pk, resolution="登记系统上线，已核实")
    event.refresh_from_db()
    assert (event.state, event.acknowledged_by_id, event.closed_by_id, event.resolution) == (
        EventState.CLOSED, secadmin.pk, secadmin.pk, "登记系统上线，已核实")  # fmt: skip
    assert list(AuditRecord.objects.filter(action__startswith="operations.security_event.", outcome="success")
                .values_list("action", flat=True).order_by("pk")) == [
        "operations.security_event.acknowledge", "operations.security_event.close"]  # fmt: skip


def test_a_staff_member_reading_persons_outside_the_department_jurisdiction(
    rules, webhook, django_capture_on_commit_callbacks, settings
):
    from django.contrib.auth.models import Permission

    from rongcheng.registries.permissions import reader_for
    from rongcheng.registries.selectors import person_read
    from rongcheng.registries.tests.factories import make_id_number, make_person

    settings.OPERATIONS_SECURITY_RULES = {**rules, "outside_department": {"persons": 3, "seconds": 3600},
                                          "mass_read": {"persons": 100, "seconds": 3600}}  # fmt: skip
    gulou = Department.objects.create(code="FZ-GLQ-MZJ", name="鼓楼区民政局", division_code="350102")
    officer = User.objects.create_user(username="gulou-clerk", password=PASSWORD, kind=AccountKind.STAFF,
                                       department=gulou)  # fmt: skip
    officer.user_permissions.add(Permission.objects.get(codename="view_person"))
    officer = User.objects.get(pk=officer.pk)
    numbers = [make_id_number(division="350102") for _ in range(2)] + [make_id_number(division="350103") for _ in "abc"]
    inside = [make_person(id_number=number, name="林则徐") for number in numbers[:2]]
    outside = [make_person(id_number=number, name="沈葆桢") for number in numbers[2:]]
    reader = reader_for(officer)
    with django_capture_on_commit_callbacks(execute=True):
        with request_from(ADDRESS):
            for person in [*inside, *outside[:2]]:
                person_read(reader=reader, person_id=person.pk, purpose="service_hall")
        audit_trail_scan()
    assert not SecurityEvent.objects.filter(rule="outside_department").exists()  # two outside: under the threshold
    with django_capture_on_commit_callbacks(execute=True):
        with request_from(ADDRESS):
            person_read(reader=reader, person_id=outside[2].pk, purpose="service_hall")
        audit_trail_scan()
    event = SecurityEvent.objects.get(rule="outside_department")
    assert (event.severity, event.subject_type, event.subject_id) == ("medium", "accounts.user", str(officer.pk))
    assert event.evidence == {"persons_outside": 3, "department": "FZ-GLQ-MZJ", "jurisdiction": "350102",
                              "window_seconds": 3600}  # fmt: skip
    assert SecurityEvent.objects.count() == 1  # the inside reads count for nothing
    _notified(django_capture_on_commit_callbacks, webhook, "gulou-clerk", "林则徐", "沈葆桢", "鼓楼",
              *numbers)  # fmt: skip


def test_persons_read_by_a_page_of_the_exchange_count_outside_the_department(
    rules, django_capture_on_commit_callbacks, settings
):
    """A staff account's page of persons read at once (on PostgreSQL one record listing them) counts each person."""
    from django.contrib.auth.models import Permission

    from rongcheng.audit.services import actor_from_user
    from rongcheng.registries.selectors import persons_read_for_sharing
    from rongcheng.registries.tests.factories import make_id_number, make_person

    settings.OPERATIONS_SECURITY_RULES = {**rules, "outside_department": {"persons": 3, "seconds": 3600}}
    gulou = Department.objects.create(code="FZ-GLQ-MZJ", name="鼓楼区民政局", division_code="350102")
    officer = User.objects.create_user(username="gulou-clerk", password=PASSWORD, kind=AccountKind.STAFF,
                                       department=gulou)  # fmt: skip
    officer.user_permissions.add(Permission.objects.get(codename="view_person"))
    make_person(id_number=make_id_number(division="350102"))
    for _ in "abc":
        make_person(id_number=make_id_number(division="350103"))
    with django_capture_on_commit_callbacks(execute=True):
        persons_read_for_sharing(actor=actor_from_user(officer), department=gulou.name, grant="GX0001",
                                 purpose="service_hall", fields=["name"], clear=frozenset(), offset=0,
                                 limit=3)  # fmt: skip
        audit_trail_scan()
    assert not SecurityEvent.objects.filter(rule="outside_department").exists()  # two outside on the first page
    with django_capture_on_commit_callbacks(execute=True):
        persons_read_for_sharing(actor=actor_from_user(officer), department=gulou.name, grant="GX0001",
                                 purpose="service_hall", fields=["name"], clear=frozenset(), offset=3,
                                 limit=3)  # fmt: skip
        audit_trail_scan()
    assert SecurityEvent.objects.get(rule="outside_department").evidence["persons_outside"] == 3


def test_the_city_wide_department_reads_anywhere_in_the_city(rules, django_capture_on_commit_callbacks, settings):
    from django.contrib.auth.models import Permission

    from rongcheng.operations.security import jurisdiction_prefix
    from rongcheng.registries.permissions import reader_for
    from rongcheng.registries.selectors import person_read
    from rongcheng.registries.tests.factories import make_id_number, make_person

    assert [jurisdiction_prefix(c) for c in ("350100", "350102", "350000")] == ["3501", "350102", "35"]
    settings.OPERATIONS_SECURITY_RULES = {**rules, "outside_department": {"persons": 1, "seconds": 3600}}
    city = Department.objects.create(code="FZ-MZJ", name="福州市民政局", division_code="350100")
    officer = User.objects.create_user(username="city-clerk", password=PASSWORD, kind=AccountKind.STAFF,
                                       department=city)  # fmt: skip
    officer.user_permissions.add(Permission.objects.get(codename="view_person"))
    officer = User.objects.get(pk=officer.pk)
    reader = reader_for(officer)
    with django_capture_on_commit_callbacks(execute=True):
        for division in ("350102", "350103", "350181"):
            person = make_person(id_number=make_id_number(division=division))
            person_read(reader=reader, person_id=person.pk, purpose="service_hall")
        audit_trail_scan()
    assert not SecurityEvent.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        person = make_person(id_number=make_id_number(division="350203"))  # 厦门
        person_read(reader=reader, person_id=person.pk, purpose="service_hall")
        audit_trail_scan()
    assert SecurityEvent.objects.get().evidence["persons_outside"] == 1


@pytest.fixture
def licence_world():
    from rongcheng.licences.tests.factories import department, issue_marriage, marriage_type, officer, with_key
    from rongcheng.registries.tests.factories import make_id_number, make_person, resident

    dept = with_key(department())
    marriage_type(dept)
    id_number = make_id_number()
    person = make_person(name="林则徐", id_number=id_number)
    licence = issue_marriage(officer(dept), person)
    return {"licence": licence, "id_number": id_number, "holder": resident("holder", person=person)}


def test_a_stored_licence_that_fails_its_signature_is_critical_at_once(
    licence_world, webhook, django_capture_on_commit_callbacks
):
    from django.test import Client

    licence = licence_world["licence"]
    assert Client(REMOTE_ADDR=ADDRESS).get(f"/api/v1/licences/verify/{licence.identifier}").json()["authentic"]
    assert not SecurityEvent.objects.exists()
    with connection.cursor() as cursor:  # altered behind the platform's back
        cursor.execute("UPDATE licences_licence SET holder_name = %s WHERE id = %s", ["林则徐徐", licence.pk])
    with django_capture_on_commit_callbacks(execute=True):
        answer = Client(REMOTE_ADDR=ADDRESS).get(f"/api/v1/licences/verify/{licence.identifier}").json()
    assert answer["authentic"] is False
    event = SecurityEvent.objects.get()
    assert (event.rule, event.severity, event.subject_type, event.subject_id) == (
        "licence_verification", "critical", "licences.licence", licence.identifier)  # fmt: skip
    assert event.evidence == {"failure": "stored_signature", "key_id": licence.key_id}
    _notified(django_capture_on_commit_callbacks, webhook, licence.identifier, "林则徐", licence_world["id_number"])


def test_forged_documents_and_unknown_licences_from_one_address(
    licence_world, rules, webhook, django_capture_on_commit_callbacks, settings
):
    from django.test import Client

    settings.OPERATIONS_SECURITY_RULES = {**rules, "licence_verification": {"failures": 3, "seconds": 600}}
    holder = Client()
    holder.force_login(licence_world["holder"])
    export = holder.get(f"/api/v1/licences/{licence_world['licence'].identifier}/document").json()
    visitor = Client(REMOTE_ADDR=ADDRESS)

    def verify(document: dict[str, Any]) -> bool:
        with django_capture_on_commit_callbacks(execute=True):
            response = visitor.post("/api/v1/licences/documents/verify", json.dumps(document),
                                    content_type="application/json")  # fmt: skip
        return bool(response.json()["authentic"])

    assert verify(export) is True  # an authentic document counts nothing
    forged = {**export, "content": {**export["content"], "KZ_spouse_name": "别人"}}
    assert verify(forged) is False
    assert verify(forged) is False
    assert not SecurityEvent.objects.exists()  # two failures: under the threshold
    unknown = "1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000123.001.J"
    with django_capture_on_commit_callbacks(execute=True):
        assert visitor.get(f"/api/v1/licences/verify/{unknown}").status_code == 404
    event = SecurityEvent.objects.get()
    assert (event.rule, event.severity, event.subject_type, event.subject_id) == (
        "licence_verification", "medium", "address", ADDRESS)  # fmt: skip
    assert event.evidence == {"failures": 3, "last_failure": "unknown_licence", "window_seconds": 600}
    assert Client(REMOTE_ADDR="198.51.100.1").get(f"/api/v1/licences/verify/{unknown}").status_code == 404
    assert SecurityEvent.objects.count() == 1  # another address has its own count
    _notified(django_capture_on_commit_callbacks, webhook, "林则徐", "别人", licence_world["id_number"])


def test_a_sign_in_from_a_new_network_outside_the_configured_ranges(
    webhook, django_capture_on_commit_callbacks, settings
):
    from django.test import Client

    settings.OPERATIONS_SECURITY_ADDRESS_RANGES = ["10.0.0.0/8", "2001:db8::/32"]
    henry = _account("henry", kind=AccountKind.RESIDENT)

    def sign_in(address: str) -> None:
        client = Client(REMOTE_ADDR=address)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/account/sign-in/", {"username": "henry", "password": PASSWORD})
            assert response.status_code == 302
            audit_trail_scan()

    sign_in("10.1.2.3")
    sign_in("2001:db8::5")
    assert not SecurityEvent.objects.exists()  # inside the ranges
    sign_in("198.51.100.7")
    event = SecurityEvent.objects.get()
    assert (event.rule, event.severity, event.subject_type, event.subject_id) == (
        "new_address_range", "high", "accounts.user", str(henry.pk))  # fmt: skip
    assert (event.evidence["network"], event.evidence["earlier_sign_ins"]) == ("198.51.100.0/24", 2)
    sign_in("198.51.100.9")  # the same network again: not new any more
    assert SecurityEvent.objects.count() == 1
    settings.OPERATIONS_SECURITY_ADDRESS_RANGES = []
    sign_in("192.0.2.1")  # the rule is off without ranges
    assert SecurityEvent.objects.count() == 1
    _notified(django_capture_on_commit_callbacks, webhook, "henry", "198.51.100", "192.0.2.1")
