"""Running the `rongcheng` command line as an operator does, for the command-line tests and their fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Migrated = Callable[[Path], Path]  # tests/conftest.py: a data directory made a copy of a migrated one


def run_cli(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """`python -m rongcheng.cli` with the suite's database and settings left out of its environment, `env` added."""
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
