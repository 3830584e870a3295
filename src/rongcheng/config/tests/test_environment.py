import os
import stat

import pytest

from rongcheng.config.environment import (
    ConfigurationError,
    database_from_url,
    rate_limits,
    rate_limits_batched,
    secret_from_file,
)


def test_postgres_url_is_parsed_with_escapes():
    db = database_from_url("postgres://city%40ops:p%3Ass@db.example:6432/rongcheng?sslmode=require")
    assert db["ENGINE"] == "rongcheng.config.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "city@ops",
        "p:ss",
        "db.example",
        "6432",
        "rongcheng",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_sqlite_url_is_an_absolute_path():
    db = database_from_url("sqlite:////srv/rongcheng/city.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == "/srv/rongcheng/city.sqlite3"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_an_sqlite_connection_is_not_kept_between_requests_and_jobs(monkeypatch):
    """Kept open, it was carried into the job worker's forked processes and damaged the demo's database file."""
    monkeypatch.delenv("RONGCHENG_DB_CONN_MAX_AGE", raising=False)
    assert database_from_url("sqlite:////srv/rongcheng/city.sqlite3")["CONN_MAX_AGE"] == 0
    assert database_from_url("postgres://rc@db.example:5432/rongcheng")["CONN_MAX_AGE"] == 60


def test_default_is_embedded_sqlite_in_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("RONGCHENG_DATA_DIR", str(tmp_path / "data"))
    db = database_from_url(None)
    assert db["NAME"] == str(tmp_path / "data" / "rongcheng.sqlite3")
    assert (tmp_path / "data").is_dir()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://root@localhost/x", "is not understood"),
        ("postgres://user:secret@host:99999/db", "invalid port"),
        ("postgres://host/", "names no database"),
    ],
)
def test_bad_urls_name_the_problem_and_hide_the_password(url, fragment):
    with pytest.raises(ConfigurationError) as caught:
        database_from_url(url)
    assert fragment in str(caught.value)
    assert "secret" not in str(caught.value)


def test_generated_secret_is_kept_private_and_stable(tmp_path, monkeypatch):
    monkeypatch.setenv("RONGCHENG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TEST_SECRET_ENV", raising=False)
    first = secret_from_file("test-secret", "TEST_SECRET_ENV")
    assert len(first) >= 40
    assert secret_from_file("test-secret", "TEST_SECRET_ENV") == first
    assert stat.S_IMODE(os.stat(tmp_path / "test-secret").st_mode) == 0o600
    monkeypatch.setenv("TEST_SECRET_ENV", "from-environment")
    assert secret_from_file("test-secret", "TEST_SECRET_ENV") == "from-environment"


def test_rate_limits_are_changed_by_the_environment_and_nonsense_is_refused():
    defaults = {"identity.register": {"address": "10/3600"}, "hall.draft": {"address": "60/3600", "account": "20/3600"}}
    assert rate_limits(defaults, "identity.register.address=5/600, hall.draft.account=off") == {
        "identity.register": {"address": "5/600"},
        "hall.draft": {"address": "60/3600"},
    }
    assert rate_limits(defaults, "") == defaults
    for nonsense in ("nowhere.address=1/60", "hall.draft.user=1/60", "hall.draft.address=1", "hall.draft.address=1/0"):
        with pytest.raises(ConfigurationError, match="RONGCHENG_RATE_LIMITS"):
            rate_limits(defaults, nonsense)


def test_the_batched_scopes_are_replaced_by_the_environment_and_unknown_ones_refused():
    limits = {"oauth.token": {"address": "120/60"}, "identity.sign_in": {"address": "30/600"}}
    assert rate_limits_batched(("oauth.token",), limits, None) == frozenset({"oauth.token"})
    assert rate_limits_batched(("oauth.token",), limits, "none") == frozenset()
    assert rate_limits_batched(("oauth.token",), limits, " identity.sign_in, ") == frozenset({"identity.sign_in"})
    with pytest.raises(ConfigurationError, match="RONGCHENG_RATE_LIMIT_BATCHED names nowhere"):
        rate_limits_batched(("oauth.token",), limits, "oauth.token,nowhere")


def test_scopes_that_check_a_persons_credential_are_counted_before_each_answer(settings):
    """ADR 0018: only machine calls and public reads are batched; sign-in, SMS codes, registration, consent, one's
    own account (password, TOTP) and every write of people and officers count each request in the shared counter."""
    assert set(settings.RATE_LIMIT_BATCHED) == {
        "oauth.token", "registries.lookup", "licences.lookup", "credit.lookup", "credit.query", "card.pay",
        "card.topup", "card.bills", "cases.open311", "spatial.ogc", "spatial.api", "opendata.read",
    }  # fmt: skip
    for strict in ("identity.sign_in", "identity.register", "identity.sms", "identity.account", "oauth.authorize"):
        assert strict not in settings.RATE_LIMIT_BATCHED
