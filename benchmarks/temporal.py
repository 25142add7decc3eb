"""History (the Temporal API): ingest throughput and query latency, each beside its floor.

1. **Ingest.** ``boulevard serve`` on a fresh DB; E entities (default 1,000), each
   with K numeric Property attributes carrying ``observedAt`` (default 10), are
   sent as ``POST /entityOperations/upsert`` batches of 100 by C concurrent
   clients (default 8, like run.py's batch runs). A first round creates the
   entities (not timed); then R timed rounds (default 20) upsert the same ids with
   new values and a new ``observedAt``, so every upsert records K instances per
   entity. The instances recorded are counted in ``temporal_instances`` before and
   after the timed rounds (not assumed). Two floors, in the same run:

   * **SQL floor** (the one the ratio uses): the same request bodies, in this
     process, with nothing but what recording them cannot avoid: ``orjson.loads``,
     one row per attribute (series id from a dict, ``observedAt`` to µs, the
     instance as JSON; ``to_micros`` is the broker's), multi-row ``INSERT`` (100 rows per statement) into an
     identical ``temporal_instances`` table (``sqlite_history.SCHEMA``, same
     index) with the broker's pragmas and ``synchronous``, one transaction per
     request body. No HTTP, no state.
   * **HTTP floor** (a second row): the same requests, clients and rounds against
     ``floor_app.py``, which stores each entity's document and no history.

2. **Queries.** N entities (default 100) x M instances of ``peopleCount``
   (default 43,200: 30 days of one value a minute, 4.32 M rows) are written through
   the store (``SqliteStore.submit`` of one ``SqliteWriter.add_history`` job per
   entity with its whole series, ``synchronous=OFF``, the next series built while
   the writer thread stores the current one), or an existing DB is reused
   (``--db PATH --reuse``). ``boulevard serve`` runs on
   it (``--sync NORMAL``, as query_1m.py) and one request at a time, a random
   entity each, times:

   * ``aggr``: ``GET /temporal/entities/{id}?attrs=peopleCount&options=aggregatedValues
     &aggrMethods=avg,max&aggrPeriodDuration=PT1H&timerel=between`` from day 20 to day 27
     (7 days: 10,080 instances, 168 hourly periods); target median <= 50 ms;
   * ``lastN``: ``GET /temporal/entities/{id}?attrs=peopleCount&lastN=100``;
     target median <= 10 ms.

   Floors, timed right after each request on the same entity: the SQL run directly
   with sqlite3 in this process on the same file (the series id looked up first,
   as the broker must): for ``aggr`` ``SELECT observed_at / 3600000000, avg(num),
   max(num) ... GROUP BY 1`` over the window (also reported: fetching
   ``observed_at, num`` and bucketing in Python); for ``lastN`` ``SELECT ... ORDER
   BY observed_at DESC LIMIT 100`` with every ``doc`` decoded by orjson.

``boulevard serve --history-page`` (instances per attribute in one answer, default
10,000; aggregations are not cut) is above lastN=100, so the query runs use the
defaults; ``--serve-arg`` passes extra options to ``boulevard serve``.

    .venv/bin/python benchmarks/temporal.py --quick                 # smoke run, < 30 s
    .venv/bin/python benchmarks/temporal.py                         # full: about 70 s (45 s of it loading 4.32 M rows)
    .venv/bin/python benchmarks/temporal.py --db /tmp/hist.db --keep   # then --reuse next time
    .venv/bin/python benchmarks/temporal.py --db /tmp/hist.db --reuse --skip-ingest --json

Exit status: 0 when every request succeeded and every count checked out, 1
otherwise, 3 with --check-targets when a median misses its target.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
from benchlib import BASE, Server, broker_command, cpu_calibration_ms, floor_command, free_port, machine
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from boulevard.ngsild.context import ContextCache
from boulevard.storage.base import TemporalHead
from boulevard.storage.sqlite import SqliteStore
from boulevard.storage.sqlite_history import SCHEMA
from boulevard.timestamps import now_micros, to_micros

UPSERT = f"{BASE}/entityOperations/upsert"
TEMPORAL = f"{BASE}/temporal/entities"
RESERVED_PORT = 1026
HOUR_US = 3_600_000_000
MINUTE = timedelta(minutes=1)
LOAD_START = datetime(2026, 4, 1, tzinfo=UTC)  # the query data: one value a minute from here
INGEST_START = datetime(2026, 5, 1, tzinfo=UTC)  # ingest rounds: one hour apart from here
SQL_ROWS_PER_INSERT = 100
TARGETS_MS = {"aggr": 50.0, "lastN": 10.0}


class BenchError(RuntimeError):
    pass


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def port() -> int:
    chosen = free_port()
    while chosen == RESERVED_PORT:
        chosen = free_port()
    return chosen


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def pct(xs: list[float], p: int) -> float:
    return statistics.quantiles(xs, n=100)[p - 1] if len(xs) > 1 else xs[0]


def time_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


# --- 1. ingest ----------------------------------------------------------------------------
def ingest_bodies(entities: int, attrs: int, batch: int, rounds: int) -> list[list[bytes]]:
    """The request bodies of each round (round 0 creates the entities): every entity gets new
    values and its own ``observedAt`` (rounds an hour apart, entities a second apart)."""
    rng = random.Random(11)
    names = [f"reading{k}" for k in range(attrs)]
    out: list[list[bytes]] = []
    for rnd in range(rounds + 1):
        bodies = []
        for start in range(0, entities, batch):
            docs = []
            for i in range(start, min(entities, start + batch)):
                at = iso(INGEST_START + timedelta(hours=rnd, seconds=i))
                doc: dict[str, Any] = {"id": f"urn:ngsi-ld:CrowdFlowObserved:temporal-{i:05d}",
                                       "type": "CrowdFlowObserved"}
                for name in names:
                    doc[name] = {"type": "Property", "value": round(rng.uniform(0, 400), 2), "observedAt": at}
                docs.append(doc)
            bodies.append(orjson.dumps(docs))
        out.append(bodies)
    return out


def post_all(url: str, bodies: list[bytes], clients: int, advance: Callable[[], None]) -> float:
    """POST every body to the upsert endpoint from `clients` threads (one connection each);
    the seconds from the first request to the last answer. Raises BenchError on any non-2xx."""
    lock = threading.Lock()
    todo = iter(bodies)
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=300.0, headers={"Content-Type": "application/json"}) as client:
            while not errors:
                with lock:
                    body = next(todo, None)
                if body is None:
                    return
                try:
                    resp = client.post(UPSERT, content=body)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return
                if resp.status_code not in (200, 201, 204):
                    errors.append(f"{resp.status_code}: {resp.text[:300]}")
                    return
                advance()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise BenchError(f"upsert failed: {errors[0]}")
    return elapsed


def count_instances(db: Path) -> int:
    conn = sqlite3.connect(str(db))
    try:
        return int(conn.execute("SELECT count(*) FROM temporal_instances").fetchone()[0])
    finally:
        conn.close()


def connect(db: Path, synchronous: str) -> sqlite3.Connection:
    """A connection with the broker's pragmas (``storage.sqlite._connect``, writer)."""
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-16000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA wal_autocheckpoint=4000")
    return conn


def sql_floor(db: Path, rounds: list[list[bytes]], synchronous: str, advance: Callable[[], None]) -> tuple[float, int]:
    """Record the instances of the timed rounds' bodies straight into an identical table:
    (seconds, rows counted in the table afterwards)."""
    conn = connect(db, synchronous)
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    head = ("INSERT INTO temporal_instances (sid, observed_at, created_at, modified_at, deleted_at, dataset_id,"
            " num, doc) VALUES ")
    full = head + ",".join(["(?,?,?,?,?,?,?,?)"] * SQL_ROWS_PER_INSERT)
    sids: dict[tuple[str, str], int] = {}
    started = time.perf_counter()
    for bodies in rounds:
        for body in bodies:
            now = now_micros()
            values: list[Any] = []
            for entity in orjson.loads(body):
                eid = entity["id"]
                for name, attr in entity.items():
                    if name == "id" or name == "type":
                        continue
                    sid = sids.get((eid, name))
                    if sid is None:
                        sid = sids[(eid, name)] = len(sids) + 1
                    value = attr.get("value")
                    num = value if value.__class__ is float or value.__class__ is int else None
                    values += (sid, to_micros(attr["observedAt"]), now, now, None, None, num, orjson.dumps(attr))
            conn.execute("BEGIN IMMEDIATE")
            step = 8 * SQL_ROWS_PER_INSERT
            for start in range(0, len(values), step):
                chunk = values[start : start + step]
                sql = full if len(chunk) == step else head + ",".join(["(?,?,?,?,?,?,?,?)"] * (len(chunk) // 8))
                conn.execute(sql, chunk)
            conn.execute("COMMIT")
            advance()
    elapsed = time.perf_counter() - started
    rows = int(conn.execute("SELECT count(*) FROM temporal_instances").fetchone()[0])
    conn.close()
    return elapsed, rows


@dataclass
class Ingest:
    entities: int
    attrs: int
    batch: int
    rounds: int
    clients: int
    sync: str
    requests: int = 0
    broker_s: float = 0.0
    broker_instances: int = 0  # counted in temporal_instances (timed rounds only)
    http_floor_s: float = 0.0
    sql_floor_s: float = 0.0
    sql_floor_rows: int = 0

    @property
    def expected(self) -> int:
        return self.entities * self.attrs * self.rounds

    def rates(self) -> dict[str, float]:
        return {
            "broker_instances_per_s": self.broker_instances / self.broker_s,
            "broker_entities_per_s": self.entities * self.rounds / self.broker_s,
            "http_floor_instances_per_s": self.expected / self.http_floor_s,
            "sql_floor_instances_per_s": self.sql_floor_rows / self.sql_floor_s,
        }


def run_ingest(opts: argparse.Namespace, workdir: Path, console: Console) -> Ingest:
    res = Ingest(opts.ingest_entities, opts.attrs, opts.batch, opts.rounds, opts.clients, opts.sync)
    rounds = ingest_bodies(res.entities, res.attrs, res.batch, res.rounds)
    timed = rounds[1:]
    res.requests = sum(len(b) for b in timed)
    with progress_bar(console) as progress:
        for app in ("broker", "floor"):
            db = workdir / f"ingest-{app}.db"
            for f in _db_files(db):
                f.unlink(missing_ok=True)
            p = port()
            command = (broker_command(db, p, res.sync) if app == "broker" else floor_command(db, p, res.sync))
            with Server(app, command, p, workdir / f"ingest-{app}.log") as server:
                task = progress.add_task(f"[{app}] creating {res.entities:,} entities", total=len(rounds[0]))
                try:
                    post_all(server.url, rounds[0], res.clients, partial(progress.advance, task))
                    progress.remove_task(task)
                    before = count_instances(db) if app == "broker" else 0
                    task = progress.add_task(f"[{app}] {res.rounds} upsert rounds", total=res.requests)
                    seconds = post_all(server.url, [b for bodies in timed for b in bodies], res.clients,
                                       partial(progress.advance, task))
                    progress.remove_task(task)
                except BenchError as exc:
                    raise BenchError(f"{app}: {exc}\n--- server log ---\n{server.log_tail()}") from exc
            if app == "broker":
                res.broker_s = seconds
                res.broker_instances = count_instances(db) - before
            else:
                res.http_floor_s = seconds
        task = progress.add_task("[sql floor] inserting the same instances", total=res.requests)
        for f in _db_files(workdir / "ingest-sql.db"):
            f.unlink(missing_ok=True)
        res.sql_floor_s, res.sql_floor_rows = sql_floor(workdir / "ingest-sql.db", timed, res.sync,
                                                        partial(progress.advance, task))
    if res.broker_instances != res.expected or res.sql_floor_rows != res.expected:
        raise BenchError(f"instances recorded: broker {res.broker_instances:,}, SQL floor {res.sql_floor_rows:,}; "
                         f"expected {res.expected:,} ({res.entities} entities x {res.attrs} attrs x "
                         f"{res.rounds} rounds)")
    return res


# --- 2. queries: the data -----------------------------------------------------------------
def series_id(i: int) -> str:
    return f"urn:ngsi-ld:CrowdFlowObserved:history-{i:04d}"


def people_table(days: int, rng: random.Random) -> list[float]:
    """`days` days of peopleCount, one a minute: a day's rhythm (busy afternoons) with noise."""
    out = []
    for m in range(days * 1440):
        rhythm = math.sin(2 * math.pi * ((m % 1440) - 540) / 1440)
        out.append(round(max(0.0, 180 + 150 * rhythm + rng.gauss(0, 20)), 1))
    return out


def load_history(db: Path, entities: int, per_entity: int, progress: Progress) -> float:
    """Write the instances through boulevard's store: one ``add_history`` write job per entity
    with its whole series (an entity's later jobs would first look up, instance by instance,
    a recorded one at the same time to replace), the next entity's instances built while
    the writer thread stores the current one. The seconds it took."""
    tm = ContextCache().core
    attr, etype = tm.expand("peopleCount"), tm.expand("CrowdFlowObserved")
    stamps = [iso(LOAD_START + m * MINUTE) for m in range(per_entity)]
    table = people_table(per_entity // 1440 + 32, random.Random(5))
    days = len(table) // 1440 - per_entity // 1440
    store = SqliteStore(str(db), synchronous="OFF")
    task = progress.add_task(f"loading {entities} x {per_entity:,} instances", total=entities * per_entity)
    pending: list[Future[bool]] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of young dicts and no cycles: collections would only rescan them
    started = time.monotonic()
    try:
        now = now_micros()
        for i in range(entities):
            shift = 1440 * (i * 7 % days)  # each series from its own day of the table: same rhythm, other noise
            insts = [{"type": "Property", "value": v, "observedAt": s}
                     for v, s in zip(table[shift : shift + per_entity], stamps, strict=True)]
            head = TemporalHead(series_id(i), [etype], None, now, None)
            pending.append(store.submit("", _history_job(head, {attr: insts}, now), create_tenant=True))
            while len(pending) > 1:  # build the next series while the writer thread stores this one
                pending.pop(0).result()
                progress.advance(task, per_entity)
        for fut in pending:
            fut.result()
            progress.advance(task, per_entity)
    finally:
        store.close()
        if gc_was_enabled:
            gc.enable()
    progress.remove_task(task)
    return time.monotonic() - started


def _history_job(head: TemporalHead, attrs: dict[str, list[dict[str, Any]]], now: int) -> Callable[[Any], bool]:
    def job(w: Any) -> bool:
        created: bool = w.add_history(head, attrs, now)
        return created

    return job


def check_loaded(db: Path, entities: int, per_entity: int) -> None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT count(*), count(DISTINCT sid), min(observed_at), max(observed_at) FROM temporal_instances"
        ).fetchone()
    finally:
        conn.close()
    first = to_micros(iso(LOAD_START))
    want = (entities * per_entity, entities, first, first + (per_entity - 1) * 60_000_000)
    if tuple(found) != want:
        raise BenchError(f"{db} holds (rows, series, first, last) = {tuple(found)}, expected {want}: "
                         "load it again (without --reuse) or pass the matching --entities/--instances/--quick")


# --- 2. queries: the measurements ---------------------------------------------------------
@dataclass
class Scenario:
    key: str
    title: str
    floor_title: str
    broker_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    alt_floor_ms: list[float] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        b, f = statistics.median(self.broker_ms), statistics.median(self.floor_ms)
        out = {
            "scenario": self.key, "title": self.title, "floor": self.floor_title, "requests": len(self.broker_ms),
            "broker_median_ms": round(b, 2), "broker_p95_ms": round(pct(self.broker_ms, 95), 2),
            "floor_median_ms": round(f, 2), "floor_p95_ms": round(pct(self.floor_ms, 95), 2),
            "ratio_floor_to_broker": round(f / b, 3), "mean_returned": statistics.mean(self.returned),
            "target_ms": TARGETS_MS[self.key], "met": b <= TARGETS_MS[self.key],
        }
        if self.alt_floor_ms:
            out["python_floor_median_ms"] = round(statistics.median(self.alt_floor_ms), 2)
            out["python_floor_p95_ms"] = round(pct(self.alt_floor_ms, 95), 2)
        return out


class SqlFloors:
    """The reads the broker's temporal retrieve cannot avoid, run directly on the same file."""

    def __init__(self, db: Path, attr: str) -> None:
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        self.conn.execute("PRAGMA cache_size=-16000")
        self.attr = attr

    def sid(self, entity_id: str) -> int:
        row = self.conn.execute("SELECT sid FROM temporal_series WHERE tenant = '' AND entity_id = ? AND attr = ?",
                                (entity_id, self.attr)).fetchone()
        return int(row[0])

    def hourly_sql(self, entity_id: str, lo: int, hi: int) -> int:
        rows = self.conn.execute(
            f"SELECT observed_at / {HOUR_US}, avg(num), max(num) FROM temporal_instances"
            " WHERE sid = ? AND observed_at >= ? AND observed_at < ? GROUP BY 1",
            (self.sid(entity_id), lo, hi),
        ).fetchall()
        return len(rows)

    def hourly_python(self, entity_id: str, lo: int, hi: int) -> int:
        buckets: dict[int, list[float]] = {}  # hour -> [sum, count, max]
        for ts, num in self.conn.execute(
            "SELECT observed_at, num FROM temporal_instances WHERE sid = ? AND observed_at >= ? AND observed_at < ?",
            (self.sid(entity_id), lo, hi),
        ):
            b = buckets.get(ts // HOUR_US)
            if b is None:
                buckets[ts // HOUR_US] = [num, 1, num]
            else:
                b[0] += num
                b[1] += 1
                if num > b[2]:
                    b[2] = num
        return len({h: (s / n, m) for h, (s, n, m) in buckets.items()})

    def last_n(self, entity_id: str, n: int) -> int:
        rows = self.conn.execute(
            "SELECT iid, observed_at, created_at, modified_at, deleted_at, doc FROM temporal_instances"
            " WHERE sid = ? ORDER BY observed_at DESC LIMIT ?",
            (self.sid(entity_id), n),
        ).fetchall()
        return len([(iid, obs, cre, mod, dele, orjson.loads(doc)) for iid, obs, cre, mod, dele, doc in rows])

    def close(self) -> None:
        self.conn.close()


def window(per_entity: int) -> tuple[datetime, datetime]:
    """Day 20 to day 27 of 30, on whole hours, scaled to the series' span."""
    hours = per_entity // 60
    return LOAD_START + timedelta(hours=hours * 2 // 3), LOAD_START + timedelta(hours=hours * 9 // 10)


def run_queries(db: Path, opts: argparse.Namespace, workdir: Path, console: Console) -> list[Scenario]:
    tm = ContextCache().core
    floors = SqlFloors(db, tm.expand("peopleCount"))
    lo_at, hi_at = window(opts.instances)
    lo, hi = to_micros(iso(lo_at)), to_micros(iso(hi_at))
    periods = (hi - lo) // HOUR_US
    aggr_params = {"attrs": "peopleCount", "options": "aggregatedValues", "aggrMethods": "avg,max",
                   "aggrPeriodDuration": "PT1H", "timerel": "between", "timeAt": iso(lo_at), "endTimeAt": iso(hi_at)}
    last_params = {"attrs": "peopleCount", "lastN": "100"}
    span = f"{(hi_at - lo_at) / timedelta(days=1):g} days" if periods >= 24 else f"{periods} h"
    aggr = Scenario("aggr", f"aggregated avg,max PT1H over {span} ({periods} periods)",
                    "SQL GROUP BY hour (+ sid lookup)")
    last = Scenario("lastN", "lastN=100", "SQL ORDER BY observed_at DESC LIMIT 100, docs decoded (+ sid lookup)")
    rng = random.Random(9)
    p = port()
    command = [*broker_command(db, p, "NORMAL"), *opts.serve_arg]
    with Server("broker", command, p, workdir / "query-broker.log") as server, httpx.Client(
        base_url=server.url, timeout=60.0
    ) as client:
        def get(entity_id: str, params: dict[str, str]) -> Any:
            resp = client.get(f"{TEMPORAL}/{entity_id}", params=params)
            if resp.status_code not in (200, 206):
                raise BenchError(f"GET temporal {entity_id} {params}: {resp.status_code} {resp.text[:300]}"
                                 f"\n--- server log ---\n{server.log_tail()}")
            return resp

        for i in range(min(3, opts.entities)):  # warm up: connection, caches, first-request imports
            get(series_id(i), aggr_params)
            get(series_id(i), last_params)
        with progress_bar(console) as progress:
            task = progress.add_task("temporal queries", total=2 * opts.requests)
            for _ in range(opts.requests):
                eid = series_id(rng.randrange(opts.entities))
                ms, resp = time_ms(partial(get, eid, aggr_params))
                aggr.broker_ms.append(ms)
                shown = resp.json().get("peopleCount", {})
                aggr.returned.append(len(shown.get("avg", [])))
                if len(shown.get("avg", [])) != periods or len(shown.get("max", [])) != periods:
                    raise BenchError(f"aggregated {eid}: {len(shown.get('avg', []))} avg and "
                                     f"{len(shown.get('max', []))} max periods, expected {periods}")
                ms, groups = time_ms(partial(floors.hourly_sql, eid, lo, hi))
                aggr.floor_ms.append(ms)
                ms, groups_py = time_ms(partial(floors.hourly_python, eid, lo, hi))
                aggr.alt_floor_ms.append(ms)
                if groups != periods or groups_py != periods:
                    raise BenchError(f"floor of {eid}: {groups} / {groups_py} hours, expected {periods}")
                progress.advance(task)

                eid = series_id(rng.randrange(opts.entities))
                ms, resp = time_ms(partial(get, eid, last_params))
                last.broker_ms.append(ms)
                last.returned.append(len(resp.json().get("peopleCount", [])))
                ms, rows = time_ms(partial(floors.last_n, eid, 100))
                last.floor_ms.append(ms)
                if rows != min(100, opts.instances):
                    raise BenchError(f"floor of {eid}: {rows} instances")
                progress.advance(task)
    floors.close()
    return [aggr, last]


# --- the report ---------------------------------------------------------------------------
def render(result: dict[str, Any]) -> Table:
    facts, ing, rows = result["machine"], result.get("ingest"), result.get("queries", [])
    caption = [f"{facts['nproc']} cores ({facts['cpu_model']}), Python {facts['python']}, revision "
               f"{facts['revision']}; calibration loop {result['calibration_ms']:.1f} ms (lower is a faster host)."]
    table = Table(title="boulevard history: broker beside its floor, same run")
    for col in ("measurement", "result", "floor", "ratio", "target", "met?"):
        table.add_column(col, justify="left" if col in ("measurement", "floor") else "right")
    if ing is not None:
        r = ing["rates"]
        what = (f"ingest: batch upsert of {ing['batch']} entities x {ing['attrs']} attrs (observedAt), "
                f"{ing['clients']} clients, {ing['rounds']} rounds, sync {ing['sync']}")
        table.add_row(what, f"{r['broker_instances_per_s']:,.0f} inst/s\n({r['broker_entities_per_s']:,.0f} ent/s)",
                      f"{r['sql_floor_instances_per_s']:,.0f} inst/s\nSQL insert, identical table",
                      f"{r['broker_instances_per_s'] / r['sql_floor_instances_per_s']:.0%}", "-", "-")
        table.add_row("  same requests, HTTP floor (floor_app: state only, no history)", "",
                      f"{r['http_floor_instances_per_s']:,.0f} inst/s carried",
                      f"{r['broker_instances_per_s'] / r['http_floor_instances_per_s']:.0%}", "-", "-")
        caption.append(f"ingest: {ing['broker_instances']:,} instances counted in temporal_instances "
                       f"({ing['entities']:,} entities x {ing['attrs']} x {ing['rounds']}) in "
                       f"{ing['broker_seconds']:.2f} s.")
    if result.get("load_seconds"):
        caption.append(f"query data loaded through SqliteStore.add_history: {result['rows']:,} rows in "
                       f"{result['load_seconds']:.1f} s ({result['rows'] / result['load_seconds']:,.0f} rows/s).")
    for q in rows:
        table.add_row(
            f"{q['title']}, {q['requests']} requests, {result['entities']} x {result['instances']:,} instances",
            f"{q['broker_median_ms']:.2f} / {q['broker_p95_ms']:.2f} ms",
            f"{q['floor_median_ms']:.2f} / {q['floor_p95_ms']:.2f} ms\n{q['floor']}",
            f"{q['ratio_floor_to_broker']:.0%}", f"median <= {q['target_ms']:g} ms",
            "[green]yes[/]" if q["met"] else "[red]no[/]",
        )
        if "python_floor_median_ms" in q:
            caption.append(f"{q['scenario']}: fetching (observed_at, num) and bucketing in Python takes "
                           f"{q['python_floor_median_ms']:.2f} / {q['python_floor_p95_ms']:.2f} ms.")
    caption.append("Latencies: median / p95, one request at a time. Ratio: the broker's speed as a share of the "
                   "floor's (100% = as fast as the floor).")
    table.caption = "\n".join(caption)
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: ingest 200 entities x 5 rounds, query 5 x 2,000 instances, 10 requests")
    ingest = parser.add_argument_group("ingest")
    ingest.add_argument("--ingest-entities", type=int, default=None, help="entities upserted per round (1,000)")
    ingest.add_argument("--attrs", type=int, default=10, help="numeric attributes per entity, K (10)")
    ingest.add_argument("--batch", type=int, default=100, help="entities per upsert request (100)")
    ingest.add_argument("--rounds", type=int, default=None, help="timed upsert rounds (20)")
    ingest.add_argument("--clients", type=int, default=None, help="concurrent clients (8)")
    ingest.add_argument("--sync", default="FULL", type=str.upper, choices=["FULL", "NORMAL"],
                        help="synchronous mode of the ingest runs, broker and floors (FULL, the broker's default)")
    ingest.add_argument("--skip-ingest", action="store_true")
    query = parser.add_argument_group("queries")
    query.add_argument("--entities", type=int, default=None, help="entities with history (100)")
    query.add_argument("--instances", type=int, default=None, help="instances per entity, one a minute (43,200)")
    query.add_argument("--requests", type=int, default=None, help="timed requests per query (50)")
    query.add_argument("--db", type=Path, default=None, help="DB file for the query data (default: temporary)")
    query.add_argument("--keep", action="store_true", help="keep --db after the run")
    query.add_argument("--reuse", action="store_true", help="--db already holds the query data")
    query.add_argument("--serve-arg", action="append", default=[],
                       help="extra option for `boulevard serve` in the query runs (repeatable)")
    query.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the ingest DBs and server logs here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--check-targets", action="store_true", help="exit 3 when a target is missed")
    opts = parser.parse_args(argv)
    sizes = {"ingest_entities": (1_000, 200), "rounds": (20, 5), "clients": (8, 4), "entities": (100, 5),
             "instances": (43_200, 2_000), "requests": (50, 10)}
    for name, (full, quick) in sizes.items():
        if getattr(opts, name) is None:
            setattr(opts, name, quick if opts.quick else full)
    if opts.reuse and opts.db is None:
        parser.error("--reuse needs --db")
    if opts.instances < 120:
        parser.error("--instances: at least 120 (two hours)")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    console = Console(stderr=opts.json)
    facts = machine()
    calibration = cpu_calibration_ms()
    console.print(f"[bold]machine[/]: {facts['nproc']} cores (os.cpu_count()), {facts['cpu_model']}, Python "
                  f"{facts['python']}, load {' '.join(facts['loadavg'])}, calibration loop {calibration:.1f} ms")
    result: dict[str, Any] = {"machine": facts, "calibration_ms": round(calibration, 2), "entities": opts.entities,
                              "instances": opts.instances, "rows": opts.entities * opts.instances}
    tmp = tempfile.TemporaryDirectory(prefix="boulevard-temporal-")
    workdir = opts.workdir or Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    db = opts.db or workdir / "history.db"
    try:
        if not opts.skip_ingest:
            ing = run_ingest(opts, workdir, console)
            result["ingest"] = {
                "entities": ing.entities, "attrs": ing.attrs, "batch": ing.batch, "rounds": ing.rounds,
                "clients": ing.clients, "sync": ing.sync, "requests": ing.requests,
                "broker_instances": ing.broker_instances, "broker_seconds": round(ing.broker_s, 3),
                "http_floor_seconds": round(ing.http_floor_s, 3), "sql_floor_seconds": round(ing.sql_floor_s, 3),
                "rates": {k: round(v, 1) for k, v in ing.rates().items()},
            }
            console.print(f"ingest: {ing.broker_instances:,} instances in {ing.broker_s:.2f} s "
                          f"({ing.rates()['broker_instances_per_s']:,.0f}/s); SQL floor {ing.sql_floor_s:.2f} s, "
                          f"HTTP floor {ing.http_floor_s:.2f} s")
        if not opts.skip_queries:
            if not opts.reuse:
                for f in _db_files(db):
                    f.unlink(missing_ok=True)
                with progress_bar(console) as progress:
                    result["load_seconds"] = round(load_history(db, opts.entities, opts.instances, progress), 2)
                console.print(f"loaded {result['rows']:,} instances in {result['load_seconds']:.1f} s "
                              f"({result['rows'] / result['load_seconds']:,.0f} rows/s)")
            check_loaded(db, opts.entities, opts.instances)
            result["queries"] = [s.row() for s in run_queries(db, opts, workdir, console)]
    except (BenchError, RuntimeError, OSError, httpx.HTTPError, sqlite3.Error) as exc:
        console.print(f"[red]benchmark failed:[/] {exc}")
        if opts.json:
            print(json.dumps({"ok": False, "error": str(exc), "machine": facts}, indent=2))
        return 1
    finally:
        if opts.db is not None and not opts.keep and not opts.reuse:
            for f in _db_files(db):
                f.unlink(missing_ok=True)
        tmp.cleanup()
    if opts.json:
        print(json.dumps({"ok": True, **result}, indent=2))
    else:
        out = Console()
        out.width = max(out.width, 150)
        out.print(render(result))
    missed = [q["scenario"] for q in result.get("queries", []) if not q["met"]]
    if opts.check_targets and missed:
        return 3
    return 0


def _db_files(db: Path) -> Iterator[Path]:
    yield from (db, Path(f"{db}-wal"), Path(f"{db}-shm"))


if __name__ == "__main__":
    sys.exit(main())
