"""Counters stay true across granian worker processes: every scrape sees every worker's requests, whichever worker
answers it, and a worker killed and replaced keeps its counts (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.xdist_group("operations-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)  # a new connection each time: granian spreads them over the workers
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _livez_count(port: int) -> float:
    status, text = _get(port, "/metrics")
    assert status == 200
    for family in text_string_to_metric_families(text):
        if family.name == "rongcheng_http_requests":
            return sum(s.value for s in family.samples if s.name.endswith("_total") and s.labels["route"] == "/livez")
    return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def _wait_until(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_counters_survive_a_killed_worker(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(RONGCHENG_DATA_DIR=str(tmp_path / "data"), RONGCHENG_METRICS_NETWORKS="127.0.0.0/8",
               RONGCHENG_LOG_LEVEL="ERROR", RONGCHENG_ACCESS_LOG_LEVEL="WARNING")  # fmt: skip
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "rongcheng.cli", "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_until(lambda: _get(port, "/livez")[0] == 200 and len(_children(server.pid)) >= 2)
        metrics_dir = tmp_path / "data" / "metrics"

        def both_workers_answered() -> bool:  # each worker writes its own counter file on its first request
            _get(port, "/livez")
            return len(list(metrics_dir.glob("counter_*.db"))) >= 2

        _wait_until(both_workers_answered)
        for _ in range(30):
            assert _get(port, "/livez")[0] == 200
        counted = _livez_count(port)  # every /livez so far, the waiting ones included, each counted once
        assert counted >= 31
        scrapes = [_livez_count(port) for _ in range(6)]
        assert scrapes == [counted] * 6  # no lottery: every worker answers with the whole server's count

        before_kill = (tmp_path / "server.log").read_text(errors="replace")
        assert "Unexpected exit" not in before_kill, before_kill  # no worker died on its own before the kill
        workers = _children(server.pid)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        _wait_until(lambda: victim not in _children(server.pid) and len(_children(server.pid)) >= 2)
        # While the replacement starts, a new connection can be refused for a moment on a loaded machine (granian
        # respawns a worker by binding a new SO_REUSEPORT socket): scrapes are retried for a few seconds, /livez is not
        # asked (it would count), and a server that stays down fails with granian's own log.
        try:
            _wait_until(lambda: _livez_count(port) >= 0, seconds=15)
        except AssertionError as exc:
            raise AssertionError((tmp_path / "server.log").read_text(errors="replace")) from exc
        after_kill = _livez_count(port)
        assert after_kill == counted  # the dead worker's requests are still counted
        for _ in range(10):
            assert _get(port, "/livez")[0] == 200
        assert _livez_count(port) == counted + 10
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
