"""The command line as an operator meets it: one clear sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "rongcheng.cli", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_unknown_database_scheme_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli("check", env={"RONGCHENG_DATA_DIR": str(tmp_path), "DATABASE_URL": "mysql://root@localhost/x"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("rongcheng: DATABASE_URL mysql://root@localhost/x is not understood")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli(
        "serve", env={"RONGCHENG_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgres://nobody:pw@127.0.0.1:1/nothing"}
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "The database at 127.0.0.1 cannot be reached" in result.stderr
    assert "pw" not in result.stderr


def test_data_directory_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("demo", env={"RONGCHENG_DATA_DIR": str(blocker / "var")})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"The data directory {blocker / 'var'} cannot be created" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories; /proc covers that case")
def test_read_only_data_directory(tmp_path: Path) -> None:
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o500)
    result = run_cli("check", env={"RONGCHENG_DATA_DIR": str(readonly)})
    assert result.returncode == 2
    assert "is not writable" in result.stderr


def test_read_only_filesystem(tmp_path: Path) -> None:
    result = run_cli("check", env={"RONGCHENG_DATA_DIR": "/proc/rongcheng-var"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "The data directory /proc/rongcheng-var cannot be created" in result.stderr


def test_check_reports_each_failure_in_its_own_bit(tmp_path: Path) -> None:
    env = {"RONGCHENG_DATA_DIR": str(tmp_path)}
    fresh = run_cli("check", env=env)
    assert fresh.returncode == 8, fresh.stdout + fresh.stderr  # migrations not applied
    assert "FAIL migrations" in fresh.stdout
    assert "ok   cryptography self-test" in fresh.stdout

    assert run_cli("manage", "migrate", "--verbosity", "0", env=env).returncode == 0
    seeded = run_cli("seed", "--persons", "50", "--entities", "5", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "Added 50 persons and 5 legal entities." in seeded.stdout
    healthy = run_cli("check", env=env)
    assert healthy.returncode == 0, healthy.stdout
    assert "ok   audit chain intact" in healthy.stdout


def test_audit_verify_names_the_record_edited_behind_the_platforms_back(tmp_path: Path) -> None:
    import sqlite3

    env = {"RONGCHENG_DATA_DIR": str(tmp_path)}
    assert run_cli("manage", "migrate", "--verbosity", "0", env=env).returncode == 0
    assert run_cli("seed", "--persons", "10", "--entities", "0", env=env).returncode == 0
    assert run_cli("audit", "seal", env=env).returncode == 0
    intact = run_cli("audit", "verify", env=env)
    assert intact.returncode == 0, intact.stderr

    with sqlite3.connect(tmp_path / "rongcheng.sqlite3") as db:
        (record_id,) = db.execute("SELECT min(id) FROM audit_record").fetchone()
        db.execute("UPDATE audit_record SET action = 'demo.nothing.happened' WHERE id = ?", (record_id,))
    broken = run_cli("audit", "verify", env=env)
    assert broken.returncode == 1
    assert "Traceback" not in broken.stderr
    assert f"audit chain broken at record {record_id}: content changed" in broken.stderr
    check = run_cli("check", env=env)
    assert check.returncode == 32
    assert f"FAIL audit chain broken at record {record_id}: content changed" in check.stdout
