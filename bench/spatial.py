"""The spatio-temporal platform: locating points in the grid, geocoding addresses, and OGC API – Features items with
a bbox over HTTP.

Claims checked (issue 15):
- `spatial.selectors.locate` answers at least half as many points per second as the bare shapely STRtree query it
  is built on (same tree, same points, a Point made per query in both): the ratio is the cost of the wrapping
  (finding the cell's divisions, the stamp check).
- Geocoding at least 2,000 addresses per second in a batch (`spatial.services.geocode_many`), over the demo city's
  standard addresses as written and in a looser writing (no city, no community).
- `/ogc/collections/{grid-cells,pois}/items?bbox=…&limit=100` over HTTP: p99 under 50 ms against
  `rongcheng serve` (granian), with --processes x --threads keep-alive connections.
- Side by side with pygeoapi serving the same features (exported from the layers as GeoJSON files) from the same
  granian with the same workers and threads: our `items` throughput at least equal to pygeoapi's. pygeoapi is a
  benchmark, not a dependency: it runs from its own virtual environment, given with --pygeoapi (without it the
  comparison is not measured). Its provider is the GeoJSON file provider, the one that needs nothing more here:
  pygeoapi's PostgreSQL provider needs PostGIS, its SQLite one SpatiaLite, neither in the project's database.

      uv venv /tmp/pygeoapi-venv && uv pip install --python /tmp/pygeoapi-venv/bin/python pygeoapi granian

Not measured here: the five million cases of issue 14 (bench/cases.py).

The demo city's places, addresses and points of interest are seeded as `rongcheng demo` seeds them.

    uv run python bench/spatial.py                       # PostgreSQL
    uv run python bench/spatial.py --database sqlite --points 100000
    uv run python bench/spatial.py --pygeoapi /tmp/pygeoapi-venv   # with the comparison
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import setup_django, throwaway_database
from _server import _cli, _free_port, _stop, _wait_for, http_load
from _smoke import goal, parse_arguments

LOCATE_RATIO = 0.5
GEOCODE_GOAL = 2_000  # addresses per second
P99_GOAL_MS = 50.0


def _rate(work: object, items: list[object]) -> float:
    began = time.perf_counter()
    for item in items:
        work(item)  # type: ignore[operator]
    return len(items) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--points", type=int, default=200_000, help="random points located")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one HTTP load run")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections per client process")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--server-threads", type=int, default=4, help="granian blocking threads per worker (both)")
    parser.add_argument("--pygeoapi", default=os.environ.get("BENCH_PYGEOAPI", ""),
                        help="a virtual environment with pygeoapi and granian: compare with it")  # fmt: skip
    args = parse_arguments(parser, points=2_000, repeats=1, seconds=0.3, processes=1, threads=2)

    with throwaway_database(args.database) as env:
        env["RONGCHENG_ALLOWED_HOSTS"] = "127.0.0.1"
        env["RONGCHENG_RATE_LIMITS"] = "spatial.ogc.address=off"  # one client address makes every request here
        setup_django(env)
        import numpy
        from django.db import connections
        from shapely.geometry import Point

        from rongcheng.audit.services import Actor
        from rongcheng.demo.services import DEFAULT_SEED, _seed_addresses, _seed_places
        from rongcheng.demo.spatial import demo_spatial_seed
        from rongcheng.registries.models import Address
        from rongcheng.spatial import selectors
        from rongcheng.spatial.services import geocode_many

        _seed_places(DEFAULT_SEED)
        _seed_addresses(DEFAULT_SEED)
        demo_spatial_seed()
        bounds = selectors.city_bounds()
        if bounds is None:
            raise SystemExit("the demo city has no grid cells")
        rng = random.Random(2017)
        points = [(rng.uniform(bounds[0], bounds[2]), rng.uniform(bounds[1], bounds[3])) for _ in range(args.points)]
        tree = selectors._grid().tree

        def raw(point: tuple[float, float]) -> object:  # the fastest form of one query (as locate makes it)
            return tree.query(numpy.array([Point(point[0], point[1])]), predicate="intersects")

        def located(point: tuple[float, float]) -> object:
            return selectors.locate(lon=point[0], lat=point[1])

        inside = sum(located(p) is not None for p in points)  # also warms the index
        raw_rate = max(_rate(raw, points) for _ in range(args.repeats))  # type: ignore[arg-type]
        locate_rate = max(_rate(located, points) for _ in range(args.repeats))  # type: ignore[arg-type]

        texts = list(Address.objects.order_by("id").values_list("text", flat=True))
        # The looser writing: no city, no community (its two-character name and 社区), the street kept.
        loose = [t.removeprefix("福州市").split("社区", 1)[0][:-2] + t.split("社区", 1)[-1] for t in texts]
        size = 500 if args.smoke else 10_000
        batch = ((texts + loose) * (size // max(1, 2 * len(texts)) + 1))[:size]
        system = Actor.system("bench/spatial.py")
        geocode_many(actor=system, addresses=batch[:1])  # builds the geocoding index
        geocode_rates, matched = [], 0
        for _ in range(args.repeats):
            began = time.perf_counter()
            results = geocode_many(actor=system, addresses=batch)
            geocode_rates.append(len(results) / (time.perf_counter() - began))
            matched = sum(r is not None and r.level == "address" for r in results)
        if matched < len(results) * 0.9:
            raise SystemExit(f"geocoding matched only {matched} of {len(results)} standard addresses")
        connections.close_all()

        port = _free_port()
        log = Path(tempfile.gettempdir()) / f"rc-bench-spatial-{port}.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                _cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
                     "--threads", str(args.server_threads)),
                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        x0, y0 = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        box = f"{x0 - 0.1:.4f},{y0 - 0.1:.4f},{x0 + 0.1:.4f},{y0 + 0.1:.4f}"
        paths = {
            "grid-cells": f"/ogc/collections/grid-cells/items?f=json&limit=100&bbox={box}",
            "pois": f"/ogc/collections/pois/items?f=json&limit=100&bbox={box}",
        }
        loads = {}
        try:
            _wait_for(port, server, log)
            shape = {"processes": args.processes, "threads": args.threads}
            for path in paths.values():  # warm up: each worker builds its grid index and cell features once
                http_load(port, path, expect=b'"FeatureCollection"', seconds=3.0, **shape)
            for label, path in paths.items():
                loads[label] = http_load(port, path, expect=b'"FeatureCollection"', seconds=args.seconds, **shape)
        finally:
            _stop(server)
        log.unlink(missing_ok=True)
        theirs = {}
        if args.pygeoapi:
            from rongcheng.spatial.services import layer_get

            layers = {label: layer_get(label) for label in paths}
            theirs = _pygeoapi_loads(
                args, layers, {label: path.replace("/ogc", "", 1) for label, path in paths.items()}
            )

    print(f"\nSpatial ({args.database}): {args.points:,} random points in the city's box, {inside:,} inside a cell")
    print(f"  raw STRtree query       {raw_rate:>12,.0f} points/s")
    print(f"  spatial.selectors.locate {locate_rate:>11,.0f} points/s")
    print(f"  geocode_many            {max(geocode_rates):>12,.0f} addresses/s ({matched:,} of {len(results):,} "
          f"matched to a standard address)")  # fmt: skip
    for label, load in loads.items():
        print(f"  items {label:<12} {load.rate:>8,.0f} req/s  p50 {load.percentile(50):.2f} ms  "
              f"p99 {load.percentile(99):.2f} ms  failed {load.failures}")  # fmt: skip
    for label, load in theirs.items():
        print(f"  pygeoapi {label:<9} {load.rate:>8,.0f} req/s  p50 {load.percentile(50):.2f} ms  "
              f"p99 {load.percentile(99):.2f} ms  failed {load.failures}  (GeoJSON file provider)")  # fmt: skip
    failures = sum(load.failures for load in [*loads.values(), *theirs.values()])
    ratio = locate_rate / raw_rate
    goal(f"locate >= {LOCATE_RATIO} x the raw STRtree query rate", f"{ratio:.2f} x", ratio >= LOCATE_RATIO)
    goal(
        f"geocoding >= {GEOCODE_GOAL:,} addresses/s", f"{max(geocode_rates):,.0f}/s", max(geocode_rates) >= GEOCODE_GOAL
    )
    for label, load in loads.items():
        p99 = load.percentile(99)
        goal(f"items with bbox ({label}) p99 < {P99_GOAL_MS:g} ms over HTTP", f"{p99:.1f} ms", p99 < P99_GOAL_MS)
    if not theirs:
        print("  pygeoapi comparison: not measured (give --pygeoapi VENV, see the docstring)")
    for label, load in theirs.items():
        ratio = loads[label].rate / load.rate
        goal(f"items ({label}) throughput >= pygeoapi's on the same data", f"{ratio:.2f} x", ratio >= 1.0)
    if failures:
        raise SystemExit(f"{failures} answers were not 200 with a FeatureCollection")


CONTACT_FIELDS = ("name", "position", "address", "city", "stateorprovince", "postalcode", "country", "phone", "fax",
                  "hours", "instructions")  # fmt: skip


def _pygeoapi_loads(args: argparse.Namespace, layers: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """Serve the layers' features with pygeoapi (GeoJSON files, granian with our workers and threads) and load the
    same item requests as ours."""
    folder = Path(tempfile.mkdtemp(prefix="rc-bench-pygeoapi-"))
    port = _free_port()
    resources = {}
    for label, layer in layers.items():
        features: list[Any] = []
        while True:  # every feature, in pages of the layers' largest limit
            page, _matched = layer.items(bbox=None, datetime_interval=None, filters={}, limit=10_000,
                                         offset=len(features))  # fmt: skip
            features += [{key: f[key] for key in ("type", "id", "geometry", "properties")} for f in page]
            if len(page) < 10_000:
                break
        data = folder / f"{label}.geojson"
        data.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
        resources[label] = {
            "type": "collection", "title": label, "description": label, "keywords": [label],
            "extents": {"spatial": {"bbox": [70.0, 15.0, 140.0, 55.0],
                                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{"type": "feature", "name": "GeoJSON", "data": str(data), "id_field": "id"}],
        }  # fmt: skip
    here = "http://127.0.0.1"
    config = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": f"{here}:{port}",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "languages": ["en-US"],
                   "limits": {"default_items": 10, "max_items": 10_000},
                   "map": {"url": f"{here}/none/{{z}}/{{x}}/{{y}}.png", "attribution": "none"}},
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": "none", "url": here},
            "license": {"name": "CC-BY-4.0", "url": "https://spdx.org/licenses/CC-BY-4.0.html"},
            "provider": {"name": "bench", "url": here},
            "contact": dict.fromkeys(CONTACT_FIELDS, "bench")
            | {"email": "bench@example.org", "url": here, "role": "pointOfContact"},
        },
        "resources": resources,
    }  # fmt: skip
    (folder / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    env = {**os.environ, "PYGEOAPI_CONFIG": str(folder / "config.yml"), "PYGEOAPI_OPENAPI": str(folder / "openapi.yml")}
    venv = Path(args.pygeoapi)
    subprocess.run([venv / "bin" / "pygeoapi", "openapi", "generate", folder / "config.yml", "--output-file",
                    folder / "openapi.yml"], env=env, check=True, capture_output=True)  # fmt: skip
    log = folder / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [venv / "bin" / "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(args.workers), "--blocking-threads", str(args.server_threads), "--no-ws",
             "pygeoapi.flask_app:APP"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    loads = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"pygeoapi did not start; see {log}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/conformance?f=json")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        shape = {"processes": args.processes, "threads": args.threads}
        for path in paths.values():
            http_load(port, path, expect=b'"FeatureCollection"', seconds=3.0, **shape)
        for label, path in paths.items():
            loads[label] = http_load(port, path, expect=b'"FeatureCollection"', seconds=args.seconds, **shape)
    finally:
        _stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    return loads


if __name__ == "__main__":
    main()
