"""The platform's Prometheus metrics, true across worker processes.

Counters and histograms live in prometheus-client's multiprocess mode when `PROMETHEUS_MULTIPROC_DIR` is set (the
command line sets it to `DATA_DIR/metrics` before granian forks its workers, and for `rongcheng worker`): each
process writes its values to its own memory-mapped file, and a scrape sums every file, those of workers that died or
were recycled included, so a counter never goes backwards and every scrape sees the whole server, whichever worker
answers it. Without the variable (tests, `manage` commands) the process's own registry is used.

Gauges that describe the platform rather than a process (sealer lag, business clocks, backup age) are not counted in
the workers at all: `PlatformCollector` computes them from the database at scrape time, once per scrape.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "rongcheng_http_requests",
    "HTTP requests answered, by route template (never the raw path), method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "rongcheng_http_request_duration_seconds",
    "Time from the request reaching the platform to its answer, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
DB_QUERIES = Counter("rongcheng_db_queries", "Database queries run, by database alias.", ["database"])
DB_ERRORS = Counter("rongcheng_db_errors", "Database queries that raised, by database alias.", ["database"])
AUDIT_RECORDS = Counter("rongcheng_audit_records", "Audit records written, by outcome.", ["outcome"])
OIDC_GRANTS = Counter(
    "rongcheng_oidc_grants", "Tokens issued by the OpenID Connect provider, by grant type.", ["grant"]
)
OIDC_FAILURES = Counter("rongcheng_oidc_failures", "Refused token and authorization requests, by reason.", ["reason"])
SIGN_IN_FAILURES = Counter("rongcheng_sign_in_failures", "Failed sign-ins, by method.", ["method"])
LOCKOUTS = Counter("rongcheng_account_lockouts", "Accounts locked after repeated failed sign-ins.")
LICENCE_VERIFICATIONS = Counter(
    "rongcheng_licence_verifications", "Verifications of electronic licences, by result.", ["result"]
)
JOB_RUNS = Counter("rongcheng_job_runs", "Runs of background jobs, by job and outcome.", ["job", "outcome"])
SECURITY_EVENTS = Counter(
    "rongcheng_security_events", "Security events raised, by rule and severity.", ["rule", "severity"]
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# --- gauges computed at scrape time ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """A business clock another app registers: a gauge whose value is read from that app's selectors per scrape."""

    name: str
    documentation: str
    read: Callable[[], Iterable[tuple[dict[str, str], float]]]  # (labels, value) pairs


_clocks: dict[str, Clock] = {}


def clock_register(name: str, documentation: str, read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
    """Register (or replace) a gauge computed at each scrape, e.g. the hall's applications near their deadline."""
    _clocks[name] = Clock(name, documentation, read)


def clocks() -> list[Clock]:
    return [_clocks[name] for name in sorted(_clocks)]


class PlatformCollector(Collector):
    """The registered clocks, each computed once per scrape. A clock that fails is left out of that scrape (and
    counted in rongcheng_scrape_errors) rather than failing the whole scrape."""

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "rongcheng_scrape_errors", "Clocks that could not be read in this scrape.", labels=["clock"]
        )
        started = time.monotonic()
        for clock in clocks():
            try:
                values = list(clock.read())
            except Exception:
                errors.add_metric([clock.name], 1)
                continue
            labels = sorted({key for pairs, _value in values for key in pairs})
            family = GaugeMetricFamily(clock.name, clock.documentation, labels=labels)
            for pairs, value in values:
                family.add_metric([pairs.get(key, "") for key in labels], value)
            yield family
        yield errors
        yield GaugeMetricFamily(
            "rongcheng_scrape_duration_seconds",
            "Time to compute the clocks of this scrape.",
            time.monotonic() - started,
        )


def registry_for_scrape() -> CollectorRegistry:
    """Every process's counters (multiprocess mode) or this process's, plus the clocks computed now."""
    directory = multiprocess_dir()
    registry = CollectorRegistry(auto_describe=False)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessMetrics())
    registry.register(PlatformCollector())
    return registry


class _ProcessMetrics(Collector):
    """This process's own counters (no multiprocess directory): the default registry, without its process and
    platform collectors, which describe one worker only."""

    def collect(self) -> Iterator[Metric]:
        for collector in list(REGISTRY._collector_to_names):
            if type(collector).__name__ in ("ProcessCollector", "PlatformCollector", "GCCollector"):
                continue
            yield from collector.collect()


def counters_registry() -> CollectorRegistry:
    """Every process's counters and histograms, without the clocks (what the rollup samples)."""
    directory = multiprocess_dir()
    registry = CollectorRegistry(auto_describe=False)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessMetrics())
    return registry


@dataclass(frozen=True)
class Totals:
    requests: int
    errors: int
    latency_sum: float
    slow: int


def http_totals(registry: CollectorRegistry | None = None) -> Totals:
    requests = errors = slow = 0
    latency_sum = 0.0
    count = within_second = 0.0
    for family in (registry or counters_registry()).collect():
        for sample in family.samples:
            if sample.name == "rongcheng_http_requests_total":
                requests += int(sample.value)
                if sample.labels.get("status", "0") >= "500":
                    errors += int(sample.value)
            elif sample.name == "rongcheng_http_request_duration_seconds_sum":
                latency_sum += sample.value
            elif sample.name == "rongcheng_http_request_duration_seconds_count":
                count += sample.value
            elif sample.name == "rongcheng_http_request_duration_seconds_bucket" and sample.labels.get("le") == "1.0":
                within_second += sample.value
    slow = int(count - within_second)
    return Totals(requests, errors, latency_sum, slow)
