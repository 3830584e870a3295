"""Clean-up jobs: each app registers the deletion of its own expired rows (grants, codes, sessions …) when it is
ready, and `rongcheng manage cleanup` runs them all. Every job is idempotent: running it twice, or from two hosts at
once, deletes nothing the first run would not have. (The background job system will run them later; until then a
timer runs the command, docs/operations.md.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CleanupJob:
    name: str
    description: str
    run: Callable[[], int]  # returns how many rows (or windows) it removed or closed


_jobs: dict[str, CleanupJob] = {}


def cleanup_job_register(name: str, description: str, run: Callable[[], int]) -> None:
    _jobs[name] = CleanupJob(name, description, run)


def cleanup_jobs() -> list[CleanupJob]:
    return [_jobs[name] for name in sorted(_jobs)]
