"""kernel.prepared.kept_plan: a statement written as SQL keeps its plan in the database session (ADR 0020)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from rongcheng.kernel import prepared
from rongcheng.kernel.prepared import kept_plan

pytestmark = pytest.mark.django_db

SQL = "SELECT %s::int + 1, 'a%%b', array_length(%s::text[], 1), %s::date"


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def _run(sql: str, params: list[Any]) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return tuple(cursor.fetchone())


def test_a_kept_plan_answers_as_its_sql_and_is_prepared_once_per_session():
    if connection.vendor != "postgresql":
        assert kept_plan("SELECT %s + 1", 1) == "SELECT %s + 1"  # elsewhere the SQL itself
        return
    params: list[Any] = [41, ["x", "y", "z"], "2026-12-06"]
    expected = _run(SQL, params)
    sent = kept_plan(SQL, 3)
    assert sent.startswith("EXECUTE rc_")
    assert sent.endswith("(%s, %s, %s)")
    name = sent.removeprefix("EXECUTE ").partition("(")[0]
    assert name in _prepared_names()
    for _ in range(2):
        assert kept_plan(SQL, 3) == sent  # the same statement, not prepared again (PREPARE twice would fail)
        assert _run(sent, params) == expected
    assert expected[:3] == (42, "a%b", 3)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are kept on PostgreSQL only")
def test_a_session_keeps_at_most_its_bound_the_least_recently_used_deallocated(monkeypatch):
    monkeypatch.setattr(prepared, "KEPT_PER_SESSION", 2)
    connection.ensure_connection()
    prepared._prepared_in.pop(connection.connection, None)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    first, second, third = (kept_plan(f"SELECT %s::int + {n}", 1) for n in (1, 2, 3))
    names = [s.removeprefix("EXECUTE ").partition("(")[0] for s in (first, second, third)]
    assert _prepared_names() == {names[1], names[2]}  # the first, least recently used, deallocated
    assert kept_plan("SELECT %s::int + 2", 1) == second  # used again: now the most recent
    assert kept_plan("SELECT %s::int + 1", 1) == first  # prepared again, evicting the third
    assert _prepared_names() == {names[0], names[1]}
    assert _run(first, [1]) == (2,)
    assert _run(second, [1]) == (3,)
