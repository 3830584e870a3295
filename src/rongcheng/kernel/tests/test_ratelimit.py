"""The rate-limit mechanism itself: rates, fixed windows, Retry-After, the shared cache's atomic increment."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from rongcheng.kernel.cache import _as_datetime
from rongcheng.kernel.errors import RateLimited
from rongcheng.kernel.ratelimit import Rate, rate_limit_admit


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
