"""Background jobs on django-q2 (ADR 0013): the platform's timers and one-off work, run by `rongcheng worker` (its
own process in production) or by the worker `rongcheng demo` starts beside the server.

Every job goes through `job_execute(name, key, **kwargs)`, which the library calls:
- idempotent: a run is keyed (a periodic job by its time slot, a one-off by what it is about); a key that already
  succeeded is not run again, so a re-delivered task (a worker that died before acknowledging) does nothing twice;
- retried with exponential backoff: a run that raises is scheduled again after OPERATIONS_JOB_BACKOFF_SECONDS × 2^n,
  up to OPERATIONS_JOB_RETRIES attempts, then marked failed (the dashboard lists it);
- observed: each run is a `JobRun` row and counts in rongcheng_job_runs; the heartbeat job proves the whole path.

Periodic jobs are django-q2 schedules installed (and corrected) by `jobs_schedule_install()` when a worker starts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rongcheng.kernel.context import running, system
from rongcheng.kernel.events import outbox_deliver, outbox_owed
from rongcheng.kernel.jobs import cleanup_jobs
from rongcheng.operations import metrics
from rongcheng.operations.models import JobRun, JobState

logger = logging.getLogger(__name__)

EXECUTE = "rongcheng.operations.jobs.job_execute"


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    run: Callable[..., int | None]
    every_minutes: int | None = None  # periodic when set


_jobs: dict[str, Job] = {}


def job_register(
    name: str, description: str, run: Callable[..., int | None], *, every_minutes: int | None = None
) -> None:
    _jobs[name] = Job(name, description, run, every_minutes)


def jobs() -> list[Job]:
    return [_jobs[name] for name in sorted(_jobs)]


def job_enqueue(name: str, *, key: str, **kwargs: Any) -> str:
    """Hand a one-off job to the broker; the key makes a second enqueue of the same work harmless."""
    from django_q.tasks import async_task

    if name not in _jobs:
        raise KeyError(name)
    return str(async_task(EXECUTE, name, key, task_name=key[:100], **kwargs))


def _slot_key(job: Job, now: dt.datetime) -> str:
    minutes = job.every_minutes or 1
    slot = int(now.timestamp()) // (60 * minutes)
    return f"{job.name}@{slot}"


def _claim(name: str, key: str, now: dt.datetime) -> JobRun | None:
    """The run to do now, or None when this key succeeded already or another worker holds it."""
    try:
        with transaction.atomic():
            return JobRun.objects.create(key=key, job=name, started_at=now, attempts=1)
    except IntegrityError:
        pass
    with transaction.atomic():
        run = JobRun.objects.select_for_update().get(key=key)
        if run.state in (JobState.SUCCEEDED, JobState.FAILED):
            return None
        timeout = int(settings.Q_CLUSTER.get("timeout", 600))
        if run.state == JobState.RUNNING and (now - run.started_at).total_seconds() < timeout:
            return None  # being run elsewhere right now
        run.attempts += 1
        run.state = JobState.RUNNING
        run.started_at = now
        run.save(update_fields=["attempts", "state", "started_at"])
        return run


def job_execute(name: str, key: str | None = None, **kwargs: Any) -> int | None:
    """What the worker runs for every job. Returns the job's count, or None when there was nothing to do."""
    job = _jobs.get(name)
    if job is None:
        logger.error("unknown job %s", name)
        return None
    now = timezone.now()
    key = key or _slot_key(job, now)
    run = _claim(name, key, now)
    if run is None:
        return None
    try:
        with running(system(f"job {name}")):
            result = job.run(**kwargs)
    except Exception as exc:
        _failed(run, job, exc, kwargs)
        return None
    JobRun.objects.filter(pk=run.pk).update(
        state=JobState.SUCCEEDED, finished_at=timezone.now(), result=result if isinstance(result, int) else None,
        next_attempt_at=None, error="",
    )  # fmt: skip
    metrics.JOB_RUNS.labels(name, "succeeded").inc()
    return result if isinstance(result, int) else None


def backoff_seconds(attempt: int) -> int:
    return int(settings.OPERATIONS_JOB_BACKOFF_SECONDS) * int(2 ** max(0, attempt - 1))


def _failed(run: JobRun, job: Job, exc: Exception, kwargs: dict[str, Any]) -> None:
    # The class only: an exception's text may quote a value (a row, a person) the job was handling.
    logger.error("job %s failed on attempt %d: %s", job.name, run.attempts, type(exc).__name__)
    now = timezone.now()
    if run.attempts >= int(settings.OPERATIONS_JOB_RETRIES):
        JobRun.objects.filter(pk=run.pk).update(state=JobState.FAILED, finished_at=now, error=type(exc).__name__[:200],
                                                next_attempt_at=None)  # fmt: skip
        metrics.JOB_RUNS.labels(job.name, "failed").inc()
        return
    retry_at = now + dt.timedelta(seconds=backoff_seconds(run.attempts))
    JobRun.objects.filter(pk=run.pk).update(state=JobState.RETRYING, error=type(exc).__name__[:200],
                                            next_attempt_at=retry_at)  # fmt: skip
    metrics.JOB_RUNS.labels(job.name, "retrying").inc()
    from django_q.models import Schedule

    Schedule.objects.create(
        name=f"retry {run.key}"[:100], func=EXECUTE, args=repr((job.name, run.key)),
        kwargs=repr(kwargs) if kwargs else None, schedule_type=Schedule.ONCE, repeats=-1, next_run=retry_at,
    )  # fmt: skip


def jobs_schedule_install() -> int:
    """Create or correct the django-q2 schedule of every periodic job (by name); returns how many changed."""
    from django_q.models import Schedule

    changed = 0
    for job in jobs():
        if job.every_minutes is None:
            continue
        wanted = {"func": EXECUTE, "args": repr(job.name), "schedule_type": Schedule.MINUTES,
                  "minutes": job.every_minutes, "repeats": -1}  # fmt: skip
        schedule = Schedule.objects.filter(name=f"rongcheng {job.name}").first()
        if schedule is None:
            Schedule.objects.create(name=f"rongcheng {job.name}", next_run=timezone.now(), **wanted)
            changed += 1
        elif any(getattr(schedule, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(schedule, field, value)
            schedule.save()
            changed += 1
    return changed


def jobs_drain(*, broker: Any = None, limit: int = 100) -> int:
    """Take the tasks waiting in the broker and run them here, through the library's own worker and monitor (the
    task is decoded, run, saved and acknowledged as in the cluster), without starting processes. For tests and for
    `rongcheng worker --once`."""
    from multiprocessing import Queue, Value

    from django_q.brokers import get_broker
    from django_q.monitor import monitor
    from django_q.signing import SignedPackage
    from django_q.worker import worker

    broker = broker or get_broker()
    done = 0
    while done < limit:
        packages = broker.dequeue()
        if not packages:
            break
        for ack_id, payload in packages:
            task = SignedPackage.loads(payload)
            task["ack_id"] = ack_id
            if connection.in_atomic_block:  # inside a test's transaction: the worker must not close the connection
                task["sync"] = True
            tasks_queue: Queue[Any] = Queue()
            results: Queue[Any] = Queue()
            tasks_queue.put(task)
            tasks_queue.put("STOP")
            worker(tasks_queue, results, Value("f", -1))
            results.put("STOP")
            monitor(results, broker)
            done += 1
    return done


def schedules_due_enqueue(*, broker: Any = None) -> None:
    """Run the library's scheduler once: every due schedule becomes a task in the broker."""
    from django_q import scheduler as library
    from django_q.brokers import get_broker

    if not connection.in_atomic_block:
        library.scheduler(broker=broker or get_broker())
        return
    # Inside a caller's transaction (a test) the library must not close the connection it is running in.
    closing = library.close_old_django_connections
    library.close_old_django_connections = lambda: None
    try:
        library.scheduler(broker=broker or get_broker())
    finally:
        library.close_old_django_connections = closing


# --- the platform's jobs ----------------------------------------------------------------------------------------------


def _heartbeat() -> int:
    from rongcheng.operations.services import worker_heartbeat

    worker_heartbeat()
    return 1


def _cleanup(only: str | None = None) -> int:
    """The clean-up jobs the apps registered with the kernel (expired grants, codes, sessions, cache rows)."""
    total = 0
    for cleanup in cleanup_jobs():
        if only is None or cleanup.name == only:
            total += cleanup.run()
    return total


def _hall_escalate() -> int:
    from rongcheng.hall.services import applications_escalate

    counts = applications_escalate()
    return sum(counts.values())


def _licences_expire() -> int:
    from rongcheng.licences.services import licences_expire_due

    return licences_expire_due()


def _sharing_escalate() -> int:
    from rongcheng.catalogue.services import sharing_overdue_escalate

    return sharing_overdue_escalate()


def _credit_rescreen(subject_id: int) -> int:
    from rongcheng.credit.services import applications_rescreen

    return applications_rescreen(subject_id=subject_id)


def _credit_rescreen_due() -> int:
    from rongcheng.credit.services import applications_rescreen_due

    return applications_rescreen_due()


def credit_list_changed(event: Any) -> None:
    """A list entry was added or removed (credit.events.ListEntryChanged, after commit): re-screen the open
    applications of its subject in the worker, once per event."""
    job_enqueue("credit.rescreen", key=f"credit.rescreen:{event.event_id}", subject_id=event.subject_id)


def _masked_forms_renew(resource_code: str) -> int:
    from rongcheng.catalogue.services import masked_forms_renew

    return masked_forms_renew(resource_code=resource_code)


def catalogue_personal_items_changed(event: Any) -> None:
    """An editor changed which items of a resource are personal (catalogue.events.PersonalItemsChanged, after
    commit): the rows' masked forms are worked out again in the worker, once per version of the resource."""
    job_enqueue("catalogue.masked_forms", key=f"catalogue.masked_forms:{event.resource_code}@{event.version}",
                resource_code=event.resource_code)  # fmt: skip


def _events_sweep() -> int:
    """Hand the outbox rows still owed a minute after their commit (a failed handler, or a process that died between
    the commit and the delivery) to `events.deliver` jobs; the job's key is the row, so a row is worked once at a
    time and a delivered one never again."""
    keys = {f"events.deliver:{row_id}": row_id for row_id in outbox_owed(older_than=dt.timedelta(minutes=1))}
    # a row whose job exists is that job's: retrying on its backoff, or failed for good (the dashboard lists it)
    handed = set(JobRun.objects.filter(key__in=list(keys)).values_list("key", flat=True))
    for key, row_id in keys.items():
        if key not in handed:
            job_enqueue("events.deliver", key=key, outbox_id=row_id)
    return len(keys) - len(handed)


def _events_deliver(outbox_id: int) -> int:
    """Deliver one owed event; a failing handler raises, so the job is retried with backoff."""
    return int(outbox_deliver(outbox_id))


def _security_scan() -> int:
    from rongcheng.operations.security import audit_trail_scan

    return audit_trail_scan()


def _audit_verify() -> int:
    from rongcheng.operations.security import audit_chain_check

    return audit_chain_check()


def _security_notify(event_id: int) -> int:
    from rongcheng.operations.notifications import security_event_notify

    return security_event_notify(event_id)


def _backups_prune() -> int:
    from rongcheng.operations.backup import backups_prune

    return backups_prune()


def _metrics_rollup() -> int:
    from rongcheng.operations.models import MetricSample

    totals = metrics.http_totals()
    now = timezone.now().replace(second=0, microsecond=0)
    MetricSample.objects.update_or_create(taken_at=now, defaults={"requests": totals.requests, "errors": totals.errors,
                                          "latency_sum": totals.latency_sum, "slow": totals.slow})  # fmt: skip
    MetricSample.objects.filter(taken_at__lt=now - dt.timedelta(days=7)).delete()
    return 1


def jobs_register_platform() -> None:
    job_register("metrics.rollup", "Sample the request counters for the dashboard's charts.", _metrics_rollup,
                 every_minutes=1)  # fmt: skip
    job_register("heartbeat", "Prove the job worker runs (readiness reads it).", _heartbeat, every_minutes=1)
    job_register("cleanup", "Delete expired grants, codes, sessions and cache rows; summarise rate limits.", _cleanup,
                 every_minutes=15)  # fmt: skip
    job_register("hall.escalate", "Flag and escalate applications near or past their deadline.", _hall_escalate,
                 every_minutes=60)  # fmt: skip
    job_register("licences.expire", "Mark the licences past their validity as expired.", _licences_expire,
                 every_minutes=60)  # fmt: skip
    job_register("catalogue.escalate", "Escalate sharing requests past their answer deadline.", _sharing_escalate,
                 every_minutes=60)  # fmt: skip
    job_register("events.sweep", "Hand domain events still owed to a durable subscriber to delivery jobs.",
                 _events_sweep, every_minutes=1)  # fmt: skip
    job_register("events.deliver", "Deliver one owed domain event to its durable subscriber.", _events_deliver)
    job_register("security.scan", "Read new audit records for the security rules.", _security_scan, every_minutes=1)
    job_register("audit.verify", "Verify the audit chain; a failure is a security event.", _audit_verify,
                 every_minutes=24 * 60)  # fmt: skip
    job_register("backups.prune", "Delete backups older than the retention period.", _backups_prune,
                 every_minutes=24 * 60)  # fmt: skip
    job_register("security.notify", "Announce a new security event by mail and webhook.", _security_notify)
    job_register("credit.rescreen", "Check a subject's open applications again after its list entries changed.",
                 _credit_rescreen)  # fmt: skip
    job_register("catalogue.masked_forms", "Work out the masked form of every row of a resource again after its "
                 "personal items changed.", _masked_forms_renew)  # fmt: skip
    job_register("credit.rescreen_due", "Check open applications again for list entries starting or ending today.",
                 _credit_rescreen_due, every_minutes=24 * 60)  # fmt: skip
