"""Suite-wide fixtures, and the browser fixtures: Playwright driving Debian's chromium (never a downloaded browser)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from tests.log_scanning import PersonalIdentifiersInLogs

# Hypothesis's "input generation is slow" check times its own drawing of examples: on a 2-core machine shared with
# other suites a draw of one integer was seen to take over a second (a stall of the machine, not of the strategy),
# failing a property that held. The property, its examples and its deadline are unchanged; only that check is off.
settings.register_profile("rongcheng", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rongcheng")


@pytest.fixture(autouse=True)
def _audit_seal_inline(settings):
    """Seal audit records in the committing thread: tests see the chain at once, and no sealer thread outlives a
    test or holds its database open while pytest-django drops it."""
    settings.AUDIT_SEAL_MODE = "inline"


@pytest.fixture(autouse=True)
def _passwords_hashed_quickly(settings):
    """argon2id at the smallest cost (tests/hashers.py) in place of production's ~0.2 s a password: the demo city
    alone gives 28 accounts a password in every test that seeds it. A test may still narrow the list further."""
    settings.PASSWORD_HASHERS = [
        "tests.hashers.QuickArgon2PasswordHasher",
        *(name for name in settings.PASSWORD_HASHERS if not name.endswith(".Argon2PasswordHasher")),
    ]


@pytest.fixture(autouse=True)
def _exchange_log_inline(settings):
    """Write each exchange-log row when its call's response is closed: tests count them at once, inside the test's
    transaction, and no writer thread outlives a test. operations/tests/test_exchange_log.py tests the writer."""
    settings.EXCHANGE_LOG_WRITE = "inline"


@pytest.fixture(autouse=True)
def _rate_windows_away_from_their_ends(monkeypatch):
    """Rate limits count in fixed windows (a minute, an hour) numbered by the limiter's clock. A test that counts
    two requests must not see a window end between them, so each test starts at 12:30:30 of the limiter's day: half a
    minute from the next minute, half an hour from the next hour. Tests compute later moments from `clock()`."""
    import time

    from rongcheng.kernel import ratelimit

    now = time.time()
    monkeypatch.setattr(ratelimit, "CLOCK_OFFSET", (now // 86400) * 86400 + 12 * 3600 + 30 * 60 + 30 - now)


@pytest.fixture(autouse=True)
def _empty_cache(request):
    """Each test starts with empty caches: cached permissions of one test's user id must not leak into the next test,
    whose database reuses the id, nor rate-limit counters into the next test (the limits stay on). The shared cache
    is a table in the database, emptied for the tests that use one."""
    from django.core.cache import cache, caches

    from rongcheng.kernel.pagecache import forget_pages
    from rongcheng.kernel.ratelimit import local_counts

    cache.clear()
    forget_pages()
    local_counts.forget()  # the batched scopes' counts this process holds (kernel.ratelimit)
    wanted = next((name for name in ("transactional_db", "db") if name in request.fixturenames), None)
    if wanted is not None:
        request.getfixturevalue(wanted)
    if wanted is not None or request.node.get_closest_marker("django_db"):
        caches["shared"].clear()


@pytest.fixture(autouse=True)
def _spatial_grid_fresh() -> None:
    """Each test locates and geocodes in its own cells and addresses: the process's indexes must not keep a
    rolled-back test's rows."""
    from rongcheng.spatial.services import spatial_indexes_drop

    spatial_indexes_drop()


_log_scanner = PersonalIdentifiersInLogs()


@pytest.fixture(scope="session", autouse=True)
def _scan_logs_for_personal_identifiers() -> Iterator[None]:
    logging.getLogger().addHandler(_log_scanner)
    yield
    logging.getLogger().removeHandler(_log_scanner)


@pytest.fixture(autouse=True)
def _no_personal_identifier_logged() -> Iterator[None]:
    """Fails the test during which the platform logged an ID number, a phone number or a person's credit code."""
    start = len(_log_scanner.findings)
    yield
    logged = _log_scanner.findings[start:]
    if logged:
        pytest.fail(f"personal identifiers were logged: {logged}")


@pytest.fixture(scope="session", autouse=True)
def _live_server_one_request_at_a_time_on_sqlite() -> None:
    """On SQLite the test database is in memory, and the live server hands its one connection to every request
    thread: two requests at once (a page's layers, its scripts and styles) ran statements on that one connection
    together, and a write to the rate limiter's counter table beside another request's read of it failed at once
    with "database table is locked". There the live server answers one request at a time, each on its own
    connection to the browser (closed after the response, since a kept-alive one would hold the only thread). On
    PostgreSQL each request thread has a connection of its own, and the server stays threaded."""
    from django.core.servers.basehttp import WSGIServer
    from django.db import connection
    from django.test import testcases

    if connection.vendor != "sqlite":
        return

    class OneAtATime(WSGIServer):
        def __init__(self, *args: Any, connections_override: dict[str, Any] | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)  # answered in the server's thread, which holds the shared connection

    testcases.LiveServerThread.server_class = OneAtATime  # type: ignore[assignment]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed; CI must install it (apt-get install chromium).")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium) - browser tests skipped.")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test setup are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
