"""Running the job worker: `rongcheng worker` (a django-q2 cluster in its own processes), the one `rongcheng demo`
starts beside the server, and `--once` (what is due now, in this process)."""

from __future__ import annotations

from typing import Any

from django.db import connections

from rongcheng.operations.jobs import jobs_drain, jobs_schedule_install, schedules_due_enqueue


def worker_start() -> Any:
    """Start a cluster in child processes and return it (call `.stop()`); schedules are installed first."""
    from django_q.brokers import get_broker
    from django_q.cluster import Cluster

    jobs_schedule_install()
    connections.close_all()  # the cluster forks: its processes open their own connections
    cluster = Cluster(get_broker())
    cluster.start()
    return cluster


def worker_run() -> None:
    """Run a cluster until it is told to stop (SIGTERM, SIGINT)."""
    import time

    cluster = worker_start()
    try:
        while cluster.sentinel is not None and cluster.sentinel.is_alive():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


def worker_once() -> int:
    jobs_schedule_install()
    schedules_due_enqueue()
    return jobs_drain()
