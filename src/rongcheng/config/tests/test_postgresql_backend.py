"""The health check of persistent connections: free while the connection is quiet, still catching a closed one."""

import time

import pytest
from django.db import connection

from rongcheng.audit.tests.helpers import on_postgresql

pytestmark = [pytest.mark.django_db(transaction=True), on_postgresql]


def _last_statement(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return str(row[0]) if row else ""


@pytest.fixture
def other():
    """A second connection to the test database, as a worker thread would hold it."""
    wrapper = connection.copy()
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def test_a_quiet_connection_is_usable_without_a_round_trip(other):
    with other.cursor() as cursor:
        cursor.execute("SELECT 4242")
    pid = other.connection.info.backend_pid
    assert _last_statement(pid) == "SELECT 4242"

    assert other.is_usable() is True
    other.health_check_enabled, other.health_check_done = True, False
    other.close_if_health_check_failed()

    assert other.connection is not None
    assert _last_statement(pid) == "SELECT 4242"  # no SELECT 1 reached the server


def test_a_connection_the_server_ended_is_found_and_replaced(other):
    pid = other.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _last_statement(pid):
        time.sleep(0.01)  # the backend is gone from pg_stat_activity once it has exited

    assert other.is_usable() is False
    other.health_check_enabled, other.health_check_done = True, False
    other.close_if_health_check_failed()
    assert other.connection is None
    with other.cursor() as cursor:  # the next query opens a new connection
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone() != (pid,)


def test_a_connection_inside_a_transaction_is_asked_by_a_round_trip(other):
    other.set_autocommit(False)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT 4343")
        pid = other.connection.info.backend_pid
        assert other.is_usable() is True
        assert _last_statement(pid) == "SELECT 1"
    finally:
        other.rollback()
        other.set_autocommit(True)


def test_sessions_keep_the_generic_plans_of_prepared_statements_and_the_operators_options(other):
    """Kept plans (ADR 0020) are generic: set at connection start, no statement; an operator's own startup options
    (DATABASE_URL's `options`) are kept beside it."""
    with other.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)
    wrapper = connection.copy()
    wrapper.settings_dict = {**wrapper.settings_dict, "OPTIONS": {"options": "-c statement_timeout=5000"}}
    assert (
        wrapper.get_connection_params()["options"] == "-c statement_timeout=5000 -c plan_cache_mode=force_generic_plan"
    )
    wrapper.settings_dict["OPTIONS"] = {"server_side_binding": True}
    assert "options" not in wrapper.get_connection_params()
