"""The command line as an operator meets it: one clear sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import Migrated, run_cli


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


def test_check_reports_each_failure_in_its_own_bit(tmp_path: Path, migrated: Migrated) -> None:
    env = {"RONGCHENG_DATA_DIR": str(tmp_path)}
    fresh = run_cli("check", env=env)
    assert fresh.returncode == 8, fresh.stdout + fresh.stderr  # migrations not applied
    assert "FAIL migrations" in fresh.stdout
    assert "ok   cryptography self-test" in fresh.stdout

    migrated(tmp_path)  # what `rongcheng manage migrate` made of a fresh data directory (tests/conftest.py)
    seeded = run_cli("seed", "--persons", "50", "--entities", "5", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "Added 50 persons and 5 legal entities." in seeded.stdout
    healthy = run_cli("check", env=env)
    assert healthy.returncode == 0, healthy.stdout
    assert "ok   audit chain intact" in healthy.stdout


def test_audit_verify_names_the_record_edited_behind_the_platforms_back(tmp_path: Path, migrated: Migrated) -> None:
    import sqlite3

    env = {"RONGCHENG_DATA_DIR": str(migrated(tmp_path))}
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


def _persons_csv(path: Path, indexes: range | list[int], bad: tuple[int, ...] = ()) -> Path:
    import csv
    import datetime as dt

    from rongcheng.kernel.identifiers import id_number_make

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["公民身份号码", "姓名", "电话"])
        for index in indexes:
            number = id_number_make(
                division_code="350102", birth_date=dt.date(1970, 1, 1) + dt.timedelta(days=index), sequence=1
            )
            writer.writerow([number, "" if index in bad else f"林{index}", f"138{index:08d}"])
    return path


def _count_persons(data_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(data_dir / "rongcheng.sqlite3") as db:
        (count,) = db.execute("SELECT count(*) FROM registries_person").fetchone()
    return int(count)


def test_import_persons_reports_rejected_rows_and_is_idempotent(tmp_path: Path, migrated: Migrated) -> None:
    env = {"RONGCHENG_DATA_DIR": str(migrated(tmp_path / "var"))}
    source = _persons_csv(tmp_path / "persons.csv", range(5), bad=(3,))

    strict = run_cli("import", "persons", str(source), "--strict", "--errors", str(tmp_path / "strict.csv"), env=env)
    assert strict.returncode == 1, strict.stderr
    assert "persons.csv: 5 rows read, 0 imported, 0 already registered with the same data, 1 rejected." in strict.stdout
    assert "Strict mode: a row was rejected, so nothing was imported." in strict.stdout
    assert _count_persons(tmp_path / "var") == 0

    first = run_cli("import", "persons", str(source), env=env)
    assert first.returncode == 1, first.stderr
    assert "5 rows read, 4 imported, 0 already registered with the same data, 1 rejected." in first.stdout
    errors = tmp_path / "persons.errors.csv"
    assert f"Error report: {errors}" in first.stdout
    assert errors.read_text(encoding="utf-8-sig").splitlines() == [
        "row,column,rule,message", "5,姓名,name.required,name is required"
    ]  # fmt: skip
    assert "Traceback" not in first.stderr

    again = run_cli("import", "persons", str(_persons_csv(tmp_path / "good.csv", [0, 1, 2, 4])), env=env)
    assert again.returncode == 0, again.stderr
    assert "4 rows read, 0 imported, 4 already registered with the same data, 0 rejected." in again.stdout
    assert _count_persons(tmp_path / "var") == 4


def test_import_refuses_a_missing_or_binary_file_in_one_sentence(tmp_path: Path) -> None:
    env = {"RONGCHENG_DATA_DIR": str(tmp_path / "var")}
    missing = run_cli("import", "persons", str(tmp_path / "none.csv"), env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"rongcheng: {tmp_path / 'none.csv'} does not exist."

    image = tmp_path / "photo.csv"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    refused = run_cli("import", "persons", str(image), env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "rongcheng: photo.csv is a PNG image, not a CSV or Excel (.xlsx) file. Nothing was imported."
    )
    assert "Traceback" not in refused.stderr


def test_two_overlapping_imports_at_once_on_sqlite(tmp_path: Path, migrated: Migrated) -> None:
    env = {"RONGCHENG_DATA_DIR": str(migrated(tmp_path / "var"))}
    files = [_persons_csv(tmp_path / "a.csv", range(0, 400)), _persons_csv(tmp_path / "b.csv", range(200, 600))]
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    clean.update(env)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "rongcheng.cli", "import", "persons", str(path)],
            env=clean,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in files
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert _count_persons(tmp_path / "var") == 600


def test_the_demo_lets_one_visitor_sign_in_for_every_story_and_an_operators_own_limit_wins(monkeypatch):
    from rongcheng.cli import demo_environment
    from rongcheng.config.environment import rate_limits

    defaults = {"identity.sign_in": {"address": "30/600"}}
    monkeypatch.delenv("RONGCHENG_RATE_LIMITS", raising=False)
    demo_environment()
    assert rate_limits(defaults, os.environ["RONGCHENG_RATE_LIMITS"])["identity.sign_in"] == {"address": "300/600"}
    monkeypatch.setenv("RONGCHENG_RATE_LIMITS", "identity.sign_in.address=10/600")
    demo_environment()
    assert rate_limits(defaults, os.environ["RONGCHENG_RATE_LIMITS"])["identity.sign_in"] == {"address": "10/600"}
