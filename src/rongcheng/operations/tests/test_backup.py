"""A backup restores: into a new, empty database and data directory, after which `rongcheng check` and `audit
verify` pass and sampled records match (SQLite; PostgreSQL when the suite runs on it)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor, audit_record
from rongcheng.operations.backup import BackupError, backup_create, backup_restore, backups_prune

KEY = "00112233445566778899aabbccddeeff"
PG = "postgresql://postgres@127.0.0.1:5432/"


def _cli(data_dir: Path, database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(RONGCHENG_DATA_DIR=str(data_dir), RONGCHENG_BACKUP_KEY=KEY, RONGCHENG_LOG_LEVEL="ERROR",
               RONGCHENG_ACCESS_LOG_LEVEL="WARNING")  # fmt: skip
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "rongcheng.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _content() -> list[tuple[object, ...]]:
    for number in range(3):
        User.objects.create_user(username=f"restore{number}", password="Restore-Me-1!")
    for number in range(5):
        audit_record(action="operations.backup.sample", actor=Actor.system("test"), target_id=number)
    return list(AuditRecord.objects.order_by("pk").values_list("pk", "action", "target_id", "detail"))


def _restore_and_check(tmp_path: Path, backup: Path, database_url: str | None) -> Path:
    restored = tmp_path / "restored"
    restored.mkdir()
    done = _cli(restored, database_url, "restore", str(backup))
    assert done.returncode == 0, done.stderr
    assert "Restored the" in done.stdout
    check = _cli(restored, database_url, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok   audit chain intact" in check.stdout
    verify = _cli(restored, database_url, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return restored


@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("operations-backup")
def test_backup_restores_on_sqlite(tmp_path, settings):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite restore runs when the suite runs on SQLite")
    settings.OPERATIONS_BACKUP_DIR = tmp_path / "backups"
    records = _content()
    result = backup_create(key_hex=KEY)
    assert result.vendor == "sqlite"
    assert (result.path.with_name(result.path.name + ".sm3")).read_text().split()[0] == result.digest
    assert b"restore0" not in result.path.read_bytes()  # encrypted
    restored = _restore_and_check(tmp_path, result.path, None)
    copy = sqlite3.connect(restored / "rongcheng.sqlite3")
    sample = copy.execute(
        "SELECT id, action, target_id, detail FROM audit_record WHERE action = 'operations.backup.sample' ORDER BY id"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in sample] == [
        (r[0], r[1], r[2]) for r in records if r[1] == "operations.backup.sample"
    ]
    users = copy.execute(
        "SELECT username, password FROM accounts_user WHERE username LIKE 'restore%' ORDER BY username"
    )
    assert users.fetchall() == list(User.objects.filter(username__startswith="restore").order_by("username")
                                    .values_list("username", "password"))  # fmt: skip
    assert (restored / "audit-chain-key").read_text() == (Path(settings.DATA_DIR) / "audit-chain-key").read_text()


@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("operations-backup")
def test_backup_restores_on_postgresql(tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL restore runs when the suite runs on PostgreSQL")
    settings.OPERATIONS_BACKUP_DIR = tmp_path / "backups"
    records = _content()
    result = backup_create(key_hex=KEY)
    assert result.vendor == "postgresql"
    target = f"rc_operations_restore_{os.getpid()}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{target}"'], check=True
    )
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{target}"'], check=True)
    try:
        _restore_and_check(tmp_path, result.path, PG + target)
        sample = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", target, "-tAc",
             "SELECT id || '|' || action || '|' || target_id FROM audit_record "
             "WHERE action = 'operations.backup.sample' ORDER BY id"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert sample == [f"{r[0]}|{r[1]}|{r[2]}" for r in records if r[1] == "operations.backup.sample"]
    finally:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'],
            check=False,
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("operations-backup")
def test_restore_refuses_a_wrong_key_an_altered_file_and_a_database_that_is_not_empty(tmp_path, settings):
    settings.OPERATIONS_BACKUP_DIR = tmp_path / "backups"
    result = backup_create(key_hex=KEY)
    with pytest.raises(BackupError, match="not empty"):
        backup_restore(result.path, key_hex=KEY)
    altered = bytearray(result.path.read_bytes())
    altered[len(altered) // 2] ^= 1
    result.path.write_bytes(bytes(altered))
    with pytest.raises(BackupError, match="SM3"):
        backup_restore(result.path, key_hex=KEY)
    with pytest.raises(BackupError, match="RONGCHENG_BACKUP_KEY"):
        backup_create(key_hex="")


def test_backups_older_than_the_retention_are_pruned_keeping_the_newest(tmp_path, settings):
    settings.OPERATIONS_BACKUP_DIR = tmp_path
    settings.OPERATIONS_BACKUP_RETENTION_DAYS = 180
    old = [tmp_path / f"rongcheng-{n}.rcbackup" for n in range(3)]
    for number, path in enumerate(old):
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 + number, 1_000_000 + number))
    assert backups_prune() == 2
    assert [p.name for p in tmp_path.iterdir()] == ["rongcheng-2.rcbackup"]


@pytest.mark.parametrize("variable", ["RONGCHENG_AUDIT_RETENTION_DAYS", "RONGCHENG_BACKUP_RETENTION_DAYS"])
def test_a_retention_shorter_than_six_months_is_refused_at_start_up(tmp_path, variable):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    code = "import django; django.setup(); from django.conf import settings; print(settings.AUDIT_RETENTION_DAYS)"
    env.update(RONGCHENG_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="rongcheng.config.settings")
    kept = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert (kept.returncode, kept.stdout.strip()) == (0, "180"), kept.stderr
    env[variable] = "179"
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert f"{variable}=179: the law asks for at least 180 days (six months)." in refused.stderr
