"""`rongcheng check` reports a breach of the separation of administrator duties in its own exit bit (64)."""

from __future__ import annotations

from pathlib import Path

from tests.cli_runner import Migrated, run_cli


def test_check_reports_an_active_superuser(tmp_path: Path, migrated: Migrated) -> None:
    env = {"RONGCHENG_DATA_DIR": str(migrated(tmp_path)), "DJANGO_SUPERUSER_PASSWORD": "x-Emergency-2017!"}
    healthy = run_cli("check", env=env)
    assert healthy.returncode == 0, healthy.stdout
    assert "ok   separation of administrator duties" in healthy.stdout
    created = run_cli("manage", "createsuperuser", "--noinput", "--username", "root", "--email", "r@example.org",
                      env=env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    emergency = run_cli("check", env=env)
    assert emergency.returncode == 64, emergency.stdout
    assert "FAIL duties.superuser root: active superuser: holds every duty; disable it outside an emergency" in (
        emergency.stdout
    )
