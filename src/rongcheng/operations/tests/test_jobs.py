"""Jobs through the real broker (the database; Redis when one answers): run once per key, retried with backoff,
periodic schedules, the heartbeat readiness reads."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from rongcheng.kernel.events import Event
from rongcheng.operations import jobs
from rongcheng.operations.models import JobRun, JobState, WorkerHeartbeat

pytestmark = pytest.mark.django_db

calls: list[int] = []


@dataclass(frozen=True, kw_only=True)
class SweptThing(Event):
    number: int


def _count(value: int = 1) -> int:
    calls.append(value)
    return value


def _fail() -> int:
    raise RuntimeError("simulated outage")


@pytest.fixture(autouse=True)
def _test_jobs():
    calls.clear()
    jobs.job_register("test.count", "counts its runs", _count)
    jobs.job_register("test.fail", "always fails", _fail)
    yield
    jobs._jobs.pop("test.count", None)
    jobs._jobs.pop("test.fail", None)


def test_an_enqueued_job_runs_through_the_database_broker_once_per_key():
    jobs.job_enqueue("test.count", key="count:a", value=3)
    jobs.job_enqueue("test.count", key="count:a", value=3)  # the same work handed over twice
    assert OrmQ.objects.count() == 2
    assert jobs.jobs_drain() == 2
    assert calls == [3]
    run = JobRun.objects.get(key="count:a")
    assert (run.job, run.state, run.attempts, run.result, run.error) == ("test.count", JobState.SUCCEEDED, 1, 3, "")
    assert OrmQ.objects.count() == 0  # acknowledged


def test_a_failing_job_is_retried_with_exponential_backoff_then_marked_failed(settings):
    settings.OPERATIONS_JOB_RETRIES = 3
    settings.OPERATIONS_JOB_BACKOFF_SECONDS = 30
    before = timezone.now()
    jobs.job_enqueue("test.fail", key="fail:a")
    jobs.jobs_drain()
    run = JobRun.objects.get(key="fail:a")
    assert (run.state, run.attempts, run.error) == (JobState.RETRYING, 1, "RuntimeError")
    assert run.next_attempt_at is not None
    assert before + dt.timedelta(seconds=30) <= run.next_attempt_at <= timezone.now() + dt.timedelta(seconds=30)
    retry = Schedule.objects.get(name="retry fail:a")
    assert retry.schedule_type == Schedule.ONCE
    for attempt, delay in ((2, 60), (3, None)):
        Schedule.objects.filter(pk=retry.pk).update(next_run=timezone.now() - dt.timedelta(seconds=1))
        jobs.schedules_due_enqueue()
        jobs.jobs_drain()
        run.refresh_from_db()
        assert run.attempts == attempt
        if delay is not None:
            assert run.state == JobState.RETRYING
            assert run.next_attempt_at is not None
            assert run.next_attempt_at >= timezone.now() + dt.timedelta(seconds=delay - 5)
            retry = Schedule.objects.filter(name="retry fail:a").order_by("-pk").first()
    assert run.state == JobState.FAILED
    assert run.next_attempt_at is None


def test_periodic_schedules_are_installed_once_and_the_heartbeat_makes_readiness_pass():
    assert jobs.jobs_schedule_install() == len([j for j in jobs.jobs() if j.every_minutes])
    assert jobs.jobs_schedule_install() == 0
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"rongcheng heartbeat", "rongcheng cleanup", "rongcheng hall.escalate", "rongcheng security.scan",
            "rongcheng metrics.rollup", "rongcheng audit.verify", "rongcheng backups.prune",
            "rongcheng licences.expire", "rongcheng catalogue.escalate"} <= names  # fmt: skip
    assert json.loads(Client().get("/readyz").content)["status"] == "warn"  # no worker yet
    jobs.schedules_due_enqueue()
    jobs.jobs_drain()
    assert WorkerHeartbeat.objects.count() == 1
    assert JobRun.objects.get(job="cleanup").state == JobState.SUCCEEDED
    assert JobRun.objects.get(job="hall.escalate").state == JobState.SUCCEEDED
    assert JobRun.objects.get(job="licences.expire").state == JobState.SUCCEEDED
    assert JobRun.objects.get(job="catalogue.escalate").state == JobState.SUCCEEDED
    document = json.loads(Client().get("/readyz?verbose").content)
    assert document["checks"]["worker:heartbeat"][0]["status"] == "pass"


def test_a_periodic_job_runs_once_per_slot():
    jobs.job_register("test.periodic", "counts", _count, every_minutes=60)
    try:
        assert jobs.job_execute("test.periodic") == 1
        assert jobs.job_execute("test.periodic") is None  # the same hour: done already
        assert calls == [1]
    finally:
        jobs._jobs.pop("test.periodic", None)


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=1).ping())
    except Exception:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis on 127.0.0.1:6379")
def test_a_job_through_the_redis_broker(monkeypatch):
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf
    from django_q.tasks import async_task

    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:6379/15")
    broker = Redis(list_key="rongcheng-test-jobs")
    broker.purge_queue()
    async_task(jobs.EXECUTE, "test.count", "redis:a", broker=broker, value=7)
    assert broker.queue_size() == 1
    assert jobs.jobs_drain(broker=broker) == 1
    assert calls == [7]
    assert JobRun.objects.get(key="redis:a").state == JobState.SUCCEEDED
    assert broker.queue_size() == 0


@pytest.mark.django_db(transaction=True)
def test_an_owed_domain_event_is_swept_into_a_delivery_job_and_delivered_once():
    """A durable subscriber whose handler failed after the commit (or whose process died before delivering) is
    handed the event again by the `events.sweep` job, through the broker, once per owed row."""
    from rongcheng.kernel.events import publish, subscribe, unsubscribe
    from rongcheng.kernel.models import EventOutbox

    failing = {"now": True}
    received: list[int] = []

    def handler(event: Any) -> None:
        if failing["now"]:
            raise ConnectionError("down")
        received.append(event.number)

    subscribe(SweptThing, handler, name="test.swept", durable=True)
    try:
        publish(SweptThing(number=5))
        row = EventOutbox.objects.get(subscriber="test.swept")
        assert (row.attempts, row.delivered_at) == (1, None)
        assert jobs.job_execute("events.sweep") == 0  # owed for less than a minute: its own delivery may still come
        EventOutbox.objects.filter(pk=row.pk).update(created_at=timezone.now() - dt.timedelta(minutes=2))
        failing["now"] = False
        assert jobs._events_sweep() == 1
        assert jobs._events_sweep() == 1  # not run yet: handed over again, harmless (one run per job key)
        assert jobs.jobs_drain() == 2
        assert received == [5]
        row.refresh_from_db()
        assert row.attempts == 2
        assert row.delivered_at is not None
        assert JobRun.objects.get(key=f"events.deliver:{row.pk}").state == JobState.SUCCEEDED
        assert jobs._events_sweep() == 0
    finally:
        unsubscribe("test.swept")


def test_every_platform_job_has_a_name_in_the_dashboards_language():
    from django.utils import translation

    from rongcheng.operations.models import JOB_LABELS

    platform = [job.name for job in jobs.jobs() if not job.name.startswith("test.")]
    assert set(platform) <= set(JOB_LABELS)  # the dashboard shows a run by its label, never by the job's key
    run = JobRun(key="k", job="catalogue.masked_forms", started_at=timezone.now())
    with translation.override("zh-hans"):
        assert run.job_label == "重算数据资源脱敏形式"
    with translation.override("en"):
        assert run.job_label == "Recomputation of a resource's masked forms"
