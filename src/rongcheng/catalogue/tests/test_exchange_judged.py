"""A page of person records under a grant this process has answered with (PostgreSQL, outside a transaction): one
statement, its own transaction, gated in SQL on that grant being unchanged and still in force (ADR 0011, fourth
amendment of 2026-12-07). Its rows and records are those of the call that reads the grant first; every refusal is the
one a call without the remembered grant gets, with nothing written but the refusal's record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.selectors import TARGETS
from rongcheng.audit.services import audit_seal_all, audit_verify
from rongcheng.catalogue import services
from rongcheng.catalogue.errors import GrantNotValid, SharingRequestInvalid
from rongcheng.catalogue.models import ExchangeUse, SharingGrant
from rongcheng.catalogue.tests import factories as f
from rongcheng.catalogue.tests.test_exchange_personal import ITEMS, PURPOSE, _granted, _persons_resource
from rongcheng.hall.selectors import city_today
from rongcheng.registries.tests.factories import make_person

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the gated statement is PostgreSQL's"),
]


@pytest.fixture(autouse=True)
def _no_grant_seen():
    services._GRANTS_SEEN.clear()
    yield
    services._GRANTS_SEEN.clear()


@pytest.fixture
def granted():
    first = make_person(id_number="350102198503120018", name="林则徐", division_code="350102")
    second = make_person(id_number="350103199001010020", name="沈葆桢", division_code="350103")
    resource = _persons_resource()
    consumer = _granted(resource, clear_asked=["name"], clear_granted=["name"])
    return resource, User.objects.get(department=consumer), (first, second)


def _read(resource: Any, reader: User, **changes: Any) -> services.ExchangePage:
    arguments = {"resource_code": resource.code, "fields": None, "purpose": PURPOSE, "offset": 0, "limit": 1,
                 "user": reader, **changes}  # fmt: skip
    return services.exchange_read(**arguments)


def _mark() -> tuple[int, int]:
    """The last use and the last audit record written so far."""
    last_use = ExchangeUse.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return last_use, AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _written(since: tuple[int, int]) -> list[tuple[Any, ...]]:
    """Every row written after `since`, but for ids and times: the uses, and the audit records with their details."""
    uses = [(u.grant_id, u.client, u.purpose, u.rows, u.fields, u.kind)
            for u in ExchangeUse.objects.filter(id__gt=since[0]).order_by("id")]  # fmt: skip
    records = [
        (r.action, r.actor_kind, r.actor_id, r.actor_label, r.outcome, r.target_type, r.target_id, r.purpose,
         r.source_address, r.request_id, r.detail)
        for r in AuditRecord.objects.filter(id__gt=since[1]).order_by("id")
    ]  # fmt: skip
    return uses + records


def test_a_grant_seen_before_reads_the_page_and_writes_its_records_by_one_statement(granted, settings):
    settings.AUDIT_SEAL_MODE = "manual"  # the chain sealed below, not by the statements counted
    resource, reader, (first, second) = granted
    before = _mark()
    _read(resource, reader)  # reads the grant (and is remembered)
    cold, between = _written(before), _mark()
    with CaptureQueriesContext(connection) as statements:
        page = _read(resource, reader, offset=1)
    sent = [q["sql"] for q in statements.captured_queries]
    assert len(sent) == 1, sent  # no BEGIN, no grant's query, no COMMIT
    assert sent[0].startswith("EXECUTE ")
    assert (page.fields, page.rows, page.more) == (
        ITEMS, [{"id_number": "350103********0020", "name": "沈葆桢", "division_code": "350103"}], False,
    )  # fmt: skip
    warm = _written(between)
    # the same rows as the call that read its grant, but for the person read
    assert [row for row in warm if row[0] != "registries.person.read"] == [
        row for row in cold if row[0] != "registries.person.read"
    ]
    (cold_read,) = [row for row in cold if row[0] == "registries.person.read"]
    (warm_read,) = [row for row in warm if row[0] == "registries.person.read"]
    assert cold_read[-1].pop(TARGETS) == [str(first.pk)]
    assert warm_read[-1].pop(TARGETS) == [str(second.pk)]
    assert cold_read == warm_read
    audit_seal_all()
    assert audit_verify().ok
    # a page past the end is still a use and a read of 0 rows, recording no person
    assert _read(resource, reader, offset=5).rows == []
    assert list(ExchangeUse.objects.order_by("-id").values_list("rows", flat=True)[:1]) == [0]
    assert AuditRecord.objects.filter(action="registries.person.read").count() == 2


def _refused(call: Any) -> tuple[type[Exception], str, int, int, list[dict[str, Any]]]:
    """What a refused call leaves: the error's kind and text, the uses and successful records written (none), and
    the details of the refusal records it wrote."""
    uses, records = ExchangeUse.objects.count(), AuditRecord.objects.filter(outcome="success").count()
    denied = AuditRecord.objects.filter(outcome="denied").count()
    with pytest.raises((GrantNotValid, SharingRequestInvalid)) as refused:
        call()
    new_denied = [r.detail for r in AuditRecord.objects.filter(outcome="denied").order_by("id")[denied:]]
    return (type(refused.value), str(refused.value), ExchangeUse.objects.count() - uses,
            AuditRecord.objects.filter(outcome="success").count() - records, new_denied)  # fmt: skip


@pytest.mark.parametrize("reason", ["expired", "revoked", "field not named", "other department", "no purpose"])
def test_every_refusal_is_the_same_with_the_grant_remembered_or_not(granted, reason, monkeypatch):
    """The grant remembered and judged in SQL by the page's statement, or read anew: the same refusal, the same
    problem and its record, and nothing else written (no use, no read recorded)."""
    resource, reader, _people = granted
    grant = SharingGrant.objects.get()
    _read(resource, reader)  # the grant read, and remembered
    assert (reader.department_id, resource.code) in services._GRANTS_SEEN
    changes: dict[str, Any] = {}
    if reason == "expired":
        later = grant.expires_on + dt.timedelta(days=1)
        monkeypatch.setattr(services, "city_today", lambda: later)
    elif reason == "revoked":
        SharingGrant.objects.filter(pk=grant.pk).update(revoked_at=dt.datetime.now(dt.UTC), revoked_reason="停用")
    elif reason == "field not named":
        changes = {"fields": ["phone"]}
    elif reason == "other department":
        other = f.requester(f.department("FZ-RSJ", "福州市人力资源和社会保障局"))
        changes = {"user": other}
    else:
        changes = {"purpose": "  "}

    def call() -> None:
        _read(resource, reader, **changes)

    remembered = _refused(call)
    # a grant no longer in force is forgotten; the refusals decided before the statement leave it remembered
    assert ((reader.department_id, resource.code) in services._GRANTS_SEEN) is (reason not in ("expired", "revoked"))
    services._GRANTS_SEEN.clear()
    anew = _refused(call)
    assert remembered == anew
    assert remembered[2:4] == (0, 0)
    assert len(remembered[4]) == 1


def test_a_grant_changed_or_replaced_since_it_was_remembered_is_read_anew(granted):
    """The gate compares every value the grant was judged by: a narrower grant in clear is honoured at once (the
    name masked), and a newer grant of the consumer for the resource replaces the remembered one."""
    resource, reader, _people = granted
    grant = SharingGrant.objects.get()
    assert _read(resource, reader).rows[0]["name"] == "林则徐"
    SharingGrant.objects.filter(pk=grant.pk).update(clear_items=[])
    assert _read(resource, reader).rows[0]["name"] == "林**"
    request = services.sharing_request_submit(
        resource_code=resource.code, items=ITEMS, clear_items=["name"], purpose=PURPOSE, scenario="续期",
        period_from=city_today(), period_until=city_today() + dt.timedelta(days=180), actor=reader,
    )  # fmt: skip
    services.sharing_request_transition(number=request.number, name="grant", actor=f.steward(resource.provider),
                                        clear_items=["name"])  # fmt: skip
    newer = SharingGrant.objects.get(request__number=request.number)
    assert _read(resource, reader).rows[0]["name"] == "林则徐"
    assert list(ExchangeUse.objects.order_by("id").values_list("grant_id", flat=True)) == [grant.pk, grant.pk, newer.pk]
