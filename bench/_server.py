"""Running the production server for a benchmark: a throwaway or kept PostgreSQL database, the `rongcheng` CLI, a
free port, waiting for the server to answer and stopping its process group."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


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
