"""The lookups compiled once (kernel.prepared) give what their querysets give: same row, same instances."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from rongcheng.kernel.prepared import PreparedLookup, PreparedQuery
from rongcheng.registries.models import Person
from rongcheng.registries.protection import index_of
from rongcheng.registries.selectors import _person_by_index
from rongcheng.registries.tests.factories import make_id_number, make_person

pytestmark = pytest.mark.django_db


def _fields(instance: Person) -> dict[str, object]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_the_person_by_blind_index_is_the_querysets_with_its_address_and_nothing_else():
    make_person(address="福州市台江区上下杭2号")
    wanted = make_person()
    make_person(address="")
    index = wanted.id_number_index
    expected = Person.objects.select_related("address").filter(id_number_index=index).first()
    assert expected is not None
    assert expected.address is not None

    for _ in range(2):  # compiled on the first call, reused on the second
        with CaptureQueriesContext(connection) as queries:
            person = _person_by_index(index)
            assert person is not None
            address = person.address  # loaded with the person: no query of its own
        assert len(queries) == 1
        assert type(person) is Person
        assert person.pk == wanted.pk
        assert _fields(person) == _fields(expected)
        assert address is not None
        assert _fields(address) == _fields(expected.address)  # type: ignore[arg-type]
        assert (person._state.adding, person._state.db) == (False, expected._state.db)
        assert (address._state.adding, address._state.db) == (False, expected._state.db)


def test_a_person_without_an_address_and_an_index_nobody_holds():
    nowhere = make_person(address="")
    person = _person_by_index(nowhere.id_number_index)
    assert person is not None
    assert person.pk == nowhere.pk
    assert person.address is None
    assert _person_by_index(index_of("person.id_number", make_id_number())) is None


def test_a_queryset_whose_sql_depends_on_the_value_is_refused():
    twice = PreparedLookup(lambda value: Person.objects.filter(name=value, division_code=value)[:1])
    with pytest.raises(ValueError, match="exactly once"):
        twice("350102")


def test_a_prepared_query_of_several_values_gives_every_row_in_order():
    first, second = make_person(), make_person()
    make_person()
    both = PreparedQuery(
        lambda one, other: Person.objects.filter(Q(id_number_index=one) | Q(id_number_index=other)).order_by("-pk"),
        placeholders=("\x00one\x00", "\x00other\x00"),
    )
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            found = both(first.id_number_index, second.id_number_index)
        assert len(queries) == 1
        assert [person.pk for person in found] == [second.pk, first.pk]
        assert _fields(found[1]) == _fields(Person.objects.get(pk=first.pk))
    assert both("nobody", "nobody either") == []


def test_a_prepared_query_needs_a_placeholder_per_value_each_a_parameter():
    with pytest.raises(ValueError, match="placeholder of its own"):
        PreparedQuery(lambda one, other: Person.objects.filter(name=one, division_code=other), placeholders=("x", "x"))
    unused = PreparedQuery(lambda one, other: Person.objects.filter(name=one), placeholders=("\x00a\x00", "\x00b\x00"))
    with pytest.raises(ValueError, match="each value as a parameter"):
        unused("a", "b")


def test_a_lookup_whose_plan_is_kept_gives_the_same_instances_and_prepares_once_per_session():
    kept = PreparedLookup(
        lambda index: Person.objects.select_related("address").filter(id_number_index=index).order_by("pk")[:1],
        keep_plan=True,
    )
    wanted = make_person(address="福州市鼓楼区三坊七巷1号")
    expected = Person.objects.select_related("address").filter(id_number_index=wanted.id_number_index).first()
    assert expected is not None
    assert expected.address is not None
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            person = kept(wanted.id_number_index)
        assert person is not None
        assert _fields(person) == _fields(expected)
        assert _fields(person.address) == _fields(expected.address)  # type: ignore[arg-type]
        assert len(queries) == 1  # the PREPARE is the session's setup, not a statement of the lookup
        sent = queries[0]["sql"]
        assert sent.startswith("EXECUTE rc_") if connection.vendor == "postgresql" else sent.startswith("SELECT")
    assert kept(index_of("person.id_number", make_id_number())) is None
    if connection.vendor == "postgresql":
        name = sent.split()[1].split("(")[0]
        with connection.cursor() as cursor:  # prepared once in this session: kept across the calls
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", [name])
            assert cursor.fetchone() == (1,)


def test_a_prepared_querys_compiled_sql_goes_with_it():
    """The compiled SQL a connection keeps for a prepared query is dropped when the query is: a later query that
    happens to get the same id() must compile its own SQL, not run the first one's."""
    import gc

    first = PreparedQuery(lambda one: Person.objects.filter(name=one), placeholders=("\x00a\x00",))
    assert first("nobody") == []
    kept = connections[DEFAULT_DB_ALIAS].__dict__["_rongcheng_prepared"]
    assert first in kept
    before = len(kept)
    del first
    gc.collect()
    assert len(kept) == before - 1
    wanted = make_person()
    other = PreparedQuery(lambda code: Person.objects.filter(division_code=code), placeholders=("\x00b\x00",))
    assert [person.pk for person in other(wanted.division_code)] == [wanted.pk]
