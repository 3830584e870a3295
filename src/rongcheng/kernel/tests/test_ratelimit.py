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
from rongcheng.kernel.ratelimit import (
    LocalCounts,
    Rate,
    batch_size,
    clock,
    rate_limit_admit,
    rates_for,
    refusal_summaries_flush,
)


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


def _batched(settings, rate: str, *, share: float, sync_seconds: float = 3600.0) -> None:
    settings.RATE_LIMITS = {"batched.scope": {"address": rate}}
    settings.RATE_LIMIT_BATCHED = frozenset({"batched.scope"})
    settings.RATE_LIMIT_BATCH_SHARE = share
    settings.RATE_LIMIT_BATCH_MAX = 100
    settings.RATE_LIMIT_SYNC_SECONDS = sync_seconds


def _admitted(address: str, attempts: int, counts: LocalCounts | None = None) -> int:
    admitted = 0
    for _ in range(attempts):
        try:
            rate_limit_admit("batched.scope", address=address, counts=counts)
        except RateLimited:
            continue
        admitted += 1
    return admitted


def test_the_batch_is_a_share_of_the_limit_at_least_one_and_at_most_the_maximum(settings):
    settings.RATE_LIMIT_BATCH_SHARE = 0.05
    settings.RATE_LIMIT_BATCH_MAX = 100
    assert [batch_size(Rate(count, 60)) for count in (0, 10, 120, 3000, 600000)] == [1, 1, 6, 100, 100]


@pytest.mark.django_db
def test_a_batched_scope_in_one_process_admits_exactly_its_limit_with_a_statement_per_batch(settings, monkeypatch):
    """One worker alone is exact: the shared count it saw plus what it admitted since is the whole count. It adds its
    counts every sixth request (the batch of 5 it holds, and the request that hands them over). A refusal is
    answered with Retry-After and summarised as for every scope (the audit app writes the summary: the OAuth token
    endpoint's test shows it)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from rongcheng.kernel import ratelimit

    summaries: list[ratelimit.RefusalSummary] = []
    monkeypatch.setattr(ratelimit, "_subscribers", [summaries.append])
    _batched(settings, "50/60", share=0.1)
    with CaptureQueriesContext(connections["default"]) as queries:
        assert _admitted("192.0.2.10", 50) == 50
    assert len(queries) == 9, [q["sql"] for q in queries]  # requests 1, 7, 13 … 49 synced; the others counted here
    assert _shared().counts([_key("192.0.2.10")]) == {_key("192.0.2.10"): 49}  # the 50th is held here
    with pytest.raises(RateLimited) as refused:
        rate_limit_admit("batched.scope", address="192.0.2.10")
    assert refused.value.status == 429
    assert refused.value.extra["retry_after"] == 30  # the limiter's clock stands at hh:mm:30 in every test
    rate_limit_admit("batched.scope", address="192.0.2.11")  # another address has its own window
    assert summaries == []  # refusals are counted, not handed on one by one
    assert refusal_summaries_flush(now=clock() + settings.RATE_LIMIT_SUMMARY_SECONDS) == 1
    seconds = settings.RATE_LIMIT_SUMMARY_SECONDS
    window_start = int(clock() // seconds) * seconds
    assert summaries == [ratelimit.RefusalSummary("batched.scope", window_start, seconds, 1)]


def _shared() -> SharedDatabaseCache:
    cache = caches["shared"]
    assert isinstance(cache, SharedDatabaseCache)
    return cache


def _key(address: str) -> str:
    from rongcheng.kernel.ratelimit import _digest

    return f"rl:batched.scope:address:{_digest(address)}:{int(clock() // 60)}"


@pytest.mark.django_db
def test_two_workers_admit_at_most_one_batch_over_the_limit_and_the_bound_is_reached(settings):
    """The worst order for two workers (two processes' counts, played in one thread): the first syncs once, the
    second then fills the window, and the first still admits the batch it may hold before syncing again. Over
    the limit by exactly (workers - 1) x batch, never more; both refuse from then on."""
    _batched(settings, "20/60", share=0.25)  # batch of 5
    first, second = LocalCounts(), LocalCounts()
    assert _admitted("192.0.2.20", 1, first) == 1  # synced: the shared count is 1
    assert _admitted("192.0.2.20", 40, second) == 19  # sees the first's 1: fills the window to 20
    assert _admitted("192.0.2.20", 40, first) == 5  # still believes 1: admits its batch, then syncs and refuses
    assert 20 + 1 * batch_size(Rate(20, 60)) == 25 == 1 + 19 + 5
    assert _admitted("192.0.2.20", 10, second) == 0
    assert _admitted("192.0.2.20", 10, first) == 0


@pytest.mark.django_db
def test_a_worker_hands_over_its_counts_when_it_has_not_synced_for_the_interval(settings):
    """After RATE_LIMIT_SYNC_SECONDS the next request syncs, whatever the batch, and takes with it the counts of
    the other windows held as long (one statement)."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    _batched(settings, "1000/60", share=0.1, sync_seconds=0.05)
    counts = LocalCounts()
    assert _admitted("192.0.2.30", 3, counts) == 3
    assert _admitted("192.0.2.31", 2, counts) == 2
    assert _shared().counts([_key("192.0.2.30"), _key("192.0.2.31")]) == {
        _key("192.0.2.30"): 1,
        _key("192.0.2.31"): 1,
    }
    time.sleep(0.06)
    with CaptureQueriesContext(connections["default"]) as queries:
        assert _admitted("192.0.2.30", 1, counts) == 1
    assert len(queries) == 1
    assert _shared().counts([_key("192.0.2.30"), _key("192.0.2.31")]) == {
        _key("192.0.2.30"): 4,
        _key("192.0.2.31"): 2,
    }


@pytest.mark.django_db
def test_scopes_not_batched_count_every_request_in_the_shared_counter(settings):
    settings.RATE_LIMITS = {"strict.scope": {"address": "50/60"}}
    settings.RATE_LIMIT_BATCHED = frozenset()
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections["default"]) as queries:
        for _ in range(5):
            rate_limit_admit("strict.scope", address="192.0.2.40")
    assert len(queries) == 5


# One server worker, as a process of its own: a new interpreter (not a fork of the test's, which may hold a browser's
# threads and their locks from an earlier test in the same pytest worker: a forked child once hung there), on the
# test's database, with the test's rate-limit settings and the limiter's clock.
_WORKER = """
import json, sys, time
import django
from django.conf import settings
arguments = json.loads(sys.argv[1])
django.setup()
settings.DATABASES["default"]["NAME"] = arguments["database"]
for name, value in arguments["settings"].items():
    setattr(settings, name, frozenset(value) if name == "RATE_LIMIT_BATCHED" else value)
from rongcheng.kernel import ratelimit
from rongcheng.kernel.errors import RateLimited
ratelimit.CLOCK_OFFSET = arguments["clock_offset"]
# All three count together: each says it is ready, then waits for the others (an interpreter that started late once
# found the window's whole limit taken by the other two and admitted nothing).
from pathlib import Path
barrier = Path(arguments["barrier"])
(barrier / str(arguments["number"])).touch()
deadline = time.monotonic() + 60
while len(list(barrier.iterdir())) < arguments["processes"] and time.monotonic() < deadline:
    time.sleep(0.005)
admitted = 0
for _ in range(arguments["attempts"]):
    try:
        ratelimit.rate_limit_admit("batched.scope", address=arguments["address"])
    except RateLimited:
        pass
    else:
        admitted += 1
    time.sleep(0.001)
print(admitted)
"""


@pytest.mark.django_db(transaction=True)
def test_worker_processes_together_stay_within_the_stated_bound(settings, tmp_path):
    """Three processes (granian's workers are processes) count one window at once: together they admit at least the
    limit and at most the limit plus (processes - 1) x batch."""
    import json
    import subprocess
    import sys

    from rongcheng.kernel import ratelimit

    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database is not shared between processes")
    _batched(settings, "100/60", share=0.05, sync_seconds=0.02)  # batch of 5
    arguments = {
        "database": str(connection.settings_dict["NAME"]), "address": "192.0.2.50", "attempts": 80,
        "barrier": str(tmp_path), "processes": 3,
        "clock_offset": ratelimit.CLOCK_OFFSET,
        "settings": {"RATE_LIMITS": settings.RATE_LIMITS, "RATE_LIMIT_BATCHED": sorted(settings.RATE_LIMIT_BATCHED),
                     "RATE_LIMIT_BATCH_SHARE": 0.05, "RATE_LIMIT_BATCH_MAX": 100, "RATE_LIMIT_SYNC_SECONDS": 0.02},
    }  # fmt: skip
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, json.dumps({**arguments, "number": number})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(3)
    ]
    admitted = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
        admitted.append(int(out.split()[-1]))
    assert 100 <= sum(admitted) <= 100 + (3 - 1) * batch_size(Rate(100, 60)), admitted
    assert all(share > 0 for share in admitted), admitted
    caches["shared"].clear()
