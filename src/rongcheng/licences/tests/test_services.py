"""Issuing, signing, verifying, lifecycle and reuse, through the services, with real SM2 and real databases."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from django.db import connection
from django.utils import timezone

from rongcheng.audit.models import AuditRecord
from rongcheng.licences import documents, selectors
from rongcheng.licences.errors import (
    HolderAuthorizationMissing,
    IssuingKeyUnavailable,
    LicenceActionDenied,
    LicenceHolderUnknown,
    LicenceInputInvalid,
    LicenceNotUsable,
    LicenceTransitionNotAllowed,
)
from rongcheng.licences.identifiers import LicenceIdentifierInvalid, check_holds
from rongcheng.licences.keys import department_key_retire, department_key_rotate
from rongcheng.licences.lifecycle import TRANSITIONS
from rongcheng.licences.models import (
    DepartmentKey,
    HolderAuthorization,
    Licence,
    LicenceStatus,
    LicenceType,
    LicenceUse,
    StatusChange,
)
from rongcheng.licences.services import (
    holder_authorization_grant,
    holder_authorization_withdraw,
    holder_resolve,
    licence_issue,
    licence_transition,
    licence_use_record,
    licences_expire_due,
    licences_for_holder,
    today,
)
from rongcheng.licences.tests.factories import (
    MARRIAGE_FACE,
    SYSTEM,
    department,
    food_type,
    issue_marriage,
    make_entity,
    make_person,
    marriage_type,
    officer,
    resident,
    with_key,
)
from rongcheng.registries.tests.factories import api_client, make_id_number

pytestmark = pytest.mark.django_db
ID_NUMBER = "350102198503120018"


@pytest.fixture
def dept():
    dept = with_key(department())
    marriage_type(dept)
    return dept


@pytest.fixture
def clerk(dept):
    return officer(dept)


@pytest.fixture
def person():
    return make_person(id_number=ID_NUMBER, name="林则徐")


def counts():
    return (
        Licence.objects.count(),
        AuditRecord.objects.filter(action="licences.licence.issue", outcome="success").count(),
    )


def test_issue_signs_the_canonical_content_and_verifies(clerk, person):
    licence = issue_marriage(clerk, person)
    assert licence.identifier.startswith("1.2.156.3005.2.11100000000013338W050." + clerk.department.credit_code + ".")
    assert check_holds("".join(licence.identifier.split(".")[5:]))
    assert licence.holder_index == person.id_number_index
    assert licence.holder_code_masked == "350102********0018"
    assert licence.face == {"spouse_name": "沈葆桢", "registered_on": "2016-10-01", "certificate_kind": "结婚证",
                            "copies": 2}  # fmt: skip
    content = documents.licence_content(licence)
    assert content["CZZTDM"] == ID_NUMBER
    assert content["CZZTDMLXDM"] == "111"
    assert content["ZZLXDM"] == "11100000000013338W050"
    assert content["KZ_spouse_name"] == "沈葆桢"
    assert content["ZZQZMC"] == licence.key_id
    stored = Licence.objects.get(pk=licence.pk)
    assert selectors.licence_authentic(stored)
    result = selectors.licence_verify(licence.identifier)
    assert (result.authentic, result.currently_valid, result.status) == (True, True, "valid")
    assert result.holder_name == "林**"
    assert result.holder_code == "350102********0018"
    assert ("配偶姓名", "***") in result.face
    assert ("登记日期", "2016-10-01") in result.face
    assert AuditRecord.objects.filter(action="licences.licence.issue", target_id=licence.identifier).count() == 1


def test_serials_are_consecutive(clerk, person):
    first, second = issue_marriage(clerk, person), issue_marriage(clerk, person)
    year = today().year
    assert first.identifier.split(".")[7] == f"{year}00000001"
    assert second.identifier.split(".")[7] == f"{year}00000002"


def test_content_altered_in_the_database_fails_verification(clerk, person):
    licence = issue_marriage(clerk, person)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE licences_licence SET holder_name = %s WHERE id = %s", ["林则徐徐", licence.pk])
    result = selectors.licence_verify(licence.identifier)
    assert (result.authentic, result.currently_valid) == (False, False)


def test_face_altered_in_the_database_fails_verification(clerk, person):
    licence = issue_marriage(clerk, person)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE licences_licence SET valid_until = %s WHERE id = %s", ["2099-12-31", licence.pk])
    assert not selectors.licence_verify(licence.identifier).authentic


def test_garbage_signature_in_the_database_is_not_authentic_and_does_not_crash(clerk, person):
    licence = issue_marriage(clerk, person)
    Licence.objects.filter(pk=licence.pk).update(signature=b"\x30\x02garbage", holder_code_cipher="not-a-token")
    assert not selectors.licence_verify(licence.identifier).authentic


@pytest.mark.parametrize(
    ("face", "rules"),
    [
        ({**MARRIAGE_FACE, "spouse_name": ""}, ["face.required"]),
        ({k: v for k, v in MARRIAGE_FACE.items() if k != "registered_on"}, ["face.required"]),
        ({**MARRIAGE_FACE, "registered_on": "2016-02-30"}, ["face.date"]),
        ({**MARRIAGE_FACE, "certificate_kind": "出生证"}, ["face.enum"]),
        ({**MARRIAGE_FACE, "copies": "two"}, ["face.integer"]),
        ({**MARRIAGE_FACE, "copies": 1.5}, ["face.integer"]),
        ({**MARRIAGE_FACE, "reissued": "maybe"}, ["face.boolean"]),
        ({**MARRIAGE_FACE, "colour": "red"}, ["face.unknown_field"]),
        ({**MARRIAGE_FACE, "spouse_name": "x" * 501}, ["face.string"]),
        ({}, ["face.required", "face.required", "face.required"]),
    ],
)
def test_schema_violations_are_refused_and_nothing_is_stored(clerk, person, face, rules):
    before = counts()
    with pytest.raises(LicenceInputInvalid) as caught:
        issue_marriage(clerk, person, face=face)
    assert [e["rule"] for e in caught.value.errors] == rules
    assert counts() == before


def test_validity_order_is_checked(clerk, person):
    before = counts()
    with pytest.raises(LicenceInputInvalid) as caught:
        issue_marriage(clerk, person, valid_from=dt.date(2020, 1, 2), valid_until=dt.date(2020, 1, 1))
    assert [e["rule"] for e in caught.value.errors] == ["validity.order"]
    assert counts() == before


def test_unknown_holder_is_refused(dept):
    with pytest.raises(LicenceHolderUnknown) as caught:
        holder_resolve(make_id_number())
    assert caught.value.errors[0]["rule"] == "holder.known"
    with pytest.raises(LicenceInputInvalid):
        holder_resolve("350102198503120019")  # wrong check digit, neither ID number nor credit code


def test_an_entity_licence_for_a_person_type_is_refused(clerk):
    entity = make_entity()
    before = counts()
    with pytest.raises(LicenceInputInvalid) as caught:
        issue_marriage(clerk, entity)
    assert "holder.kind" in [e["rule"] for e in caught.value.errors]
    assert counts() == before


def test_expired_key_cannot_sign_and_nothing_is_stored(dept, clerk, person):
    DepartmentKey.objects.filter(department=dept).update(not_after=timezone.now() - dt.timedelta(seconds=1))
    before = counts()
    with pytest.raises(IssuingKeyUnavailable, match="expired"):
        issue_marriage(clerk, person)
    assert counts() == before


def test_retired_key_cannot_sign(dept, clerk, person):
    department_key_retire(key=DepartmentKey.objects.get(department=dept), actor=SYSTEM)
    with pytest.raises(IssuingKeyUnavailable, match="no active signing key"):
        issue_marriage(clerk, person)
    assert Licence.objects.count() == 0


def test_rotation_keeps_old_licences_verifiable(dept, clerk, person):
    old = issue_marriage(clerk, person)
    new_key = department_key_rotate(department=dept, actor=SYSTEM)
    new = issue_marriage(clerk, person)
    assert old.key_id != new.key_id == new_key.key_id
    assert DepartmentKey.objects.get(key_id=old.key_id).status == "retired"
    assert selectors.licence_verify(old.identifier).authentic
    assert selectors.licence_verify(new.identifier).authentic


def test_only_the_issuing_department_with_the_permission_issues(dept, person):
    other = with_key(department("FZ-GSJ", "福州市市场监督管理局", serial=2))
    for actor in (officer(other, "other-dept"), officer(dept, "no-perm", perms=("view_licence",))):
        before = counts()
        with pytest.raises(LicenceActionDenied):
            issue_marriage(actor, person)
        assert counts() == before
        assert AuditRecord.objects.filter(action="licences.licence.issue", outcome="denied",
                                          actor_label=actor.username).count() == 1  # fmt: skip


def test_entity_licences_use_the_credit_code(dept):
    gsj = with_key(department("FZ-GSJ", "福州市市场监督管理局", serial=2))
    food = food_type(gsj)
    entity = make_entity()
    licence = licence_issue(licence_type=food, holder=entity, face={"business_scope": "热食类食品制售",
                            "premises": "福州市鼓楼区东街1号"}, actor=officer(gsj, "gsj"))  # fmt: skip
    assert licence.holder_index == entity.credit_code
    assert licence.valid_until == licence.valid_from.replace(year=licence.valid_from.year + 5) - dt.timedelta(days=1)
    assert documents.licence_content(licence)["CZZTDMLXDM"] == "001"
    assert selectors.licence_verify(licence.identifier).authentic


# --- lifecycle -------------------------------------------------------------------------------------------------------

STATES = list(LicenceStatus.values)


def _licence_in(state: str, clerk, person) -> Licence:
    """Reach a state through the declared transitions (expired: a period that ended yesterday)."""
    ended = state == "expired"
    licence = issue_marriage(
        clerk, person, **({"valid_from": today() - dt.timedelta(days=30), "valid_until": today() - dt.timedelta(days=1)}
                          if ended else {})
    )  # fmt: skip
    path = {
        "valid": [],
        "suspended": ["suspend"],
        "revoked": ["revoke"],
        "cancelled": ["cancel"],
        "expired": ["expire"],
        "replaced": ["replace"],
    }
    for action in path[state]:
        licence = licence_transition(licence=licence, action=action, reason="setup", actor=clerk)
    assert licence.status == state
    return licence


@pytest.mark.parametrize(("state", "action"), list(itertools.product(STATES, TRANSITIONS)))
def test_the_whole_transition_table(clerk, person, state, action):
    licence = _licence_in(state, clerk, person)
    transition = TRANSITIONS[action]
    # expire's guard needs an ended period: only the licence reaching "expired" (or built ended) has one.
    allowed = state in transition.sources and not (action == "expire" and licence.valid_until is None)
    changes = StatusChange.objects.count()
    if allowed:
        changed = licence_transition(licence=licence, action=action, reason="walk", actor=clerk,
                                     effective_on=today())  # fmt: skip
        assert changed.status == transition.target
        last = StatusChange.objects.order_by("-id").first()
        assert last is not None
        assert (last.from_status, last.to_status, last.reason, last.actor_label) == (
            state,
            transition.target,
            "walk",
            clerk.username,
        )
    else:
        with pytest.raises(LicenceTransitionNotAllowed):
            licence_transition(licence=licence, action=action, reason="walk", actor=clerk)
        assert Licence.objects.get(pk=licence.pk).status == state
        assert StatusChange.objects.count() == changes


def test_transition_needs_a_reason_and_the_change_permission(dept, clerk, person):
    licence = issue_marriage(clerk, person)
    with pytest.raises(LicenceInputInvalid):
        licence_transition(licence=licence, action="revoke", reason="  ", actor=clerk)
    with pytest.raises(LicenceInputInvalid):
        licence_transition(licence=licence, action="destroy", reason="x", actor=clerk)
    with pytest.raises(LicenceActionDenied):
        licence_transition(
            licence=licence, action="revoke", reason="x", actor=officer(dept, "viewer", perms=("view_licence",))
        )
    assert Licence.objects.get(pk=licence.pk).status == "valid"
    assert StatusChange.objects.count() == 0


def test_expiry_job_expires_ended_licences_only(clerk, person):
    ended = issue_marriage(
        clerk, person, valid_from=today() - dt.timedelta(days=9), valid_until=today() - dt.timedelta(days=1)
    )
    running = issue_marriage(clerk, person, valid_until=today())
    assert selectors.effective_status(ended) == "expired"
    assert licences_expire_due() == 1
    assert Licence.objects.get(pk=ended.pk).status == "expired"
    assert Licence.objects.get(pk=running.pk).status == "valid"
    assert licences_expire_due() == 0


# --- reuse -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def hall(dept):
    return api_client("hall-system")


def test_fetch_and_use_need_the_holders_authorization(clerk, person, hall):
    licence = issue_marriage(clerk, person)
    holder = resident("holder", person=person)
    with pytest.raises(HolderAuthorizationMissing):
        licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference="BJ-2017-0001")
    with pytest.raises(HolderAuthorizationMissing):
        licence_use_record(licence=licence, application_reference="BJ-2017-0001", actor=hall)
    assert LicenceUse.objects.count() == 0
    authorization = holder_authorization_grant(holder_user=holder, grantee=hall, application_reference="BJ-2017-0001")
    fetched = licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference="BJ-2017-0001")
    assert [f.identifier for f in fetched] == [licence.identifier]
    with pytest.raises(HolderAuthorizationMissing):  # another application
        licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference="BJ-2017-0002")
    use = licence_use_record(licence=licence, application_reference="BJ-2017-0001", actor=hall)
    uses = list(LicenceUse.objects.order_by("id").values_list("kind", "application_reference", "actor_label"))
    assert uses == [("fetch", "BJ-2017-0001", "hall-system"), ("use", "BJ-2017-0001", "hall-system")]
    assert use.authorization == authorization
    mine = selectors.licences_of_resident(holder)
    assert [u.kind for u in mine[0].uses.all()] == ["use", "fetch"]
    holder_authorization_withdraw(authorization=authorization, holder_user=holder)
    with pytest.raises(HolderAuthorizationMissing):
        licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference="BJ-2017-0001")


def test_only_the_holder_grants(clerk, person, hall):
    stranger = resident("stranger", person=make_person())
    with pytest.raises(LicenceActionDenied):
        holder_authorization_grant(holder_user=stranger, grantee=hall, application_reference="BJ-1",
                                   holder_index=person.id_number_index)  # fmt: skip
    unbound = resident("unbound")
    with pytest.raises(LicenceActionDenied):
        holder_authorization_grant(holder_user=unbound, grantee=hall, application_reference="BJ-1")


def test_an_authorization_needs_a_system_grantee_and_a_well_formed_reference(clerk, person, hall):
    """Walk-through: a resident authorized person and staff accounts, NUL bytes and malformed hall references."""
    issue_marriage(clerk, person)
    holder = resident("holder", person=person)
    company = resident("company", person=make_person())
    refusals = [(company, "BJ-1", "grantee.kind"), (clerk, "BJ-1", "grantee.kind"),
                (hall, "BJ\x001", "application_reference.form"), (hall, "BJ\u202e1", "application_reference.form"),
                (hall, "hall-abc", "application_reference.form"), (hall, "hall-0", "application_reference.form"),
                (hall, "x" * 65, "application_reference.length")]  # fmt: skip
    audit_before = AuditRecord.objects.count()
    for grantee, reference, rule in refusals:
        with pytest.raises(LicenceInputInvalid) as caught:
            holder_authorization_grant(holder_user=holder, grantee=grantee, application_reference=reference)
        assert [error["rule"] for error in caught.value.errors] == [rule]
    assert not HolderAuthorization.objects.exists()
    assert AuditRecord.objects.count() == audit_before
    granted = holder_authorization_grant(holder_user=holder, grantee=hall, application_reference="hall-42")
    assert (granted.grantee, granted.application_reference) == (hall, "hall-42")


def test_a_revoked_licence_cannot_be_used_from_that_moment(clerk, person, hall):
    licence = issue_marriage(clerk, person)
    holder = resident("holder", person=person)
    holder_authorization_grant(holder_user=holder, grantee=hall, application_reference="BJ-7")
    licence_transition(licence=licence, action="revoke", reason="以欺骗手段取得", actor=clerk)
    with pytest.raises(LicenceNotUsable):
        licence_use_record(licence=licence, application_reference="BJ-7", actor=hall)  # the stale object: row re-read
    assert LicenceUse.objects.count() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_use_waits_for_a_concurrent_revocation(dept, person):
    clerk = officer(dept, "clerk2")
    hall = api_client("hall-2")
    licence = issue_marriage(clerk, person)
    holder = resident("holder2", person=person)
    holder_authorization_grant(holder_user=holder, grantee=hall, application_reference="BJ-9")
    from django.db import connections, transaction

    locked = threading.Event()
    release = threading.Event()
    outcome: list[str] = []

    def revoke():
        try:
            with transaction.atomic():
                Licence.objects.select_for_update().get(pk=licence.pk)
                locked.set()
                release.wait(5)
                Licence.objects.filter(pk=licence.pk).update(status="revoked")
        finally:
            connections.close_all()

    def use():
        try:
            licence_use_record(licence=licence, application_reference="BJ-9", actor=hall)
            outcome.append("used")
        except LicenceNotUsable:
            outcome.append("refused")
        finally:
            connections.close_all()

    revoker = threading.Thread(target=revoke)
    revoker.start()
    assert locked.wait(5)
    user = threading.Thread(target=use)
    user.start()
    release.set()
    revoker.join(10)
    user.join(10)
    assert outcome == ["refused"]


def test_wrong_check_character_is_refused_before_any_lookup():
    with pytest.raises(LicenceIdentifierInvalid):
        selectors.licence_verify("1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000123.001.K")


def test_licence_type_schema_is_checked(dept):
    from rongcheng.licences.services import licence_type_define

    for schema in ([], [{"name": "A", "type": "string"}], [{"name": "a", "type": "float"}],
                   [{"name": "a", "type": "enum"}],
                   [{"name": "a", "type": "string"}, {"name": "a", "type": "date"}]):  # fmt: skip
        with pytest.raises(LicenceInputInvalid):
            licence_type_define(code="11100000000013338W099", name="x", department_id=dept.pk, holder_kind="person",
                                face_schema=schema, validity_years=None, actor=SYSTEM)  # fmt: skip
    assert not LicenceType.objects.filter(code="11100000000013338W099").exists()


def test_operator_commands(dept, clerk, person):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    issue_marriage(clerk, person, valid_from=today() - dt.timedelta(days=9), valid_until=today() - dt.timedelta(days=1))
    out = StringIO()
    call_command("licences", "expire", stdout=out)
    assert out.getvalue().strip() == "1 licences expired"
    out = StringIO()
    call_command("licences", "rotate-key", dept.code, "--days", "30", stdout=out)
    key = DepartmentKey.objects.get(department=dept, status="active")
    assert out.getvalue().startswith(f"{dept.code}: new signing key {key.key_id}")
    with pytest.raises(CommandError):
        call_command("licences", "rotate-key", "NOPE")


def test_mine_query_count_does_not_grow_with_licences(clerk, person, django_assert_max_num_queries):
    holder = resident("holder-q", person=person)
    for _ in range(5):
        issue_marriage(clerk, person)
    with django_assert_max_num_queries(5):
        licences = selectors.licences_of_resident(holder)
        assert len(licences) == 5
        assert sum(len(x.uses.all()) + len(x.status_changes.all()) for x in licences) == 0


def test_an_authorization_limited_to_some_types_fetches_only_those(dept, clerk, person, hall):
    gsj = with_key(department("FZ-GSJ", "福州市市场监督管理局", serial=2))
    from rongcheng.licences.services import licence_type_define

    residence = licence_type_define(code="11100000000013338W052", name="居住证", department_id=dept.pk,
                                    holder_kind="person", face_schema=[{"name": "address", "type": "string"}],
                                    validity_years=1, actor=SYSTEM)  # fmt: skip
    del gsj
    marriage = issue_marriage(clerk, person)
    licence_issue(licence_type=residence, holder=person, face={"address": "福州市台江区"}, actor=clerk)
    holder = resident("holder-t", person=person)
    holder_authorization_grant(holder_user=holder, grantee=hall, application_reference="BJ-T",
                               licence_types=[marriage.licence_type])  # fmt: skip
    fetched = licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference="BJ-T")
    assert [f.identifier for f in fetched] == [marriage.identifier]
    holder_authorization_grant(holder_user=holder, grantee=hall, application_reference="BJ-U")
    assert len(licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference="BJ-U")) == 2


def test_a_batch_is_one_audit_record_naming_every_licence(clerk, person):
    from rongcheng.licences.services import IssueRequest, licences_issue_many

    licence_type = LicenceType.objects.get()
    issued = licences_issue_many(
        licence_type=licence_type, requests=[IssueRequest(person, MARRIAGE_FACE) for _ in range(3)], actor=clerk
    )
    record = AuditRecord.objects.get(action="licences.licence.issue_batch")
    assert record.detail["identifiers"] == [licence.identifier for licence in issued]
    assert record.target_id == "3 licences"
    assert all(selectors.licence_authentic(licence) for licence in Licence.objects.all())


def test_a_type_held_once_is_issued_again_only_as_a_replacement(dept, clerk, person):
    from rongcheng.licences.services import IssueRequest, licence_type_define, licences_issue_many

    residence = licence_type_define(code="11100000000013338W052", name="居住证", department_id=dept.pk,
                                    holder_kind="person", face_schema=[{"name": "address", "type": "string"}],
                                    validity_years=1, actor=SYSTEM, one_valid_per_holder=True)  # fmt: skip
    first = licence_issue(licence_type=residence, holder=person, face={"address": "福州市台江区"}, actor=clerk)
    records = AuditRecord.objects.count()
    with pytest.raises(LicenceInputInvalid) as refused:
        licence_issue(licence_type=residence, holder=person, face={"address": "福州市鼓楼区"}, actor=clerk)
    assert [(e["loc"], e["rule"]) for e in refused.value.errors] == [(["holder_code"], "holder.one_valid")]
    with pytest.raises(LicenceInputInvalid):  # two in one batch for one holder: neither
        licences_issue_many(licence_type=residence, actor=clerk, requests=[
            IssueRequest(person, {"address": "a"}, replaces=(first.identifier,)),
            IssueRequest(person, {"address": "b"}, replaces=(first.identifier,)),
        ])  # fmt: skip
    assert list(Licence.objects.values_list("identifier", flat=True)) == [first.identifier]
    assert AuditRecord.objects.count() == records  # nothing issued, nothing recorded
    renewed = licence_issue(licence_type=residence, holder=person, face={"address": "福州市鼓楼区"}, actor=clerk,
                            replaces=[first.identifier])  # fmt: skip
    assert renewed.identifier != first.identifier
    # A type without the rule (a marriage certificate) may be held more than once.
    assert issue_marriage(clerk, person).identifier != issue_marriage(clerk, person).identifier


def test_a_licence_is_read_whole_by_its_holder_and_issuer_only_each_read_and_refusal_recorded_once(clerk, person):
    """The one check behind the licence's page, print, document and the API's read and export."""
    from rongcheng.accounts.models import AccountKind, User
    from rongcheng.kernel.tests.contexts import request_from
    from rongcheng.licences.services import EXPORT, PRINT, READ, licence_read_record, licence_reader_check

    licence = issue_marriage(clerk, person)
    holder = User.objects.create_user(username="holder", kind=AccountKind.RESIDENT,
                                      id_number_index=person.id_number_index)  # fmt: skip
    other = make_person(id_number=make_id_number(sequence=7))
    stranger = User.objects.create_user(username="stranger", kind=AccountKind.RESIDENT,
                                        id_number_index=other.id_number_index)  # fmt: skip
    before = set(AuditRecord.objects.values_list("pk", flat=True))
    with request_from("198.51.100.9") as context:
        licence_reader_check(user=holder, licence=licence, action=READ)
        licence_reader_check(user=clerk, licence=licence, action=EXPORT)
        with pytest.raises(LicenceActionDenied):
            licence_reader_check(user=stranger, licence=licence, action=PRINT)
        licence_read_record(user=holder, licence=licence, action=PRINT, detail={"purpose": "办理入学"})
    written = AuditRecord.objects.exclude(pk__in=before).order_by("pk")
    rows = [(r.action, r.outcome, r.actor_id, r.target_id, r.source_address, r.request_id, r.detail) for r in written]
    assert rows == [
        (PRINT, "denied", str(stranger.pk), licence.identifier, "198.51.100.9", context.request_id, {}),
        (PRINT, "success", str(holder.pk), licence.identifier, "198.51.100.9", context.request_id,
         {"purpose": "办理入学"}),
    ]  # fmt: skip
