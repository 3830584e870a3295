"""Backups that restore: `rongcheng backup` and `rongcheng restore`.

A backup is one file `rongcheng-<UTC time>.rcbackup` in OPERATIONS_BACKUP_DIR: a tar archive of the database (the
SQLite online backup API, or `pg_dump -Fc`), the data directory's keys (without which the personal data and the
audit chain cannot be read) and `manifest.json` (the SM3 digest of every member), encrypted with SM4-GCM under the
operator's backup key (RONGCHENG_BACKUP_KEY, 32 hex digits; kept by the operator, never in the data directory) in
chunks of 4 MiB, each authenticated with its position and whether it is the last (no chunk can be dropped, moved or
cut off unnoticed). Beside it, `<name>.sm3` holds the SM3 digest of the encrypted file, checkable without the key.

Restore refuses a database that has tables already, verifies every digest, loads the database (copy of the SQLite
file, or `pg_restore`) and writes the keys into the data directory: the keys a new installation generated at its
first start protect nothing yet (its database is empty), so they are renamed `*.before-restore-<time>`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection

from rongcheng.kernel.crypto import CryptoError, KeyRing, sm3_digest
from rongcheng.operations.selectors import BACKUP_SUFFIX, backups_list

MAGIC = b"RCBACKUP1\n"
CHUNK = 4 * 2**20
FORMAT = "rongcheng-backup/1"
# The data directory's keys and key stores (each only if present: a key given in the environment is the operator's).
KEY_FILES = (
    "secret-key",
    "audit-chain-key",
    "data-key",
    "blind-index-key",
    "oidc-client-secret-key",
    "oidc-pairwise-key",
    "metrics-token.sm3",
)
KEY_DIRS = ("oidc-keys",)


class BackupError(Exception):
    """One sentence an operator can act on."""


def backup_keyring(key_hex: str | None = None) -> KeyRing:
    value = (key_hex or os.environ.get("RONGCHENG_BACKUP_KEY", "")).strip()
    if not value:
        raise BackupError("No backup key: set RONGCHENG_BACKUP_KEY to 32 hex digits (16 bytes) the operator keeps.")
    try:
        return KeyRing.from_spec(f"backup:{value}")
    except CryptoError as exc:
        raise BackupError(f"The backup key is not usable: {exc}.") from exc


def _aad(index: int, last: bool) -> bytes:
    return MAGIC + index.to_bytes(8, "big") + (b"L" if last else b"C")


def _encrypt_stream(ring: KeyRing, source: BinaryIO, target: BinaryIO) -> None:
    target.write(MAGIC)
    index = 0
    chunk = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        last = not following
        token = ring.encrypt(chunk, associated_data=_aad(index, last))
        target.write(len(token).to_bytes(4, "big"))
        target.write(token)
        if last:
            return
        chunk, index = following, index + 1


def _decrypt_stream(ring: KeyRing, source: BinaryIO, target: BinaryIO) -> None:
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError("This is not a Rongcheng backup file.")
    index = 0
    while True:
        size_bytes = source.read(4)
        if len(size_bytes) != 4:
            raise BackupError("The backup file is cut short.")
        token = source.read(int.from_bytes(size_bytes, "big"))
        for last in (False, True):
            try:
                plain = ring.decrypt(token, associated_data=_aad(index, last))
            except CryptoError:
                continue
            break
        else:
            raise BackupError("The backup key is wrong, or the file was altered.")
        target.write(plain)
        if last:
            if source.read(1):
                raise BackupError("The backup file has data after its last chunk.")
            return
        index += 1


def _sm3_file(path: Path) -> str:
    # SM3 over the whole file; files of a backup are read once here.
    return sm3_digest(path.read_bytes()).hex()


def _dump_database(target: Path) -> str:
    if connection.vendor == "sqlite":
        # SQLite's online backup API, from the platform's own connection: a consistent copy while others write.
        if connection.in_atomic_block:
            raise BackupError("A backup is taken outside any transaction.")
        connection.ensure_connection()
        destination = sqlite3.connect(str(target))
        try:
            connection.connection.backup(destination)
        finally:
            destination.close()
        return "sqlite"
    if connection.vendor == "postgresql":
        _run(["pg_dump", "-Fc", "--no-owner", "-f", str(target), *_pg_args()], "pg_dump")
        return "postgresql"
    raise BackupError(f"Backups of a {connection.vendor} database are not supported.")


def _pg_args() -> list[str]:
    params = connection.settings_dict
    args = ["-d", str(params["NAME"])]
    if params.get("HOST"):
        args += ["-h", str(params["HOST"])]
    if params.get("PORT"):
        args += ["-p", str(params["PORT"])]
    if params.get("USER"):
        args += ["-U", str(params["USER"])]
    return args


def _pg_env() -> dict[str, str]:
    env = dict(os.environ)
    if connection.settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(connection.settings_dict["PASSWORD"])
    return env


def _run(command: list[str], label: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed on this host.")
    done = subprocess.run(command, capture_output=True, text=True, env=_pg_env(), check=False)  # noqa: S603
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise BackupError(f"{label} failed: {reason}")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    digest: str
    vendor: str
    members: int


def backup_create(*, output_dir: Path | None = None, key_hex: str | None = None) -> BackupResult:
    ring = backup_keyring(key_hex)
    output = Path(output_dir or settings.OPERATIONS_BACKUP_DIR)
    output.mkdir(parents=True, exist_ok=True)
    data_dir = Path(settings.DATA_DIR)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with tempfile.TemporaryDirectory(dir=output) as work:
        staging = Path(work)
        members: dict[str, Path] = {}
        database = staging / "database"
        vendor = _dump_database(database)
        members["database.sqlite3" if vendor == "sqlite" else "database.pgdump"] = database
        for name in KEY_FILES:
            if (data_dir / name).is_file():
                members[f"keys/{name}"] = data_dir / name
        for directory in KEY_DIRS:
            for path in sorted((data_dir / directory).glob("*")) if (data_dir / directory).is_dir() else []:
                if path.is_file():
                    members[f"keys/{directory}/{path.name}"] = path
        manifest = {
            "format": FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "vendor": vendor,
            "digest": "SM3",
            "files": {name: _sm3_file(path) for name, path in members.items()},
        }
        archive = staging / "archive.tar"
        with tarfile.open(archive, "w") as tar:
            encoded = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(encoded)
            tar.addfile(info, io.BytesIO(encoded))
            for name, path in members.items():
                tar.add(path, arcname=name, recursive=False)
        final = output / f"rongcheng-{stamp}{BACKUP_SUFFIX}"
        partial = final.with_suffix(".partial")
        with archive.open("rb") as source, partial.open("wb") as target:
            _encrypt_stream(ring, source, target)
        partial.chmod(0o600)
        partial.replace(final)
    digest = _sm3_file(final)
    final.with_name(final.name + ".sm3").write_text(f"{digest}  {final.name}\n", encoding="ascii")
    return BackupResult(final, final.stat().st_size, digest, vendor, len(members))


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in archive.getmembers():
        if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
            raise BackupError(f"The backup holds an unexpected entry {member.name!r}.")
        yield member


def _database_empty() -> bool:
    return not connection.introspection.table_names()


@dataclass(frozen=True)
class RestoreResult:
    vendor: str
    keys_written: int
    created_at: str


def backup_restore(path: Path, *, key_hex: str | None = None) -> RestoreResult:
    """Restore `path` into this installation's (empty) database and data directory."""
    ring = backup_keyring(key_hex)
    sidecar = path.with_name(path.name + ".sm3")
    if sidecar.exists() and sidecar.read_text(encoding="ascii").split()[0] != _sm3_file(path):
        raise BackupError("The backup file does not match its SM3 digest: it was altered or damaged.")
    if not _database_empty():
        raise BackupError("The database is not empty: restore only into a new, empty database.")
    data_dir = Path(settings.DATA_DIR)
    with tempfile.TemporaryDirectory(dir=data_dir) as work:
        staging = Path(work)
        archive_path = staging / "archive.tar"
        with path.open("rb") as source, archive_path.open("wb") as target:
            _decrypt_stream(ring, source, target)
        with tarfile.open(archive_path, "r") as archive:
            members = {member.name: member for member in _members(archive)}
            if "manifest.json" not in members:
                raise BackupError("The backup has no manifest.")
            manifest: dict[str, Any] = json.loads(archive.extractfile(members["manifest.json"]).read())  # type: ignore[union-attr]
            if manifest.get("format") != FORMAT:
                raise BackupError("The backup's format is not one this version restores.")
            contents: dict[str, bytes] = {}
            for name, digest in manifest["files"].items():
                if name not in members:
                    raise BackupError(f"The backup lacks {name}.")
                data = archive.extractfile(members[name]).read()  # type: ignore[union-attr]
                if sm3_digest(data).hex() != digest:
                    raise BackupError(f"{name} does not match the manifest's SM3 digest.")
                contents[name] = data
        vendor = manifest["vendor"]
        if vendor != connection.vendor:
            raise BackupError(f"The backup is of a {vendor} database; this installation uses {connection.vendor}.")
        dump = staging / "database"
        dump.write_bytes(contents["database.sqlite3" if vendor == "sqlite" else "database.pgdump"])
        # The database is empty, so the keys this installation generated at its first start protect nothing yet:
        # the backup's keys replace them (the generated ones are kept beside, renamed, for the record).
        written = 0
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        for name, data in contents.items():
            if name.startswith("keys/"):
                target_path = data_dir / name.removeprefix("keys/")
                target_path.parent.mkdir(parents=True, exist_ok=True)
                if target_path.exists():
                    if target_path.read_bytes() == data:
                        continue
                    target_path.rename(target_path.with_name(f"{target_path.name}.before-restore-{stamp}"))
                target_path.write_bytes(data)
                target_path.chmod(0o600)
                written += 1
        connection.close()
        if vendor == "sqlite":
            loaded = sqlite3.connect(str(dump))
            try:
                destination = sqlite3.connect(str(connection.settings_dict["NAME"]))
                with destination:
                    loaded.backup(destination)
                destination.close()
            finally:
                loaded.close()
        else:
            _run(["pg_restore", "--no-owner", "--exit-on-error", *_pg_args(), str(dump)], "pg_restore")
    return RestoreResult(vendor, written, str(manifest.get("created_at", "")))


def backups_prune(*, now: dt.datetime | None = None) -> int:
    """Delete backups older than OPERATIONS_BACKUP_RETENTION_DAYS, always keeping the newest."""
    limit = (now or dt.datetime.now(dt.UTC)).timestamp() - int(settings.OPERATIONS_BACKUP_RETENTION_DAYS) * 86400
    removed = 0
    for path in backups_list()[1:]:
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sm3").unlink(missing_ok=True)
            removed += 1
    return removed
