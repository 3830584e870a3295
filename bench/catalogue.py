"""Open data at scale: the CKAN Action API's search and datastore, and the streaming CSV download, PostgreSQL.

Claims checked (issue 17), over HTTP against `rongcheng serve --workers 2` (granian):
  * `package_search` over --datasets published datasets (default 10,000): p99 under 50 ms, for a mix of a free-text
    query, a tag filter, an organization filter and facets on organization, tags and format.
  * `datastore_search` over one tabular resource of --rows rows (default 1,000,000): a filtered page (two equality
    filters, 100 rows) p99 under 100 ms (JSONB containment served by the GIN index).
  * The streaming CSV download of that resource: at least 0.5x the throughput of PostgreSQL's own
    `COPY (SELECT data ...) TO STDOUT` of the same rows, read through the same driver.

Data, generated for the run and said plainly: datasets are written by bulk insert (one resource, two tags each,
spread over 20 organizations and 50 tags), not through the publication services; the datastore rows are written by
COPY as one published revision of one resource: {"division_code", "category", "name", "value"} with 13 divisions
and 40 categories.

    uv run python bench/catalogue.py                         # 10,000 datasets, 1,000,000 rows (a few minutes)
    uv run python bench/catalogue.py --datasets 2000 --rows 200000
    uv run python bench/catalogue.py --keep-database rc_catalogue_big   # seed once, measure again on later runs
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http.client
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import (
    _cli,
    _database_exists,
    _drop_database,
    _free_port,
    _stop,
    _wait_for,
    connections_per_worker,
    create_database,
    fill_data_dir,
    server_workers,
)
from _smoke import goal, parse_arguments

PG_HOST = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rc_bench_catalogue"
DATA_DIR = Path(tempfile.gettempdir()) / "rc_bench_catalogue"
DIVISIONS = ["350102", "350103", "350104", "350105", "350111", "350112", "350121", "350122", "350123", "350124",
             "350125", "350128", "350181"]  # fmt: skip


def percentile(values: Sequence[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


def _setup(args: argparse.Namespace) -> str:
    """The datasets and the datastore rows; returns the tabular resource's id."""
    from django.db import connection, transaction
    from django.utils import timezone

    from rongcheng.accounts.models import Department
    from rongcheng.catalogue.models import Dataset, DatasetResource, DatasetRevision, DatasetTag

    now = timezone.now()
    organizations = [
        Department.objects.get_or_create(code=f"FZ-B{n:02d}", defaults={"name": f"基准测试第{n}局"})[0]
        for n in range(20)
    ]
    rng = random.Random(2017)
    began = time.perf_counter()
    batch = 2000
    for start in range(0, args.datasets, batch):
        with transaction.atomic():
            datasets = Dataset.objects.bulk_create(
                Dataset(name=f"bench-{n:06d}", title=f"基准数据集 {n} 第{n % 97}类统计", notes=f"说明 {n}：公共交通、"
                        f"教育、医疗、财政等领域的统计数据 {rng.random():.6f}", organization=organizations[n % 20],
                        state="active", revision=1, update_cycle=30, metadata_created=now, metadata_modified=now)
                for n in range(start, min(start + batch, args.datasets))
            )  # fmt: skip
            DatasetTag.objects.bulk_create(
                DatasetTag(dataset=d, name=f"标签{(i + k) % 50}") for i, d in enumerate(datasets, start) for k in (0, 7)
            )
            DatasetResource.objects.bulk_create(
                DatasetResource(dataset=d, name="数据", format=("CSV", "JSON", "XLSX", "GeoJSON")[i % 4],
                                backing="accounts.departments", created=now, last_modified=now)
                for i, d in enumerate(datasets)
            )  # fmt: skip
    print(f"{args.datasets:,} datasets in {time.perf_counter() - began:.1f} s", flush=True)

    table = Dataset.objects.create(name="bench-table", title="基准大表", organization=organizations[0], state="active",
                                   revision=1, metadata_created=now, metadata_modified=now)  # fmt: skip
    fields = [{"id": "division_code", "type": "text", "description": "区划"},
              {"id": "category", "type": "text", "description": "类别"},
              {"id": "name", "type": "text", "description": "名称"},
              {"id": "value", "type": "integer", "description": "数值"}]  # fmt: skip
    resource = DatasetResource.objects.create(dataset=table, name="大表", format="CSV", backing="accounts.departments",
                                              fields=fields, created=now, last_modified=now)  # fmt: skip
    DatasetRevision.objects.create(dataset=table, number=1, snapshot={}, published_at=now, requested_by="bench",
                                   approved_by="bench", row_counts={str(resource.uuid): args.rows})  # fmt: skip
    began = time.perf_counter()
    chunk = 200_000
    for start in range(0, args.rows, chunk):
        buffer = io.StringIO()
        for n in range(start, min(start + chunk, args.rows)):
            row = {"division_code": DIVISIONS[n % 13], "category": f"c{(n // 13) % 40}", "name": f"记录{n}",
                   "value": n}  # fmt: skip
            text = json.dumps(row, ensure_ascii=False).replace("\\", "\\\\")
            buffer.write(f"{resource.pk}\t1\t{n + 1}\t{text}\n")
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.copy("COPY catalogue_datastorerow (resource_id, revision, row_number, data) FROM STDIN") as copy,
        ):
            copy.write(buffer.getvalue())
    with connection.cursor() as cursor:
        # Every table written here, as autovacuum would once it woke (it may be off on a test server, as on CI's):
        # without statistics the resources' page was read by a sequential scan.
        for written in ("datastorerow", "dataset", "datasettag", "datasetresource", "dataset_groups"):
            cursor.execute(f"ANALYZE catalogue_{written}")
    print(f"{args.rows:,} datastore rows in {time.perf_counter() - began:.1f} s", flush=True)
    return str(resource.uuid)


def _load(
    port: int, paths: Sequence[str], connections: int, check: Any, workers: list[int] | None = None
) -> tuple[list[float], float, int, list[int]]:
    """The paths sent over `connections` keep-alive connections, each its share in turn. Returns the latencies, the
    seconds, the failures and (given the server's `workers`) how many of the connections each worker held, largest
    first, read a moment into the load: each worker listens with SO_REUSEPORT, the kernel hands a new connection to
    one of them blind to load, and two connections held by one worker are served one after the other."""
    shares = [paths[i::connections] for i in range(connections)]
    results: list[list[float]] = [[] for _ in shares]
    failures = [0] * connections
    barrier = threading.Barrier(connections + 1)
    spread: list[int] = []
    opened = threading.Barrier(connections + 1) if workers else None

    def answered_once() -> None:
        # Never blocks the load for long: a connection whose thread failed, or had nothing to send, breaks the
        # barrier (the spread is then not read) rather than holding the others.
        if opened is not None:
            with contextlib.suppress(threading.BrokenBarrierError):
                opened.wait(timeout=60)

    def run(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        barrier.wait()
        waited = False
        try:
            for path in shares[number]:
                began = time.perf_counter()
                connection.request("GET", path)
                response = connection.getresponse()
                payload = response.read()
                results[number].append(time.perf_counter() - began)
                if response.status != 200 or not check(json.loads(payload)):
                    failures[number] += 1
                if not waited:
                    waited = True
                    answered_once()
        finally:
            if not waited and opened is not None:
                opened.abort()
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    if opened is not None and workers:
        try:
            opened.wait(timeout=60)  # every connection answered once: each is held by the worker that took it
            spread = connections_per_worker(workers, port, None)
        except threading.BrokenBarrierError:
            spread = []
    for thread in threads:
        thread.join()
    return [t for r in results for t in r], time.perf_counter() - began, sum(failures), spread


def _search_paths(count: int, rng: random.Random) -> list[str]:
    facets = json.dumps(["organization", "tags", "res_format"])

    def query(kind: int) -> dict[str, str]:
        if kind == 0:
            return {"q": f"第{rng.randrange(97)}类", "facet.field": facets}
        if kind == 1:
            return {"fq": f"tags:标签{rng.randrange(50)}", "facet.field": facets, "rows": "20"}
        if kind == 2:
            return {"fq": f"organization:fz-b{rng.randrange(20):02d}", "sort": "metadata_modified desc"}
        return {"q": "统计", "fq": f"res_format:CSV tags:标签{rng.randrange(50)}", "start": "20"}

    return ["/opendata/api/3/action/package_search?" + urlencode(query(i % 4)) for i in range(count)]


def _datastore_paths(resource_id: str, count: int, rng: random.Random) -> list[str]:
    return [
        "/opendata/api/3/action/datastore_search?"
        + urlencode(
            {
                "resource_id": resource_id,
                "limit": 100,
                "offset": rng.choice((0, 100, 200)),
                "filters": json.dumps({"division_code": rng.choice(DIVISIONS), "category": f"c{rng.randrange(40)}"}),
            }
        )
        for _ in range(count)
    ]


def _download(port: int, path: str) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    began = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    size = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
    seconds = time.perf_counter() - began
    if response.status != 200:
        raise SystemExit(f"download answered {response.status}")
    return size, seconds


def _copy_to(resource_pk: int) -> tuple[int, float]:
    from django.db import connection

    began = time.perf_counter()
    size = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT data FROM catalogue_datastorerow WHERE resource_id = %s AND revision = 1 "
            "ORDER BY row_number) TO STDOUT",
            [resource_pk],
        ) as copy,
    ):
        for block in copy:
            size += len(block)
    return size, time.perf_counter() - began


def main() -> None:
    global DATABASE, DATA_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-database", default="", help="PostgreSQL database to seed once and keep (rc_*)")
    args = parse_arguments(parser, datasets=200, rows=3_000, requests=40)
    if args.smoke:
        DATABASE = f"{DATABASE}_smoke_{os.getpid()}"
        DATA_DIR = DATA_DIR.with_name(f"{DATA_DIR.name}_smoke_{os.getpid()}")
    kept = bool(args.keep_database)
    if kept:
        if not args.keep_database.startswith("rc_"):
            raise SystemExit("--keep-database must name an rc_* database")
        DATABASE, DATA_DIR = args.keep_database, DATA_DIR.with_name(args.keep_database)
    if not kept or not _database_exists(DATABASE):
        _drop_database(DATABASE)
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        create_database(DATABASE)
        fill_data_dir(DATA_DIR)
    if not kept:
        atexit.register(shutil.rmtree, DATA_DIR, ignore_errors=True)
        atexit.register(_drop_database, DATABASE)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ, "DATABASE_URL": f"{PG_HOST}/{DATABASE}", "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings",
        "RONGCHENG_AUDIT_SEAL_MODE": "background", "RONGCHENG_ALLOWED_HOSTS": "127.0.0.1,testserver",
        "RONGCHENG_DATA_DIR": str(DATA_DIR), "PYTHONUNBUFFERED": "1",
        "RONGCHENG_RATE_LIMITS": "opendata.read.address=off",  # one client address is not a flood here
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from rongcheng.catalogue.models import Dataset, DatasetResource, DatastoreRow

    call_command("migrate", verbosity=0, interactive=False)
    seeded = DatasetResource.objects.filter(dataset__name="bench-table").first()
    if seeded is None:
        resource_id = _setup(args)
    else:
        datasets = Dataset.objects.filter(name__startswith="bench-").exclude(name="bench-table").count()
        rows = DatastoreRow.objects.filter(resource=seeded).count()
        if (datasets, rows) != (args.datasets, args.rows):
            raise SystemExit(f"{DATABASE} holds {datasets:,} datasets and {rows:,} rows: drop it or change the sizes")
        print(f"{DATABASE}: {datasets:,} datasets and {rows:,} rows seeded by an earlier run", flush=True)
        resource_id = str(seeded.uuid)
    resource_pk = DatasetResource.objects.get(uuid=uuid.UUID(resource_id)).pk
    copy_size, copy_seconds = _copy_to(resource_pk)
    connections.close_all()

    rng = random.Random(2017)
    port = _free_port()
    log = DATA_DIR / "bench-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(_cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
                                       str(args.workers)), env=env, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    try:
        _wait_for(port, server, log)
        workers = server_workers(server.pid)
        _load(port, _search_paths(20, rng), 1, lambda body: body["success"])  # warm
        search = _load(port, _search_paths(args.requests, rng), args.connections,
                       lambda body: body["success"] and body["result"]["count"] >= 0, workers)  # fmt: skip
        _load(port, _datastore_paths(resource_id, 20, rng), 1, lambda body: body["success"])
        datastore = _load(port, _datastore_paths(resource_id, args.requests, rng), args.connections,
                          lambda body: body["success"] and len(body["result"]["records"]) <= 100, workers)  # fmt: skip
        download_path = f"/opendata/dataset/bench-table/resource/{resource_id}/download?format=csv"
        download_size, download_seconds = _download(port, download_path)
    finally:
        _stop(server)

    print(f"\nOpen data, {args.datasets:,} datasets and a {args.rows:,}-row resource, PostgreSQL, "
          f"{args.workers} workers, {args.connections} connections; load average "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")  # fmt: skip
    print(f"{'call':<36} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'per s':>8} {'failed':>7} "
          f"{'spread':>7}")  # fmt: skip
    loads = (("package_search (mix, facets)", search), ("datastore_search (2 filters, 100 rows)", datastore))
    for label, (latencies, seconds, failures, spread) in loads:
        print(f"{label:<36} {len(latencies):>9,} {percentile(latencies, 50):>8.2f} {percentile(latencies, 99):>8.2f} "
              f"{max(latencies) * 1000:>8.2f} {len(latencies) / seconds:>8.0f} {failures:>7} "
              f"{'+'.join(map(str, spread)) or '-':>7}")  # fmt: skip
    print(
        "spread: how many of the load's connections each server worker held (the kernel's draw, SO_REUSEPORT); two "
        "held by one worker are served one after the other"
    )
    download_rate = args.rows / download_seconds
    copy_rate = args.rows / copy_seconds
    print(f"streaming CSV download: {download_size:,} bytes in {download_seconds:.2f} s ({download_rate:,.0f} rows/s)")
    print(f"COPY TO STDOUT of the same rows: {copy_size:,} bytes in {copy_seconds:.2f} s ({copy_rate:,.0f} rows/s)")
    search_p99, datastore_p99 = percentile(search[0], 99), percentile(datastore[0], 99)
    goal(f"package_search over {args.datasets:,} datasets: p99 under 50 ms", f"p99 {search_p99:.1f} ms "
         f"({search_p99 / 50:.2f} of the limit)", search_p99 < 50)  # fmt: skip
    goal(f"datastore_search filtered page over {args.rows:,} rows: p99 under 100 ms",
         f"p99 {datastore_p99:.1f} ms ({datastore_p99 / 100:.2f} of the limit)", datastore_p99 < 100)  # fmt: skip
    ratio = download_rate / copy_rate
    goal("streaming CSV download at least 0.5x COPY TO", f"{ratio:.2f}x", ratio >= 0.5)
    if search[2] or datastore[2]:
        raise SystemExit(f"{search[2] + datastore[2]} answers were wrong: the figures above measure the wrong thing")


if __name__ == "__main__":
    main()
