"""Preparing prometheus-client's multiprocess mode before anything imports it (no prometheus import here)."""

from __future__ import annotations

import os
from pathlib import Path


def multiprocess_dir_prepare(path: os.PathLike[str] | str, *, wipe: bool) -> str:
    """Point PROMETHEUS_MULTIPROC_DIR at `path` for this process and every worker it starts. prometheus-client
    chooses its value store when first imported, so this runs before Django is set up (the command line calls it).
    `wipe` (the web server at start) removes the files of processes no longer running (the previous run's: a new
    server is a counter reset Prometheus understands), keeping those of a job worker that runs on. An operator's own
    value of the variable is kept."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.fspath(path)
    Path(directory).mkdir(parents=True, exist_ok=True)
    if wipe:
        for name in os.listdir(directory):
            pid = name.rsplit("_", 1)[-1].removesuffix(".db")
            if name.endswith(".db") and not (pid.isdigit() and _alive(int(pid))):
                os.unlink(os.path.join(directory, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
