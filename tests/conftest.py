"""Fixtures of the command-line tests (tests/test_cli*.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory migrated once per test process by `rongcheng manage migrate`, as an operator does (on SQLite a
    migration of every app takes ~20 s of CPU, once instead of once a test)."""
    from tests.cli_runner import run_cli

    template = tmp_path_factory.mktemp("migrated-data-dir")
    done = run_cli("manage", "migrate", "--verbosity", "0", env={"RONGCHENG_DATA_DIR": str(template)})
    assert done.returncode == 0, done.stdout + done.stderr
    return template


@pytest.fixture
def migrated(_migrated_template: Path) -> Callable[[Path], Path]:
    """Make a data directory a copy of the migrated one (its SQLite database and its keys); returns the directory."""

    def copy(target: Path) -> Path:
        shutil.copytree(_migrated_template, target, dirs_exist_ok=True)
        return target

    return copy
