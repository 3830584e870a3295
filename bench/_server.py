"""Running the production server for a benchmark: a throwaway or kept PostgreSQL database, the `rongcheng` CLI, a
free port, waiting for the server to answer and stopping its process group."""

from __future__ import annotations

import atexit
import http.client
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
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
    """What a load run measured: each request's latency (send to last byte), the run's length, wrong answers. A run
    by wrk brings its count and percentiles (milliseconds) instead of every latency."""

    latencies: list[float]
    seconds: float
    failures: int
    count: int | None = None
    percentiles: dict[int, float] | None = None

    def percentile(self, p: int) -> float:
        """Latency percentile in milliseconds."""
        if self.percentiles is not None:
            return self.percentiles[p]
        if len(self.latencies) < 2:
            return (self.latencies or [0.0])[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    @property
    def rate(self) -> float:
        return (len(self.latencies) if self.count is None else self.count) / self.seconds


# wrk (Debian's package; .ci/run installs it) is the load generator when it is on the PATH: a C event loop spends a
# fraction of the CPU that Python client processes take from the server on this 2-core machine. BENCH_LOAD=python
# forces the Python clients. Its Lua script checks every answer as the Python clients do: status 200 and the text.
WRK = None if os.environ.get("BENCH_LOAD") == "python" else shutil.which("wrk")
_WRK_SCRIPT = r"""
local expect, method, body, headers = os.getenv("BENCH_EXPECT"), os.getenv("BENCH_METHOD"), os.getenv("BENCH_BODY"),
  os.getenv("BENCH_HEADERS")
wrk.method = method
if body ~= "" then wrk.body = body end
for line in string.gmatch(headers, "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
local threads = {}
failures = 0
-- BENCH_BODIES: a file of request bodies, one a line; each request takes the next (each thread from its own offset),
-- so that every call asks for something else (the person lookups: an ID number each, never in the URL).
local bodies_file = os.getenv("BENCH_BODIES") or ""
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end
if bodies_file ~= "" then
  local bodies, next_body = {}, 0
  for line in io.lines(bodies_file) do bodies[#bodies + 1] = line end
  function init(_) next_body = offset or 0 end
  function request()
    next_body = next_body + 1
    return wrk.format(nil, nil, nil, bodies[(next_body % #bodies) + 1])
  end
end
function response(status, _, answer)
  if status ~= 200 or (expect ~= "" and not string.find(answer, expect, 1, true)) then failures = failures + 1 end
end
function done(summary, latency, _)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  io.write(string.format("BENCH %d %d %d %d %d %d %d\n", summary.requests, summary.duration, failed,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)))
end
"""


def _wrk_script() -> Path:
    """The Lua script in a file of this process's own: benchmarks run side by side (the smoke tests under xdist), and
    a shared path rewritten by one while wrk reads it in another made wrk fail on a truncated script."""
    global _WRK_SCRIPT_PATH
    if _WRK_SCRIPT_PATH is None or not _WRK_SCRIPT_PATH.exists():
        handle, name = tempfile.mkstemp(prefix="rc-bench-wrk-", suffix=".lua")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(_WRK_SCRIPT)
        _WRK_SCRIPT_PATH = Path(name)
        atexit.register(_WRK_SCRIPT_PATH.unlink, missing_ok=True)
    return _WRK_SCRIPT_PATH


_WRK_SCRIPT_PATH: Path | None = None


def wrk_load(
    port: int, path: str, *, expect: bytes, connections: int, seconds: float, method: str = "GET", body: str = "",
    headers: dict[str, str] | None = None, bodies: Sequence[str] = (),
) -> Load:  # fmt: skip
    """`connections` keep-alive connections on wrk's two threads for `seconds`; with `bodies`, each request sends the
    next of them (one JSON document each, no line breaks) instead of `body`."""
    script = _wrk_script()
    env = {**os.environ, "BENCH_EXPECT": expect.decode(), "BENCH_METHOD": method, "BENCH_BODY": body,
           "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items()), "BENCH_BODIES": ""}  # fmt: skip
    if bodies:
        handle, name = tempfile.mkstemp(prefix="rc-bench-bodies-", suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines(f"{b}\n" for b in bodies)
        env["BENCH_BODIES"] = name
        atexit.register(Path(name).unlink, missing_ok=True)
    done = subprocess.run(
        [str(WRK), "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{max(seconds, 1.0):.0f}s",
         "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}{path}"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(
            f"wrk failed on {path} (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    requests, micros, failures, p50, p90, p95, p99 = (int(x) for x in line.split()[1:])
    errors = done.stdout.count("Socket errors") + done.stdout.count("Non-2xx")
    quantiles = {50: p50 / 1000, 90: p90 / 1000, 95: p95 / 1000, 99: p99 / 1000}
    return Load([], micros / 1e6, failures + errors, count=requests, percentiles=quantiles)


def _load_process(
    port: int, threads: int, seconds: float, path: str, expect: bytes, headers: dict[str, str], queue: Any
) -> None:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures = [0] * threads
    barrier = threading.Barrier(threads)

    def run(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out = latencies[number]
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while (began := time.perf_counter()) < deadline:
            connection.request("GET", path, headers=headers)
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


def load_generator() -> str:
    return "wrk" if WRK else "Python client processes"


def http_load(
    port: int,
    path: str,
    *,
    expect: bytes,
    processes: int,
    threads: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> Load:
    """GET `path` over processes x threads keep-alive connections for `seconds`; each answer must be 200 and
    contain `expect`. wrk when it is installed (runs of at least a second), else client processes, so that the
    client's own GIL does not cap the figure."""
    if WRK:
        return wrk_load(port, path, expect=expect, connections=processes * threads, seconds=seconds, headers=headers)
    results, elapsed = in_processes(_load_process, (port, threads, seconds, path, expect, headers or {}), processes)
    return Load([t for r in results for t in r[0]], max(elapsed, seconds), sum(r[1] for r in results))


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc; none elsewhere)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def server_workers(pid: int) -> list[int]:
    """The worker processes of the server started as `pid` (the CLI, granian's main process under it, its workers):
    every process below `pid` that holds a listening socket of its own is a worker."""
    tree, frontier = [], [pid]
    while frontier:
        frontier = [child for parent in frontier for child in _children(parent)]
        tree.extend(frontier)
    return [p for p in tree if _sockets(p)] or tree


def _sockets(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far (Linux /proc; 0 elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def connections_per_worker(workers: list[int], server_port: int, client_ports: list[int] | None) -> list[int]:
    """How many of the client's connections (its local ports; None: every connection to `server_port`, as when wrk
    holds them) each worker holds, largest first: the kernel hands each new connection to one worker (granian's
    workers each listen with SO_REUSEPORT) and a keep-alive connection stays with it."""
    inode_of_port: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port, remote_port = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
            established = fields[3] == "01"  # not the listening sockets, which every worker holds
            if local_port == server_port and established and (client_ports is None or remote_port in client_ports):
                inode_of_port[remote_port] = int(fields[9])
    held = {pid: _sockets(pid) for pid in workers}
    counts = [sum(1 for inode in inode_of_port.values() if inode in sockets) for sockets in held.values()]
    return sorted(counts, reverse=True)
