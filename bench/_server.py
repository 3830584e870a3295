"""Running the production server for a benchmark: a throwaway or kept PostgreSQL database, the `rongcheng` CLI, a
free port, waiting for the server to answer and stopping its process group."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _psql(sql: str, *, database: str = "postgres") -> str:
    done = subprocess.run(
        ["psql", "-q", "-tA", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _database_exists(name: str) -> bool:
    return _psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"  # noqa: S608 - a constant name


def _drop_database(name: str) -> None:
    _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


TEMPLATE_DATABASE = "BENCH_TEMPLATE_DATABASE"  # a migrated PostgreSQL database to copy (the smoke runner makes one)
TEMPLATE_DIR = "BENCH_TEMPLATE_DIR"  # the data directory it was migrated with: its keys, and the SQLite file


def create_database(name: str) -> None:
    """CREATE DATABASE `name`: a copy of the smoke runner's migrated template when there is one, else empty."""
    template = os.environ.get(TEMPLATE_DATABASE)
    _psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def fill_data_dir(path: Path) -> None:
    """Copy the template's keys (and SQLite file) into a new data directory, so the template database reads right."""
    template = os.environ.get(TEMPLATE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    if template:
        shutil.copytree(template, path, dirs_exist_ok=True)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rongcheng.cli", *args]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit {server.returncode}); see {log}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not answer within 120 s; see {log}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@dataclass
class Load:
    """What a load run measured: each request's latency (send to last byte), the run's length, wrong answers."""

    latencies: list[float]
    seconds: float
    failures: int

    def percentile(self, p: int) -> float:
        """Latency percentile in milliseconds."""
        if len(self.latencies) < 2:
            return (self.latencies or [0.0])[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def _load_process(port: int, threads: int, seconds: float, path: str, expect: bytes, queue: Any) -> None:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures = [0] * threads
    barrier = threading.Barrier(threads)

    def run(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out = latencies[number]
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while (began := time.perf_counter()) < deadline:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            out.append(time.perf_counter() - began)
            if response.status != 200 or expect not in body:
                failures[number] += 1
        connection.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(([t for each in latencies for t in each], sum(failures)))


def in_processes(target: Any, args: tuple[Any, ...], processes: int) -> tuple[list[Any], float]:
    """Run `target(*args, queue)` in `processes` forked client processes; each puts one result on the queue. The
    results and the wall time from the first start to the last join."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    procs = [context.Process(target=target, args=(*args, queue)) for _ in range(processes)]
    began = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results, time.perf_counter() - began


def http_load(port: int, path: str, *, expect: bytes, processes: int, threads: int, seconds: float) -> Load:
    """GET `path` over processes x threads keep-alive connections for `seconds`; each answer must be 200 and
    contain `expect`. Client processes, so that the client's own GIL does not cap the figure."""
    results, elapsed = in_processes(_load_process, (port, threads, seconds, path, expect), processes)
    return Load([t for r in results for t in r[0]], max(elapsed, seconds), sum(r[1] for r in results))
