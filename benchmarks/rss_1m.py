"""Memory of the broker serving a store of 1,000,000 entities.

1. Loads N entities (default 1,000,000; 60% ParkingSpot, 40% CrowdFlowObserved,
   each with a location and 4 attributes) into a fresh broker DB in-process,
   through boulevard's own parser and store (``parse_entity``, ``new_entity``,
   ``SqliteStore``), exactly as the broker stores them;
2. starts ``boulevard serve`` on that DB, then drives it with wrk: retrieves by
   id spread over the whole store (5 s per type), single creates (3 s: a few
   thousand), batch upserts of 100 (3 s); then 20 type queries (limit=100);
3. reports the server's resident memory (VmRSS, and the peak VmHWM, from
   /proc/PID/status) after each phase, and the size of the DB files.

    .venv/bin/python benchmarks/rss_1m.py                  # 1M entities, temp DB
    .venv/bin/python benchmarks/rss_1m.py --db /tmp/1m.db --keep   # reuse it next time with --reuse
    .venv/bin/python benchmarks/rss_1m.py --json

Exit status: 0 when the peak RSS is under --limit-mb (200), 3 when it is not,
1 when something failed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
from benchlib import (
    BASE,
    Server,
    broker_command,
    crowd_flow,
    free_port,
    machine,
    parking_spot,
    proc_status,
    wrk_run,
)
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from boulevard.ngsild.context import ContextCache
from boulevard.ngsild.model import new_entity, now_iso, parse_entity
from boulevard.storage.sqlite import SqliteStore

CHUNK = 10_000


def type_counts(count: int) -> tuple[int, int]:
    """How many ParkingSpots and CrowdFlowObserveds a store of `count` holds (3 in 5 are spots)."""
    spots = (count // 5) * 3 + min(count % 5, 3)
    return spots, count - spots


def entity_for(i: int, rng: random.Random) -> dict[str, Any]:
    """The i-th entity: ids are numbered per type, urn:ngsi-ld:ParkingSpot:rss-0, -1, ..."""
    group, slot = divmod(i, 5)
    if slot < 3:
        return parking_spot(f"urn:ngsi-ld:ParkingSpot:rss-{group * 3 + slot}", rng)
    return crowd_flow(f"urn:ngsi-ld:CrowdFlowObserved:rss-{group * 2 + slot - 3}", rng)


def load(
    db: Path, count: int, progress: Progress, make: Callable[[int, random.Random], dict[str, Any]] | None = None
) -> float:
    """Write `count` entities (``make(i, rng)``, default `entity_for`) through boulevard's
    parser and store; the seconds it took."""
    make = make or entity_for
    tm = ContextCache().core
    rng = random.Random(42)
    store = SqliteStore(str(db), synchronous="OFF")
    task = progress.add_task("loading entities", total=count)
    started = time.monotonic()
    pending: list[Future[None]] = []
    try:
        for start in range(0, count, CHUNK):
            now = now_iso()
            stop = min(count, start + CHUNK)
            chunk = [new_entity(parse_entity(make(i, rng), tm), now) for i in range(start, stop)]
            pending.append(store.submit("", _writer_job(chunk), create_tenant=True))
            while len(pending) > 1:  # parse the next chunk while the writer thread stores this one
                pending.pop(0).result()
            progress.update(task, completed=min(count, start + CHUNK))
        for fut in pending:
            fut.result()
    finally:
        store.close()
    progress.remove_task(task)
    return time.monotonic() - started


def _writer_job(chunk: list[dict[str, Any]]) -> Callable[[Any], None]:
    def job(w: Any) -> None:
        insert_many = getattr(w, "insert_many", None)
        if insert_many is not None:
            insert_many(chunk)
            return
        for entity in chunk:
            w.insert(entity)

    return job


def exercise(
    server: Server, count: int, opts: argparse.Namespace, progress: Progress, marks: dict[str, dict[str, float]],
) -> dict[str, int]:
    """wrk traffic against the running server: retrieves by id over the whole store, single creates,
    batch upserts; then some type queries. Request counts by kind; RSS after each in `marks`."""
    spots, flows = type_counts(count)
    tag = f"rss{int(time.time())}"
    runs = (
        ("retrieve ParkingSpot", "retrieve.lua", ["urn:ngsi-ld:ParkingSpot:rss", str(spots)], opts.connections,
         opts.retrieve_seconds),
        ("retrieve CrowdFlowObserved", "retrieve.lua", ["urn:ngsi-ld:CrowdFlowObserved:rss", str(flows)],
         opts.connections, opts.retrieve_seconds),
        ("create", "create.lua", [tag], opts.connections, opts.create_seconds),
        ("batch upsert", "batch_upsert.lua", [tag, "100"], 8, opts.batch_seconds),
    )
    done: dict[str, int] = {}
    for label, script, args, conns, seconds in runs:
        task = progress.add_task(label, total=seconds)

        def tick(elapsed: float, task: TaskID = task, seconds: float = seconds) -> None:
            progress.update(task, completed=min(elapsed, seconds))

        summary = wrk_run(server.url, script, args, connections=conns, duration=seconds, tick=tick)
        progress.remove_task(task)
        done[label] = summary["requests"]
        marks[label] = rss(server)
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        for n in range(opts.queries):
            etype = "ParkingSpot" if n % 2 else "CrowdFlowObserved"
            resp = client.get(f"{BASE}/entities", params={"type": etype, "limit": "100", "offset": str(n * 100)})
            if resp.status_code != 200 or len(resp.json()) != 100:
                raise RuntimeError(f"query {etype}: {resp.status_code} {resp.text[:300]}")
    done["query"] = opts.queries
    marks["query"] = rss(server)
    return done


def rss(server: Server) -> dict[str, float]:
    return {"rss_mb": proc_status(server.pid, "VmRSS") / 1024, "peak_mb": proc_status(server.pid, "VmHWM") / 1024}


def db_size_mb(db: Path) -> dict[str, float]:
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(db) + suffix)
        sizes["db" + suffix.replace("-", "_")] = path.stat().st_size / 2**20 if path.exists() else 0.0
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="entities to load (1000000)")
    parser.add_argument("--db", type=Path, default=None, help="DB file (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="use --db as it is, without loading")
    parser.add_argument("--keep", action="store_true", help="keep the DB file afterwards")
    parser.add_argument("--sync", default="FULL", type=str.upper, choices=["FULL", "NORMAL"])
    parser.add_argument("--retrieve-seconds", type=float, default=5.0, help="wrk retrieves per type (5 s)")
    parser.add_argument("--create-seconds", type=float, default=3.0, help="wrk single creates (3 s)")
    parser.add_argument("--batch-seconds", type=float, default=3.0, help="wrk batch upserts of 100 (3 s)")
    parser.add_argument("--queries", type=int, default=20, help="type queries, limit=100 (20)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--limit-mb", type=float, default=200.0)
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    console = Console(stderr=True)
    tmp = None
    if opts.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="boulevard-rss-")
        db = Path(tmp.name) / "rss.db"
    else:
        db = opts.db
    result: dict[str, Any] = {"machine": machine(), "count": opts.count, "db": str(db)}
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as progress:
            if not opts.reuse:
                for suffix in ("", "-wal", "-shm"):
                    Path(str(db) + suffix).unlink(missing_ok=True)
                seconds = load(db, opts.count, progress)
                result["load_seconds"] = round(seconds, 1)
                result["load_entities_per_s"] = round(opts.count / seconds)
                console.print(f"loaded {opts.count:,} entities in {seconds:.0f} s ({opts.count / seconds:,.0f}/s)")
            marks: dict[str, dict[str, float]] = {}
            port = free_port()
            with Server("broker", broker_command(db, port, opts.sync), port, db.with_suffix(".log")) as server:
                marks["started"] = rss(server)
                result["requests"] = exercise(server, opts.count, opts, progress, marks)
                time.sleep(0.5)
                marks["end"] = rss(server)
            result["rss"] = {k: {m: round(v, 1) for m, v in d.items()} for k, d in marks.items()}
            result["db_mb"] = {k: round(v, 1) for k, v in db_size_mb(db).items()}
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        console.print(f"[red]failed:[/] {exc}")
        if opts.json:
            print(json.dumps({**result, "ok": False, "error": str(exc)}, indent=2))
        return 1
    finally:
        if tmp is not None and not opts.keep:
            tmp.cleanup()
    peak = result["rss"]["end"]["peak_mb"]
    result["peak_rss_mb"] = peak
    result["limit_mb"] = opts.limit_mb
    result["met"] = peak < opts.limit_mb
    result["ok"] = True
    if opts.json:
        print(json.dumps(result, indent=2))
    else:
        table = Table(title=f"broker memory with {opts.count:,} entities (sync {opts.sync})")
        table.add_column("after")
        table.add_column("VmRSS MB", justify="right")
        table.add_column("peak VmHWM MB", justify="right")
        for phase, values in result["rss"].items():
            table.add_row(phase, f"{values['rss_mb']:.1f}", f"{values['peak_mb']:.1f}")
        out = Console()
        out.print(table)
        sizes = result["db_mb"]
        out.print(f"DB: {sizes['db']:.0f} MB (+ WAL {sizes['db_wal']:.1f} MB, shm {sizes['db_shm']:.1f} MB); "
                  f"requests: {result['requests']}")
        verdict = "[green]met[/]" if result["met"] else "[red]missed[/]"
        out.print(f"peak RSS {peak:.1f} MB, target < {opts.limit_mb:.0f} MB: {verdict}")
    return 0 if result["met"] else 3


if __name__ == "__main__":
    sys.exit(main())
