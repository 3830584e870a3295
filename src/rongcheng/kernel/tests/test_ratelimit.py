"""The rate-limit mechanism itself: rates, fixed windows, Retry-After, the shared cache's atomic increment."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from rongcheng.kernel.cache import SharedDatabaseCache, _as_datetime
from rongcheng.kernel.errors import RateLimited
from rongcheng.kernel.ratelimit import Rate, rate_limit_admit, rates_for


def test_rates_parse_and_refuse_nonsense():
    assert Rate.parse("30/600") == Rate(30, 600)
    for text in ("30", "x/60", "3/0", "-1/60"):
        with pytest.raises(ImproperlyConfigured):
            Rate.parse(text)


@pytest.mark.django_db
def test_address_and_account_are_counted_apart(settings):
    settings.RATE_LIMITS = {"test.scope": {"address": "2/3600", "account": "3/3600"}}
    rate_limit_admit("test.scope", address="192.0.2.1", account="7")
    rate_limit_admit("test.scope", address="192.0.2.1", account="8")
    with pytest.raises(RateLimited) as refused:
        rate_limit_admit("test.scope", address="192.0.2.1", account="9")
    assert 0 < refused.value.extra["retry_after"] <= 3600
    rate_limit_admit("test.scope", address="192.0.2.2", account="7")  # account 7: its second request
    rate_limit_admit("test.scope", address="192.0.2.3", account="7")
    with pytest.raises(RateLimited):
        rate_limit_admit("test.scope", address="192.0.2.4", account="7")


def test_rates_are_parsed_once_and_follow_the_settings_at_once(settings, monkeypatch):
    parsed: list[str] = []
    real_parse = Rate.parse.__func__  # type: ignore[attr-defined]

    def counting_parse(cls: type[Rate], text: str) -> Rate:
        parsed.append(text)
        return real_parse(cls, text)  # type: ignore[no-any-return]

    monkeypatch.setattr(Rate, "parse", classmethod(counting_parse))
    settings.RATE_LIMITS = {"memo.scope": {"address": "2/60", "account": "3/60"}}
    assert rates_for("memo.scope") == {"address": Rate(2, 60), "account": Rate(3, 60)}
    assert rates_for("memo.scope") == {"address": Rate(2, 60), "account": Rate(3, 60)}
    assert parsed == ["2/60", "3/60"]  # the second answer was remembered
    settings.RATE_LIMITS = {"memo.scope": {"address": "5/60"}}  # override_settings, as tests and operators change it
    assert rates_for("memo.scope") == {"address": Rate(5, 60)}
    settings.RATE_LIMITS["memo.scope"]["address"] = "off/60"  # changed in place: seen too, and refused
    with pytest.raises(ImproperlyConfigured):
        rates_for("memo.scope")
    settings.RATE_LIMITS["memo.scope"]["address"] = "7/60"
    assert rates_for("memo.scope") == {"address": Rate(7, 60)}
    settings.RATE_LIMITS = {}
    with pytest.raises(ImproperlyConfigured):
        rates_for("memo.scope")


def test_an_unconfigured_scope_is_a_configuration_error(settings):
    settings.RATE_LIMITS = {}
    with pytest.raises(ImproperlyConfigured):
        rate_limit_admit("nowhere", address="192.0.2.1")


@pytest.mark.django_db(transaction=True)
def test_the_shared_cache_counts_every_increment_of_concurrent_workers():
    """Several threads (each its own database connection, as worker processes have) increment one counter."""
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database is not shared between connections")
    cache = caches["shared"]
    cache.add("counter", 0, timeout=60)

    def work() -> None:
        for _ in range(10):
            cache.incr("counter")
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("counter") == 40
    cache.clear()


@pytest.mark.django_db
def test_incr_keeps_the_expiry_and_refuses_a_missing_key():
    cache = caches["shared"]
    cache.add("window", 1, timeout=86400)
    assert cache.incr("window") == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT expires FROM rongcheng_shared_cache WHERE cache_key LIKE %s", ["%window"])
        (expires,) = cursor.fetchone()
    assert _as_datetime(connection, expires) > timezone.now() + dt.timedelta(hours=23)
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")


@pytest.mark.django_db(transaction=True)
def test_counters_of_concurrent_workers_lose_no_count():
    """Four threads (each its own database connection, as worker processes have) count one window at once."""
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database is not shared between connections")
    cache = caches["shared"]
    assert isinstance(cache, SharedDatabaseCache)
    seen: list[int] = []

    def work() -> None:
        for _ in range(10):
            seen.append(cache.count("window-c", timeout=60))
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every count was handed out exactly once: no two requests were told the same number.
    assert sorted(seen) == list(range(1, 41))
    assert cache.counts(["window-c", "never-counted"]) == {"window-c": 40}
    cache.expired_delete()


@pytest.mark.django_db
def test_a_counted_request_is_one_statement_and_an_expired_window_starts_again(settings):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    cache = caches["shared"]
    assert isinstance(cache, SharedDatabaseCache)
    settings.RATE_LIMITS = {"probe": {"address": "3/60"}}
    with CaptureQueriesContext(connections["default"]) as queries:
        rate_limit_admit("probe", address="192.0.2.9")
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert cache.count("short", timeout=0) == 1
    time.sleep(0.01)
    assert cache.count("short", timeout=60) == 1  # the first window had expired: counting starts again
    assert cache.count("short", timeout=60) == 2
    assert cache.counts(["short"]) == {"short": 2}


@pytest.mark.django_db(transaction=True)
def test_a_counter_alone_commits_without_waiting_for_the_disk_and_a_callers_transaction_keeps_its_guarantee():
    """On PostgreSQL a count made outside any transaction commits asynchronously (its own statement only: the
    session's setting is untouched after it); inside a caller's transaction it is the plain upsert, so the caller's
    commit still waits for the disk."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    cache = caches["shared"]
    assert isinstance(cache, SharedDatabaseCache)

    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    assert [cache.count("alone", timeout=60) for _ in range(3)] == [1, 2, 3]
    assert setting() == "on"
    with transaction.atomic():
        assert cache.count("alone", timeout=60) == 4
        assert setting() == "on"
    assert cache.counts(["alone"]) == {"alone": 4}
    cache.expired_delete()
