"""`rongcheng serve` answers static files with the same security headers as its pages (over a real server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path):
    port = _free_port()
    env = {**os.environ, "RONGCHENG_DATA_DIR": str(tmp_path), "RONGCHENG_ALLOWED_HOSTS": "127.0.0.1"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "rongcheng.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_static_file_carries_the_security_headers(server):
    page = urllib.request.urlopen(f"{server}/licences/verify/", timeout=10)  # noqa: S310 - a page without the database
    static = urllib.request.urlopen(f"{server}/static/hall/hall.css", timeout=10)  # noqa: S310
    assert static.status == 200
    assert static.headers["Content-Type"].startswith("text/css")
    for name, value in HEADERS.items():
        assert static.headers[name] == value, name
    assert static.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]
    assert "default-src" in static.headers["Content-Security-Policy"]
