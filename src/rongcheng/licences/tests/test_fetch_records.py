"""The records of an authorized fetch ("一号" reuse, issue 13): the same rows as before, in fewer statements.

Before issue 13 a fetch read its authorization, then the licences (two ORM queries), and wrote a fetch record per
licence (`bulk_create`) and its audit record (`audit_record`) in a transaction of their own. Now one prepared query
reads the licences under the authorization, and on PostgreSQL one statement that is its own transaction writes the
fetch records and the audit record (`audit.services.read_records_write`, ADR 0011): the tests below compare the rows,
column by column, with those the former code writes, and pin the statements.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import actor_from_user, audit_record, read_record_transaction
from rongcheng.kernel.context import RequestContext, running
from rongcheng.licences.errors import HolderAuthorizationMissing
from rongcheng.licences.models import HolderAuthorization, Licence, LicenceType, LicenceUse, UseKind
from rongcheng.licences.services import (
    holder_authorization_grant,
    holder_authorization_withdraw,
    licence_type_define,
    licences_for_holder,
)
from rongcheng.licences.tests.factories import (
    SYSTEM,
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

pytestmark = pytest.mark.django_db(transaction=True)  # the fetch's own statement commits: no test transaction around

ID_NUMBER = "350102198503120018"
REFERENCE = "BJ-2017-0001"
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")

USE_COLUMNS = ("licence_id", "kind", "application_reference", "authorization_id", "actor_id", "actor_label")
AUDIT_COLUMNS = ("actor_kind", "actor_id", "actor_label", "action", "target_type", "target_id", "outcome",
                 "source_address", "purpose", "detail", "request_id")  # fmt: skip


@pytest.fixture
def world() -> dict[str, Any]:
    dept = with_key(department())
    marriage_type(dept)
    clerk = officer(dept)
    person = make_person(id_number=ID_NUMBER, name="林则徐")
    licences = [issue_marriage(clerk, person), issue_marriage(clerk, person)]
    issue_marriage(clerk, make_person())  # another holder's: never fetched
    hall = api_client("hall-system")
    holder = resident("holder", person=person)
    authorization = holder_authorization_grant(holder_user=holder, grantee=hall, application_reference=REFERENCE)
    return {"dept": dept, "hall": hall, "holder": holder, "person": person, "licences": licences,
            "authorization": authorization}  # fmt: skip


def _as_before(licences: list[Licence], authorization: HolderAuthorization, reader: User, reference: str) -> None:
    """What licences_for_holder wrote before issue 13, verbatim: the reference the new statement must match."""
    audit_actor = actor_from_user(reader)
    now = timezone.now()
    with read_record_transaction():
        LicenceUse.objects.bulk_create(
            LicenceUse(licence=licence, kind=UseKind.FETCH, application_reference=reference,
                       authorization=authorization, actor_id=audit_actor.id, actor_label=audit_actor.label[:150],
                       at=now)
            for licence in licences
        )  # fmt: skip
        audit_record(
            action="licences.holder.fetch", actor=audit_actor, target_type="licences.authorization",
            target_id=authorization.pk, purpose="licence_reuse", source_address="10.0.0.8",
            detail={"application_reference": reference, "licences": [licence.identifier for licence in licences]},
        )  # fmt: skip


def _uses() -> list[tuple[object, ...]]:
    return [tuple(getattr(use, c) for c in USE_COLUMNS) for use in LicenceUse.objects.order_by("pk")]


def _records() -> list[tuple[object, ...]]:
    records = AuditRecord.objects.filter(action="licences.holder.fetch", outcome="success").order_by("pk")
    return [tuple(getattr(record, c) for c in AUDIT_COLUMNS) for record in records]


def _fetch(world: dict[str, Any], reference: str = REFERENCE) -> list[Licence]:
    return licences_for_holder(holder_code=ID_NUMBER, reader=world["hall"], application_reference=reference)


def _fetch_then_as_before(world: dict[str, Any], *, inside_a_transaction: bool) -> list[Licence]:
    with running(RequestContext(request_id="r-1", source_address="10.0.0.8")):
        began = timezone.now()
        if inside_a_transaction:  # the hall fetches inside its own transaction: the records go in with it
            with transaction.atomic():
                fetched = _fetch(world)
        else:
            fetched = _fetch(world)
        ended = timezone.now()
        _as_before(fetched, world["authorization"], world["hall"], REFERENCE)
    uses = list(LicenceUse.objects.order_by("pk"))
    assert len({use.at for use in uses[:2]}) == 1  # one instant for the fetch's records, as bulk_create gave
    assert began <= uses[0].at <= ended
    return fetched


@pytest.mark.parametrize("inside_a_transaction", [False, True], ids=["own statement", "caller's transaction"])
def test_a_fetch_writes_the_rows_the_former_code_wrote_column_by_column(world, inside_a_transaction):
    fetched = _fetch_then_as_before(world, inside_a_transaction=inside_a_transaction)
    licences, authorization, hall = world["licences"], world["authorization"], world["hall"]
    assert [licence.identifier for licence in fetched] == [licence.identifier for licence in licences]
    uses = _uses()
    assert uses[:2] == uses[2:]  # the fetch's, then the former code's
    assert uses[:2] == [(licence.pk, "fetch", REFERENCE, authorization.pk, str(hall.pk), "hall-system")
                        for licence in licences]  # fmt: skip
    records = _records()
    assert records[0] == records[1]
    assert records[0] == (
        "api_client", str(hall.pk), "hall-system", "licences.holder.fetch", "licences.authorization",
        str(authorization.pk), "success", "10.0.0.8", "licence_reuse",
        {"application_reference": REFERENCE, "licences": [licence.identifier for licence in licences]}, "r-1",
    )  # fmt: skip


def test_the_licences_come_whole_with_their_type_in_issue_order(world):
    index = world["person"].id_number_index
    expected = list(Licence.objects.filter(holder_index=index).select_related("licence_type").order_by("id"))
    for _ in range(2):  # compiled on the first call, reused on the second
        fetched = _fetch(world)
        assert [type(licence) for licence in fetched] == [Licence, Licence]
        for got, wanted in zip(fetched, expected, strict=True):
            assert {f.attname: getattr(got, f.attname) for f in Licence._meta.concrete_fields} == {
                f.attname: getattr(wanted, f.attname) for f in Licence._meta.concrete_fields
            }
            with CaptureQueriesContext(connection) as queries:
                assert got.licence_type == LicenceType.objects.get(pk=wanted.licence_type_id)
                assert got.licence_type.code == wanted.licence_type.code
            assert len(queries) == 1  # the comparison's own query: the type came with the licence
            assert (got._state.adding, got._state.db) == (False, "default")


@on_postgresql
def test_a_fetch_is_one_query_and_one_statement_of_records_committed_on_its_own(world, settings):
    settings.AUDIT_SEAL_MODE = "manual"  # the tests' inline sealing would add its own statements; servers seal apart
    _fetch(world)  # compiled
    LicenceUse.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        _fetch(world)
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 2, statements
    assert statements[0].startswith("SELECT ")
    assert statements[1].startswith("WITH alongside AS (INSERT INTO licences_licenceuse ")
    assert "INSERT INTO audit_record " in statements[1]
    assert not connection.in_atomic_block  # its own transaction, committed: autocommit
    assert connection.get_autocommit()
    assert LicenceUse.objects.count() == 2
    assert len(_records()) == 2


@on_postgresql
def test_a_fetch_over_the_api_is_three_statements(world, settings):
    """The licences, their records, the exchange log's row: the token's row was read by the first call and is kept a
    second (ADR 0019); the rate limit's counter is added in batches (ADR 0018)."""
    settings.AUDIT_SEAL_MODE = "manual"
    world["hall"].user_permissions.add(Permission.objects.get(codename="view_licence"))  # the scope needs it
    token = token_for(world["hall"], scope="licences:read")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    body = {"holder_code": ID_NUMBER, "application_reference": REFERENCE}
    assert client.post("/api/v1/licences/holder-queries", body, content_type="application/json").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/licences/holder-queries", body, content_type="application/json")
    assert response.status_code == 200
    assert [item["identifier"] for item in response.json()] == [x.identifier for x in world["licences"]]
    statements = [query["sql"].split(None, 3)[:3] for query in queries.captured_queries]
    assert len(statements) == 3, statements
    assert [s[0] for s in statements] == ["SELECT", "WITH", "INSERT"]
    assert LicenceUse.objects.count() == 4


@on_postgresql
def test_async_commit_is_the_records_statement_only(world, settings):
    """RONGCHENG_AUDIT_READ_COMMIT=async: the fetch's records, fetch rows and audit record alike, go in by the one
    statement whose own commit skips the flush wait (ADR 0011); the connection is durable again after it."""
    settings.AUDIT_READ_COMMIT = "async"
    settings.AUDIT_SEAL_MODE = "manual"
    with CaptureQueriesContext(connection) as queries:
        _fetch(world)
    writes = [query["sql"] for query in queries.captured_queries if "INSERT" in query["sql"]]
    assert len(writes) == 1
    assert "INSERT INTO licences_licenceuse" in writes[0]
    assert "set_config('synchronous_commit', 'off', true)" in writes[0]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
    assert LicenceUse.objects.count() == 2


# --- refusals and empty answers: as before ---------------------------------------------------------------------------


def _denied() -> list[tuple[object, ...]]:
    return [(r.action, r.outcome, r.detail) for r in AuditRecord.objects.filter(outcome="denied").order_by("pk")]


def test_no_authorization_another_application_withdrawn_or_expired_is_refused_and_recorded(world):
    hall, holder = world["hall"], world["holder"]
    refused = {"application_reference": "BJ-2017-0002"}
    with pytest.raises(HolderAuthorizationMissing):
        licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference="BJ-2017-0002")
    other = api_client("other-system")
    with pytest.raises(HolderAuthorizationMissing):
        licences_for_holder(holder_code=ID_NUMBER, reader=other, application_reference=REFERENCE)
    HolderAuthorization.objects.filter(pk=world["authorization"].pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(HolderAuthorizationMissing):
        licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference=REFERENCE)
    renewed = holder_authorization_grant(holder_user=holder, grantee=hall, application_reference=REFERENCE)
    assert len(licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference=REFERENCE)) == 2
    holder_authorization_withdraw(authorization=renewed, holder_user=holder)
    with pytest.raises(HolderAuthorizationMissing):
        licences_for_holder(holder_code=ID_NUMBER, reader=hall, application_reference=REFERENCE)
    assert _denied() == [
        ("licences.holder.fetch", "denied", refused),
        ("licences.holder.fetch", "denied", {"application_reference": REFERENCE}),
        ("licences.holder.fetch", "denied", {"application_reference": REFERENCE}),
        ("licences.holder.fetch", "denied", {"application_reference": REFERENCE}),
    ]
    assert LicenceUse.objects.filter(authorization=world["authorization"]).count() == 0
    assert LicenceUse.objects.filter(authorization=renewed).count() == 2
    assert len(_records()) == 1


def test_the_newest_live_authorization_is_the_one_recorded(world):
    newer = holder_authorization_grant(
        holder_user=world["holder"], grantee=world["hall"], application_reference=REFERENCE
    )
    _fetch(world)
    assert set(LicenceUse.objects.values_list("authorization_id", flat=True)) == {newer.pk}
    assert _records()[0][5] == str(newer.pk)


def test_an_authorization_opening_no_licence_answers_empty_and_records_the_fetch(world):
    """Authorized for a type the holder holds none of: an empty answer, no fetch row, one audit record (as before)."""
    residence = licence_type_define(code="11100000000013338W052", name="居住证", department_id=world["dept"].pk,
                                    holder_kind="person", face_schema=[{"name": "address", "type": "string"}],
                                    validity_years=1, actor=SYSTEM)  # fmt: skip
    only = holder_authorization_grant(holder_user=world["holder"], grantee=world["hall"], application_reference="BJ-R",
                                      licence_types=[residence])  # fmt: skip
    assert _fetch(world, "BJ-R") == []
    assert LicenceUse.objects.count() == 0
    assert [(r[5], r[9]) for r in _records()] == [(str(only.pk), {"application_reference": "BJ-R", "licences": []})]
    assert _denied() == []
    marriage = holder_authorization_grant(holder_user=world["holder"], grantee=world["hall"],
                                          application_reference="BJ-M",
                                          licence_types=[world["licences"][0].licence_type])  # fmt: skip
    fetched = _fetch(world, "BJ-M")
    assert [licence.pk for licence in fetched] == [licence.pk for licence in world["licences"]]
    assert set(LicenceUse.objects.values_list("authorization_id", flat=True)) == {marriage.pk}
