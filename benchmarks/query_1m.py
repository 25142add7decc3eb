"""Query latency on a store of 1,000,000 entities, each beside its floor.

1. Loads N entities (default 1,000,000: 60% ParkingSpot, 40% CrowdFlowObserved,
   as ``rss_1m.py`` makes them) spread over a city-sized area (about 25 x 28 km,
   so a 200 m circle holds about 100 ParkingSpots), through boulevard's parser
   and store, or reuses such a DB (``--db PATH --reuse``);
2. starts ``boulevard serve`` on it and times, one request at a time over HTTP:
   * ``q``: ``type=ParkingSpot&q=status=="<s>"&limit=100`` (the four statuses in turn);
   * ``near``: ``type=ParkingSpot&georel=near;maxDistance==200`` around random
     points of the area, ``limit=100``;
   * ``geojson``: ``type=ParkingSpot&limit=1000`` as a GeoJSON FeatureCollection
     (``Accept: application/geo+json``), one of the first ten pages;
3. the floor of each: the same SQL the store issues (``storage/sqlite.py``
   ``scan_sql``, with q's SQL pre-filter), run directly with sqlite3 in this
   process on the same file, rows fetched and nothing else done with them. The
   broker adds HTTP, decoding, the exact q / geo tests, paging and rendering;
   ``near`` fetches every row in the circle's bounding box (the exact distance
   test is not SQL), the others the same rows the broker returns.

    .venv/bin/python benchmarks/query_1m.py                          # temp DB, 1M entities (~2 min to load)
    .venv/bin/python benchmarks/query_1m.py --db /tmp/q1m.db --keep   # then --reuse next time
    .venv/bin/python benchmarks/query_1m.py --count 100000 --json

Exit status: 0 when every request succeeded, 1 otherwise, 3 with --check-targets
when a median misses its target (q 20 ms, near 20 ms, geojson 50 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from benchlib import BASE, Server, broker_command, free_port, machine
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rss_1m import entity_for, load

from boulevard.ngsild.context import ContextCache
from boulevard.ngsild.geoquery import parse_geoquery
from boulevard.storage.base import AttrEquals, EntityFilter
from boulevard.storage.sqlite import scan_sql

# the area: about 25 km east-west and 28 km north-south around Madrid
LON0, LON1, LAT0, LAT1 = -3.85, -3.55, 40.30, 40.55
STATUSES = ("free", "occupied", "closed", "unknown")
TARGETS_MS = {"q": 20.0, "near": 20.0, "geojson": 50.0}


def spread_entity(i: int, rng: random.Random) -> dict[str, Any]:
    """``rss_1m.entity_for``, moved to a random point of the whole area."""
    entity = entity_for(i, rng)
    entity["location"]["value"]["coordinates"] = [rng.uniform(LON0, LON1), rng.uniform(LAT0, LAT1)]
    return entity


def time_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


class Scenario:
    def __init__(self, key: str, title: str) -> None:
        self.key, self.title = key, title
        self.broker_ms: list[float] = []
        self.floor_ms: list[float] = []
        self.returned: list[int] = []
        self.errors = 0

    def row(self) -> dict[str, Any]:
        def q(xs: list[float], p: float) -> float:
            return round(statistics.quantiles(xs, n=100)[int(p) - 1], 2) if len(xs) > 1 else round(xs[0], 2)

        b, f = statistics.median(self.broker_ms), statistics.median(self.floor_ms)
        return {
            "scenario": self.key, "title": self.title, "requests": len(self.broker_ms),
            "broker_median_ms": round(b, 2), "broker_p90_ms": q(self.broker_ms, 90),
            "floor_median_ms": round(f, 2), "floor_p90_ms": q(self.floor_ms, 90),
            "ratio_floor_to_broker": round(f / b, 3) if b else None,
            "mean_returned": round(statistics.mean(self.returned), 1) if self.returned else 0,
            "target_ms": TARGETS_MS[self.key], "met": b <= TARGETS_MS[self.key], "errors": self.errors,
        }


def run(db: Path, requests: int, console: Console) -> list[Scenario]:
    tm = ContextCache().core
    status_iri = tm.expand("status")
    spot_iri = tm.expand("ParkingSpot")
    rng = random.Random(7)
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA cache_size=-16000")
    port = free_port()
    q_s, near_s, geo_s = Scenario("q", "type + q, limit 100"), Scenario("near", "near 200 m, limit 100"), Scenario(
        "geojson", "GeoJSON FeatureCollection of 1,000"
    )
    with tempfile.TemporaryDirectory(prefix="boulevard-q1m-") as tmp, Server(
        "broker", broker_command(db, port, "NORMAL"), port, Path(tmp) / "server.log"
    ) as server, httpx.Client(base_url=server.url + BASE, timeout=60) as client:
        def get(params: dict[str, str], accept: str = "application/json") -> httpx.Response:
            """One request, its whole body read (decoding it is left out of the timing)."""
            resp = client.get("/entities", params=params, headers={"Accept": accept})
            if resp.status_code != 200:
                raise RuntimeError(f"{resp.status_code}: {resp.text[:200]}")
            return resp

        def floor(flt: EntityFilter, limit: int | None = 100, offset: int = 0) -> int:
            sql, params = scan_sql("", flt, offset=offset, limit=limit)
            return len(conn.execute(sql, params).fetchall())

        get({"type": "ParkingSpot", "limit": "1"})  # warm up

        def features(resp: httpx.Response) -> Any:
            return resp.json()["features"]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("queries", total=3 * requests)
            for n in range(requests):
                status = STATUSES[n % len(STATUSES)]
                params = {"type": "ParkingSpot", "q": f'status=="{status}"', "limit": "100"}
                _measure(q_s, lambda p=params: get(p), httpx.Response.json, lambda s=status: floor(
                    EntityFilter(types=(spot_iri,), attrs=AttrEquals(status_iri, (s, tm.expand(s))))))
                progress.advance(task)

                lon, lat = rng.uniform(LON0 + 0.01, LON1 - 0.01), rng.uniform(LAT0 + 0.01, LAT1 - 0.01)
                params = {"type": "ParkingSpot", "georel": "near;maxDistance==200", "geometry": "Point",
                          "coordinates": f"[{lon},{lat}]", "limit": "100"}
                gq = parse_geoquery(params["georel"], "Point", [lon, lat], None, tm)
                assert gq is not None
                box = gq.box()
                _measure(near_s, lambda p=params: get(p), httpx.Response.json, lambda g=box: floor(
                    EntityFilter(types=(spot_iri,), geo=g), limit=None))
                progress.advance(task)

                offset = rng.randrange(0, 10) * 1000  # one of the first ten pages
                params = {"type": "ParkingSpot", "limit": "1000", "offset": str(offset)}
                _measure(geo_s, lambda p=params: get(p, "application/geo+json"), features,
                         lambda o=offset: floor(EntityFilter(types=(spot_iri,)), limit=1000, offset=o))
                progress.advance(task)
    conn.close()
    return [q_s, near_s, geo_s]


def _measure(
    sc: Scenario, broker: Callable[[], httpx.Response], items: Callable[[httpx.Response], Any],
    floor: Callable[[], int],
) -> None:
    try:
        ms, resp = time_ms(broker)
    except (RuntimeError, httpx.HTTPError):
        sc.errors += 1
        return
    sc.broker_ms.append(ms)
    sc.returned.append(len(items(resp)))
    sc.floor_ms.append(time_ms(floor)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="entities to store (1,000,000)")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per scenario (60)")
    parser.add_argument("--db", type=Path, default=None, help="DB file (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep --db after the run")
    parser.add_argument("--reuse", action="store_true", help="--db already holds the entities")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--check-targets", action="store_true", help="exit 3 when a target is missed")
    opts = parser.parse_args(argv)
    console = Console(stderr=opts.json)
    with tempfile.TemporaryDirectory(prefix="boulevard-q1m-db-") as tmp:
        db = opts.db or Path(tmp) / "q1m.db"
        load_s = None
        if not opts.reuse:
            for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                f.unlink(missing_ok=True)
            with Progress(console=console, transient=True) as progress:
                load_s = load(db, opts.count, progress, spread_entity)
            console.print(f"loaded {opts.count:,} entities in {load_s:.0f} s")
        scenarios = run(db, opts.requests, console)
        if opts.db is not None and not opts.keep and not opts.reuse:
            for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                f.unlink(missing_ok=True)
    rows = [s.row() for s in scenarios]
    result = {"machine": machine(), "count": opts.count, "load_seconds": load_s, "results": rows}
    if opts.json:
        print(json.dumps(result, indent=2))
    else:
        table = Table(title=f"queries on {opts.count:,} entities: broker over HTTP vs the same SQL run directly")
        for col in ("scenario", "broker median / p90 ms", "floor median / p90 ms", "returned", "target", "met"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["title"], f"{r['broker_median_ms']} / {r['broker_p90_ms']}",
                          f"{r['floor_median_ms']} / {r['floor_p90_ms']}", str(r["mean_returned"]),
                          f"<= {r['target_ms']:g} ms", "yes" if r["met"] else "no")
        console.print(table)
    if any(r["errors"] for r in rows):
        return 1
    if opts.check_targets and not all(r["met"] for r in rows):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
