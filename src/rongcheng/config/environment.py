"""Reading the platform's environment: data directory, database URL, secret key.

Errors here are `ConfigurationError` with one sentence a city operator can act on; the command line prints
that sentence instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


class ConfigurationError(Exception):
    """The environment does not describe a runnable platform."""


def data_dir() -> Path:
    """The directory for the embedded database, generated keys and uploads (default ./var)."""
    path = Path(os.environ.get("RONGCHENG_DATA_DIR", "var")).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"The data directory {path} cannot be created: {exc.strerror}.") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"The data directory {path} is not writable; set RONGCHENG_DATA_DIR to a writable directory."
        )
    return path


def secret_from_file(name: str, env_var: str, nbytes: int = 48, *, hex_format: bool = False) -> str:
    """A secret from the environment, else from the data directory, generated there (mode 0600) on first run."""
    given = os.environ.get(env_var)
    if given:
        return given
    path = data_dir() / name
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    value = secrets.token_hex(nbytes) if hex_format else secrets.token_urlsafe(nbytes)
    # Written whole to a private file, then linked into place: a process starting at the same moment (several
    # server or test workers) either wins the link or reads the winner's complete secret, never an empty file.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
        os.link(temporary, path)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    finally:
        os.unlink(temporary)
    return value


def database_from_url(url: str | None) -> dict[str, Any]:
    """Django DATABASES['default'] from DATABASE_URL; the embedded SQLite database when it is unset.

    Accepted: postgres://user:password@host:port/name?sslmode=... (also postgresql://), sqlite:////absolute/path,
    sqlite:///relative/path.
    """
    if not url:
        return _sqlite(data_dir() / "rongcheng.sqlite3")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigurationError(f"DATABASE_URL {_redact(url)} names no database after the host.")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"DATABASE_URL {_redact(url)} has an invalid port.") from exc
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "rongcheng.config.postgresql",  # Django's, with a health check free of round trips
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(port or ""),
            "CONN_MAX_AGE": int(os.environ.get("RONGCHENG_DB_CONN_MAX_AGE", "60")),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            "TEST": {"NAME": os.environ.get("RONGCHENG_TEST_DATABASE") or f"test_{name}"},
        }
    if scheme == "sqlite":
        # sqlite:///relative/file and sqlite:////absolute/file, as dj-database-url reads them.
        raw = unquote(url[len("sqlite://") :])[1:] if url.startswith("sqlite://") else unquote(url[len("sqlite:") :])
        if not raw or raw == "/":
            raise ConfigurationError(f"DATABASE_URL {url} names no SQLite file.")
        return _sqlite(Path(raw))
    raise ConfigurationError(
        f"DATABASE_URL {_redact(url)} is not understood: use postgres://user:password@host:port/name or "
        "sqlite:///path/to/file."
    )


def _sqlite(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # Closed after each request and each job (Django's default). Kept open (60 s, as PostgreSQL's are) the
        # demo's database was damaged within a minute of its first applications: the job worker's processes fork
        # while a connection is open (django-q2 closes old connections only once they are CONN_MAX_AGE old), and an
        # SQLite connection carried across fork() corrupts the file (sqlite.org/howtocorrupt.html, 2.6). Opening
        # one costs the file and the pragmas below, under a millisecond.
        "CONN_MAX_AGE": int(os.environ.get("RONGCHENG_DB_CONN_MAX_AGE", "0")),
        "OPTIONS": {
            # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so two
            # writers queue on busy_timeout instead of failing on a lock upgrade.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 10,
        },
    }


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def rate_limits_batched(
    defaults: tuple[str, ...], limits: dict[str, dict[str, str]], override: str | None
) -> frozenset[str]:
    """The scopes counted in batches: the defaults, or the comma-separated scopes of `override` (`none`: no scope)."""
    if override is None:
        scopes = frozenset(defaults)
    elif override.strip() == "none":
        scopes = frozenset()
    else:
        scopes = frozenset(part.strip() for part in override.split(",") if part.strip())
    unknown = sorted(scopes - set(limits))
    if unknown:
        raise ConfigurationError(
            f"RONGCHENG_RATE_LIMIT_BATCHED names {', '.join(unknown)}, which are not rate-limit scopes; "
            f"choose among {', '.join(sorted(limits))}, or `none`."
        )
    return scopes


def rate_limits(defaults: dict[str, dict[str, str]], override: str) -> dict[str, dict[str, str]]:
    """The rate limits: the defaults, changed by `scope.kind=count/seconds` items (comma-separated; `off` removes
    one), e.g. RONGCHENG_RATE_LIMITS="identity.register.address=5/3600,hall.draft.account=off"."""
    limits = {scope: dict(rates) for scope, rates in defaults.items()}
    for item in (part.strip() for part in override.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        scope, _, kind = name.strip().rpartition(".")
        value = value.strip()
        count, slash, seconds = value.partition("/")
        well_formed = value == "off" or (slash and count.isdigit() and seconds.isdigit() and int(seconds) > 0)
        if scope not in limits or kind not in ("address", "account") or not well_formed:
            raise ConfigurationError(
                f"RONGCHENG_RATE_LIMITS item {item!r} is not scope.address=count/seconds or scope.account=…/off "
                f"with a scope among {', '.join(sorted(limits))}."
            )
        if value == "off":
            limits[scope].pop(kind, None)
        else:
            limits[scope][kind] = value
    return limits
