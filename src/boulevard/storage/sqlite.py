"""SQLite store: one file in WAL mode, one writer thread, many readers.

All writes go through a queue to one dedicated thread, which takes every job
waiting, runs each inside its own SAVEPOINT (a failing job rolls back alone)
and commits them together: group commit, so durability (``synchronous=FULL``)
costs one fsync per batch rather than per request. A job's future resolves
only after its COMMIT, so an acknowledged write is on disk.

Reads use per-thread connections and never wait for the writer (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from boulevard.errors import NonexistentTenant
from boulevard.storage import sqlite_history as hist
from boulevard.storage.base import (
    DEFAULT_TENANT,
    SCOPE,
    AllOf,
    AttrCond,
    AttrEquals,
    Entity,
    EntityFilter,
    GeoBox,
    HasAttr,
    HistoryInstance,
    HistoryQuery,
    TemporalHead,
)
from boulevard.timestamps import micros_or_none, now_micros

T = TypeVar("T")
MAX_BATCH = 512

MIGRATIONS: tuple[str, ...] = (
    # 1: entities, their types, tenants
    """
    CREATE TABLE tenants (name TEXT PRIMARY KEY, created_at TEXT NOT NULL DEFAULT (datetime('now')));
    CREATE TABLE entities (
        tenant TEXT NOT NULL,
        id     TEXT NOT NULL,
        doc    BLOB NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE entity_types (
        tenant TEXT NOT NULL,
        type   TEXT NOT NULL,
        id     TEXT NOT NULL,
        PRIMARY KEY (tenant, type, id)
    ) WITHOUT ROWID;
    """,
    # 2: find an entity's type rows without scanning the tenant (updates, deletes)
    """
    CREATE INDEX entity_types_by_id ON entity_types (tenant, id);
    """,
    # 3: Hosted @contexts (POST /jsonldContexts) survive restarts
    """
    CREATE TABLE contexts (
        id         TEXT PRIMARY KEY,
        tenant     TEXT NOT NULL,
        body       BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # 4: a spatial index of every GeoProperty instance: the grid cells it touches, each row with
    # the geometry's bounding box (exact tests in memory). A B-tree of cells costs a few
    # microseconds per write where an R*Tree costs ~40.
    """
    CREATE TABLE geo_cells (
        tenant  TEXT NOT NULL,
        cell    INTEGER NOT NULL,
        id      TEXT NOT NULL,
        attr    TEXT NOT NULL,
        min_lon REAL NOT NULL,
        min_lat REAL NOT NULL,
        max_lon REAL NOT NULL,
        max_lat REAL NOT NULL,
        PRIMARY KEY (tenant, attr, cell, id)
    ) WITHOUT ROWID;
    CREATE INDEX geo_cells_by_id ON geo_cells (tenant, id);
    """,
    # 5: history of every attribute instance (the Temporal API), see storage.sqlite_history
    hist.SCHEMA,
)
# migrations that also rewrite data: run after the schema step of the same number
BACKFILLS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def _connect(path: str, *, writer: bool, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-16000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    if writer:
        conn.execute("PRAGMA wal_autocheckpoint=4000")
    return conn


_regex_cache: dict[str, re.Pattern[str]] = {}


def _regexp(pattern: str, value: str) -> bool:
    rx = _regex_cache.get(pattern)
    if rx is None:
        rx = re.compile(pattern)
        if len(_regex_cache) > 256:
            _regex_cache.clear()
        _regex_cache[pattern] = rx
    return rx.search(value) is not None


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in script.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            if number in BACKFILLS:
                BACKFILLS[number](conn)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _filter_sql(tenant: str, flt: EntityFilter, what: str) -> tuple[str, list[Any]]:
    """SQL selecting the filter's entities as ``e``, in id order when ``what`` is not a count.

    One type: walk that type's index rows in id order (LIMIT stops early). Several:
    walk entities in id order with an index probe per row. A geo box starts from the
    grid index instead, which is the most selective.
    """
    params: list[Any] = []
    where: list[str] = []
    order = "e.id"
    ranges = None if flt.geo is None else cell_ranges(flt.geo)
    if flt.geo is not None and ranges is not None:
        g = flt.geo
        # the grid cells under the box, then each hit's row by primary key (CROSS JOIN keeps that order)
        # one index range scan per grid column (a VALUES list driving the join), plus the wide cell
        spans = ",".join(["(?, ?)"] * (len(ranges) + 1))
        source = (
            f"(SELECT DISTINCT gc.id FROM (VALUES {spans}) r CROSS JOIN geo_cells gc"
            " ON gc.tenant = ? AND gc.attr = ? AND gc.cell BETWEEN r.column1 AND r.column2"
            " WHERE gc.min_lon <= ? AND gc.max_lon >= ? AND gc.min_lat <= ? AND gc.max_lat >= ?)"
            " hit CROSS JOIN entities e ON e.id = hit.id"
        )
        params += [*(v for r in ranges for v in r), WIDE_CELL, WIDE_CELL, tenant, g.attr,
                   g.max_lon, g.min_lon, g.max_lat, g.min_lat]
        where.append("e.tenant = ?")
        params.append(tenant)
        if flt.types:
            where.append(_has_type_sql(flt.types, params))
    elif flt.types and len(flt.types) == 1:
        source = "entity_types t JOIN entities e ON e.tenant = t.tenant AND e.id = t.id"
        where += ["t.tenant = ?", "t.type = ?"]
        params += [tenant, flt.types[0]]
        order = "t.id"  # the type index's own order: no sort, and LIMIT stops the walk
    else:
        source = "entities e"
        where.append("e.tenant = ?")
        params.append(tenant)
        if flt.types:
            where.append(_has_type_sql(flt.types, params))
    if flt.ids:
        where.append(f"e.id IN ({','.join('?' * len(flt.ids))})")
        params += flt.ids
    if flt.id_pattern:
        where.append("regexp(?, e.id)")
        params.append(flt.id_pattern)
    if flt.attrs is not None:
        where.append(_attr_sql(flt.attrs, params))
    sql = f"SELECT {what} FROM {source} WHERE {' AND '.join(where)}"
    if not what.startswith("count("):
        sql += f" ORDER BY {order}"
    return sql, params


def _has_type_sql(types: tuple[str, ...], params: list[Any]) -> str:
    """The entity ``e`` has one of ``types`` (an index probe per row)."""
    params.extend(types)
    return (
        "EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant = e.tenant AND t.id = e.id"
        f" AND t.type IN ({','.join('?' * len(types))}))"
    )


def _attr_sql(cond: AttrCond, params: list[Any]) -> str:
    """SQL (JSON1 on the stored document) for a necessary condition on attributes.

    The document goes through CAST(... AS TEXT): SQLite 3.45+ would read a BLOB as JSONB.
    """
    if isinstance(cond, HasAttr):
        params.append(_attr_path(cond.attr))
        return "json_type(CAST(e.doc AS TEXT), ?) IS NOT NULL"
    if isinstance(cond, AttrEquals):
        params.append(_attr_path(cond.attr))
        params.extend(cond.values)
        return (
            "EXISTS (SELECT 1 FROM json_each(CAST(e.doc AS TEXT), ?) i"
            " WHERE json_extract(i.value, '$.type') IS NOT 'Property'"
            " OR json_type(i.value, '$.value') NOT IN ('text', 'integer', 'real', 'true', 'false')"
            f" OR json_extract(i.value, '$.value') IN ({','.join('?' * len(cond.values))}))"
        )
    joiner = " AND " if isinstance(cond, AllOf) else " OR "
    return "(" + joiner.join(_attr_sql(t, params) for t in cond.terms) + ")"


def _attr_path(attr: str) -> str:
    return f'$.attrs."{attr}"'  # attribute names never hold '"' (model.check_name)


def scan_sql(tenant: str, flt: EntityFilter, *, offset: int = 0, limit: int | None = None) -> tuple[str, list[Any]]:
    """The statement ``SqliteReader.scan`` runs (benchmarks time it directly as a floor)."""
    page = None if limit is None and not offset else (-1 if limit is None else limit, offset)
    if page is not None and flt.types and len(flt.types) == 1 and flt == EntityFilter(types=flt.types):
        # only a type: page through the type index alone (an OFFSET skips index entries,
        # not joined documents), then fetch the page's documents
        sql = (
            "SELECT e.doc FROM (SELECT id FROM entity_types WHERE tenant = ? AND type = ? ORDER BY id"
            " LIMIT ? OFFSET ?) t CROSS JOIN entities e ON e.tenant = ? AND e.id = t.id ORDER BY t.id"
        )
        return sql, [tenant, flt.types[0], *page, tenant]
    sql, params = _filter_sql(tenant, flt, "e.doc")
    if page is not None:
        sql += " LIMIT ? OFFSET ?"
        params += list(page)
    return sql, params


# --- the spatial index ---------------------------------------------------------------------
def _bounds(coords: Any) -> tuple[float, float, float, float] | None:
    """(min_lon, min_lat, max_lon, max_lat) of GeoJSON coordinates, any nesting."""
    xs: list[float] = []
    ys: list[float] = []
    stack = [coords]
    while stack:
        c = stack.pop()
        if isinstance(c, list) and c and isinstance(c[0], (int, float)) and not isinstance(c[0], bool):
            if len(c) >= 2 and isinstance(c[1], (int, float)):
                xs.append(float(c[0]))
                ys.append(float(c[1]))
        elif isinstance(c, list):
            stack.extend(c)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def geo_rows(entity: Entity) -> list[tuple[str, float, float, float, float]]:
    """(attr, min_lon, min_lat, max_lon, max_lat) for every GeoProperty instance of an entity."""
    rows = []
    for attr, instances in entity["attrs"].items():
        for inst in instances:
            value = inst.get("value")
            if inst.get("type") == "GeoProperty" and isinstance(value, dict):
                box = _bounds(value.get("coordinates"))
                if box is not None:
                    rows.append((attr, *box))
    return rows


# The grid: cells of CELL_DEG degrees, numbered column * 2**17 + row (rows < 36,000 < 2**17).
# A geometry whose box spans more than MAX_CELLS cells is filed under WIDE_CELL, which every
# geo-query reads; a query box spanning more than MAX_COLUMNS columns does not use the grid.
CELL_DEG = 0.005
ROW_BITS = 17
MAX_CELLS = 64
MAX_COLUMNS = 64
WIDE_CELL = -1


def _col(lon: float) -> int:
    return int((min(max(lon, -180.0), 180.0) + 180.0) / CELL_DEG)


def _row(lat: float) -> int:
    return int((min(max(lat, -90.0), 90.0) + 90.0) / CELL_DEG)


def _cells(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> list[int]:
    c0, c1, r0, r1 = _col(min_lon), _col(max_lon), _row(min_lat), _row(max_lat)
    if (c1 - c0 + 1) * (r1 - r0 + 1) > MAX_CELLS:
        return [WIDE_CELL]
    return [(c << ROW_BITS) + r for c in range(c0, c1 + 1) for r in range(r0, r1 + 1)]


def cell_ranges(box: GeoBox) -> list[tuple[int, int]] | None:
    """The cell-number ranges (one per grid column) under a query box; None: too wide for the grid."""
    c0, c1, r0, r1 = _col(box.min_lon), _col(box.max_lon), _row(box.min_lat), _row(box.max_lat)
    if c1 - c0 + 1 > MAX_COLUMNS:
        return None
    return [((c << ROW_BITS) + r0, (c << ROW_BITS) + r1) for c in range(c0, c1 + 1)]


def _index_geo(conn: sqlite3.Connection, tenant: str, entities: list[Entity]) -> None:
    boxes: dict[tuple[str, str, int], tuple[float, float, float, float]] = {}
    for e in entities:
        for attr, *box in geo_rows(e):
            for cell in _cells(*box):
                key = (e["id"], attr, cell)
                old = boxes.get(key)  # two instances in one cell: one row with both boxes' union
                boxes[key] = tuple(box) if old is None else (  # type: ignore[assignment]
                    min(old[0], box[0]), min(old[1], box[1]), max(old[2], box[2]), max(old[3], box[3])
                )
    rows = [(tenant, cell, eid, attr, *box) for (eid, attr, cell), box in boxes.items()]
    hist.insert_rows(
        conn, "INSERT OR IGNORE INTO geo_cells (tenant, cell, id, attr, min_lon, min_lat, max_lon, max_lat) VALUES ",
        rows,
    )


def _unindex_geo(conn: sqlite3.Connection, tenant: str, entity_id: str) -> None:
    conn.execute("DELETE FROM geo_cells WHERE tenant = ? AND id = ?", (tenant, entity_id))


def _backfill_geo(conn: sqlite3.Connection) -> None:
    for tenant, doc in conn.execute("SELECT tenant, doc FROM entities").fetchall():
        _index_geo(conn, tenant, [orjson.loads(doc)])


BACKFILLS[4] = _backfill_geo


def _backfill_history(conn: sqlite3.Connection) -> None:
    """Entities stored before history existed start their history with their current state."""
    cache = hist.SeriesCache(conn)
    for tenant, doc in conn.execute("SELECT tenant, doc FROM entities").fetchall():
        _record_new(conn, cache, tenant, [orjson.loads(doc)])
    cache.batch_done(False)


BACKFILLS[5] = _backfill_history


def _head_of(entity: Entity) -> TemporalHead:
    return TemporalHead(entity["id"], entity["type"], entity.get("scope"), _stamp(entity.get("createdAt")), None)


def _stamp(text: object) -> int:
    at = micros_or_none(text)
    return now_micros() if at is None else at


# system members kept as attributes that are not part of an entity's history
_NO_HISTORY = frozenset({"https://uri.etsi.org/ngsi-ld/expiresAt"})


def _scope_instance(entity: Entity) -> dict[str, Any]:
    """A scope change as history records it: a Property observed when the entity changed."""
    return {"type": "Property", "value": entity["scope"], "observedAt": entity["modifiedAt"]}


def _record_new(conn: sqlite3.Connection, cache: hist.SeriesCache, tenant: str, entities: list[Entity]) -> None:
    """History of created entities: the entity, and each of its instances."""
    hist.upsert_heads(conn, tenant, [_head_of(e) for e in entities], merge_types=False)
    changes: list[hist.Change] = []
    for e in entities:
        at = _stamp(e.get("modifiedAt"))
        changes += [(e["id"], attr, inst, at, at, None) for attr, insts in e["attrs"].items() for inst in insts
                    if attr not in _NO_HISTORY]
        if e.get("scope"):
            changes.append((e["id"], SCOPE, _scope_instance(e), at, at, None))
    hist.record(conn, cache, tenant, changes)


# what an entity looked like when a writer read it: types, scope, and (attr, datasetId) -> instance type
Seen = tuple[list[str], Any, dict[tuple[str, str | None], str]]


def _seen(entity: Entity) -> Seen:
    return list(entity["type"]), entity.get("scope"), {
        (attr, inst.get("datasetId")): inst.get("type", "Property")
        for attr, insts in entity["attrs"].items() for inst in insts
    }


class SqliteReader:
    def __init__(self, conn: sqlite3.Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant

    def get(self, entity_id: str) -> Entity | None:
        row = self.conn.execute(
            "SELECT doc FROM entities WHERE tenant = ? AND id = ?", (self.tenant, entity_id)
        ).fetchone()
        if row is None:
            return None
        entity: Entity = orjson.loads(row[0])
        return entity

    def get_many(self, entity_ids: list[str]) -> list[Entity]:
        out: list[Entity] = []
        for start in range(0, len(entity_ids), 500):
            chunk = entity_ids[start : start + 500]
            rows = self.conn.execute(
                f"SELECT doc FROM entities WHERE tenant = ? AND id IN ({','.join('?' * len(chunk))})",
                (self.tenant, *chunk),
            ).fetchall()
            out.extend(orjson.loads(r[0]) for r in rows)
        return out

    def scan(self, flt: EntityFilter, *, offset: int = 0, limit: int | None = None) -> Iterator[Entity]:
        sql, params = scan_sql(self.tenant, flt, offset=offset, limit=limit)
        for (doc,) in self.conn.execute(sql, params):
            yield orjson.loads(doc)

    def count(self, flt: EntityFilter) -> int:
        sql, params = _filter_sql(self.tenant, flt, "count(*)")
        return int(self.conn.execute(sql, params).fetchone()[0])

    # -- history ---------------------------------------------------------------------------
    def temporal_head(self, entity_id: str) -> TemporalHead | None:
        return hist.temporal_head(self.conn, self.tenant, entity_id)

    def temporal_scan(self, flt: EntityFilter) -> Iterator[TemporalHead]:
        return hist.temporal_scan(self.conn, self.tenant, flt)

    def history(self, entity_id: str, query: HistoryQuery) -> list[HistoryInstance]:
        return hist.history(self.conn, self.tenant, entity_id, query)

    def history_values(self, entity_id: str, query: HistoryQuery) -> dict[str, list[tuple[int, Any]]]:
        return hist.history_values(self.conn, self.tenant, entity_id, query)


class SqliteWriter(SqliteReader):
    """Writes the current state and, in the same transaction, its history."""

    def __init__(self, conn: sqlite3.Connection, tenant: str, series: hist.SeriesCache) -> None:
        super().__init__(conn, tenant)
        self.series = series
        self._seen: dict[str, Seen] = {}  # entities read by this job: what an update changes

    def get(self, entity_id: str) -> Entity | None:
        entity = super().get(entity_id)
        if entity is not None:
            self._seen[entity_id] = _seen(entity)
        return entity

    def scan(self, flt: EntityFilter, *, offset: int = 0, limit: int | None = None) -> Iterator[Entity]:
        for entity in super().scan(flt, offset=offset, limit=limit):
            self._seen[entity["id"]] = _seen(entity)
            yield entity

    def _record_update(self, entity: Entity) -> None:
        """History of an update: the instances this operation stamped, and deletion markers
        for the instances it removed (known from the entity as this job read it)."""
        now = entity["modifiedAt"]
        at = _stamp(now)
        eid = entity["id"]
        changes: list[hist.Change] = [
            (eid, attr, inst, at, at, None)
            for attr, insts in entity["attrs"].items() for inst in insts
            if inst.get("modifiedAt") == now and attr not in _NO_HISTORY
        ]
        seen = self._seen.pop(eid, None)
        if seen is not None:
            for (attr, dataset_id), inst_type in seen[2].items():
                if attr not in _NO_HISTORY and not any(
                    i.get("datasetId") == dataset_id for i in entity["attrs"].get(attr, ())
                ):
                    changes.append((eid, attr, hist.deletion_marker(inst_type, dataset_id), at, at, at))
            if seen[1] != entity.get("scope"):
                if entity.get("scope"):
                    changes.append((eid, SCOPE, _scope_instance(entity), at, at, None))
                else:
                    marker = hist.deletion_marker("Property", None, SCOPE)
                    changes.append((eid, SCOPE, marker, at, at, at))
        new_series = hist.record(self.conn, self.series, self.tenant, changes)
        if new_series or seen is None or seen[0] != entity["type"] or seen[1] != entity.get("scope"):
            hist.upsert_heads(self.conn, self.tenant, [_head_of(entity)], merge_types=False)

    def insert(self, entity: Entity, *, history: bool = True) -> bool:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO entities (tenant, id, doc) VALUES (?, ?, ?)",
            (self.tenant, entity["id"], orjson.dumps(entity)),
        )
        if cur.rowcount == 0:
            return False
        self._set_types(entity, new=True)
        _index_geo(self.conn, self.tenant, [entity])
        if history:
            _record_new(self.conn, self.series, self.tenant, [entity])
        return True

    def insert_many(self, entities: list[Entity]) -> None:
        tenant = self.tenant
        hist.insert_rows(
            self.conn, "INSERT INTO entities (tenant, id, doc) VALUES ",
            [(tenant, e["id"], orjson.dumps(e)) for e in entities],
        )
        hist.insert_rows(
            self.conn, "INSERT OR IGNORE INTO entity_types (tenant, type, id) VALUES ",
            [(tenant, t, e["id"]) for e in entities for t in e["type"]],
        )
        _index_geo(self.conn, tenant, entities)
        _record_new(self.conn, self.series, tenant, entities)

    def existing_ids(self, entity_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(entity_ids), 500):
            chunk = entity_ids[start : start + 500]
            rows = self.conn.execute(
                f"SELECT id FROM entities WHERE tenant = ? AND id IN ({','.join('?' * len(chunk))})",
                (self.tenant, *chunk),
            )
            found.update(r[0] for r in rows)
        return found

    def update(self, entity: Entity) -> None:
        self.conn.execute(
            "UPDATE entities SET doc = ? WHERE tenant = ? AND id = ?",
            (orjson.dumps(entity), self.tenant, entity["id"]),
        )
        self._set_types(entity, new=False)
        _unindex_geo(self.conn, self.tenant, entity["id"])
        _index_geo(self.conn, self.tenant, [entity])
        self._record_update(entity)

    def _set_types(self, entity: Entity, *, new: bool) -> None:
        if not new:
            self.conn.execute("DELETE FROM entity_types WHERE tenant = ? AND id = ?", (self.tenant, entity["id"]))
        if len(entity["type"]) == 1:
            self.conn.execute(
                "INSERT OR IGNORE INTO entity_types (tenant, type, id) VALUES (?, ?, ?)",
                (self.tenant, entity["type"][0], entity["id"]),
            )
            return
        self.conn.executemany(
            "INSERT OR IGNORE INTO entity_types (tenant, type, id) VALUES (?, ?, ?)",
            [(self.tenant, t, entity["id"]) for t in entity["type"]],
        )

    def delete(self, entity_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM entities WHERE tenant = ? AND id = ?", (self.tenant, entity_id))
        self.conn.execute("DELETE FROM entity_types WHERE tenant = ? AND id = ?", (self.tenant, entity_id))
        _unindex_geo(self.conn, self.tenant, entity_id)
        if cur.rowcount:  # history stays: the entity is marked deleted in it
            self.conn.execute("UPDATE temporal_entities SET deleted_at = ? WHERE tenant = ? AND id = ?",
                              (now_micros(), self.tenant, entity_id))
        return cur.rowcount > 0

    # -- temporal provision ------------------------------------------------------------
    def add_history(self, head: TemporalHead, attrs: dict[str, list[dict[str, Any]]], now: int) -> bool:
        old = hist.temporal_head(self.conn, self.tenant, head.id)
        if old is not None:
            hist.drop_same_time(self.conn, self.series, self.tenant, head.id, attrs)
        hist.upsert_heads(self.conn, self.tenant, [head], merge_types=True)
        hist.record(self.conn, self.series, self.tenant,
                    [(head.id, attr, inst, now, now, None) for attr, insts in attrs.items() for inst in insts])
        return old is None or old.deleted_at is not None

    def delete_history(self, entity_id: str) -> bool:
        return hist.delete_history(self.conn, self.series, self.tenant, entity_id)

    def delete_series(self, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool) -> bool:
        return hist.delete_series(self.conn, self.series, self.tenant, entity_id, attr, dataset_id, delete_all)

    def replace_instance(self, entity_id: str, attr: str, iid: int, inst: dict[str, Any], now: int) -> bool:
        return hist.replace_instance(self.conn, self.tenant, entity_id, attr, iid, inst, now)

    def delete_instance(self, entity_id: str, attr: str, iid: int) -> bool:
        return hist.delete_instance(self.conn, self.tenant, entity_id, attr, iid)

    def prune_history(self, before: int, limit: int) -> int:
        return hist.prune(self.conn, before, limit)


@dataclass
class _Job:
    tenant: str
    fn: Callable[[SqliteWriter], Any]
    create_tenant: bool
    future: Future[Any] | None = None  # a thread waiting (write_sync)
    afuture: asyncio.Future[Any] | None = None  # a coroutine waiting (write)


Outcome = tuple[_Job, Any, BaseException | None]


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, result, error in items:
        if fut.cancelled():
            continue
        if error is None:
            fut.set_result(result)
        else:
            fut.set_exception(error)


class SqliteStore:
    """The embedded store. ``path`` is a file path or ``:memory:``-like test path."""

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"bad synchronous setting {synchronous!r}")
        self.path = path
        self._sync = synchronous.upper()
        self._wconn = _connect(path, writer=True, synchronous=self._sync)
        _migrate(self._wconn)
        self._series = hist.SeriesCache(self._wconn)
        self._tenants = {r[0] for r in self._wconn.execute("SELECT name FROM tenants")}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run_writer, name="sqlite-writer", daemon=True)
        self._thread.start()
        self._closed = False

    # -- tenants --------------------------------------------------------------
    def tenant_exists(self, tenant: str) -> bool:
        return tenant == DEFAULT_TENANT or tenant in self._tenants

    def tenants(self) -> list[str]:
        return sorted(self._tenants)

    def _check_tenant(self, tenant: str) -> None:
        if not self.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")

    # -- reads ------------------------------------------------------------------
    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, writer=False, synchronous=self._sync)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def read_sync(self, tenant: str, fn: Callable[[SqliteReader], T]) -> T:
        self._check_tenant(tenant)
        conn = self._reader_conn()
        conn.execute("BEGIN")
        try:
            return fn(SqliteReader(conn, tenant))
        finally:
            conn.execute("COMMIT")

    async def read(self, tenant: str, fn: Callable[[SqliteReader], T]) -> T:
        """Run a short read on the calling (event-loop) thread, in one read transaction:
        primary-key reads take microseconds, cheaper than a hop to a worker thread."""
        return self.read_sync(tenant, fn)

    async def get(self, tenant: str, entity_id: str) -> Entity | None:
        """One entity by id: a single statement, so no explicit read transaction."""
        self._check_tenant(tenant)
        return SqliteReader(self._reader_conn(), tenant).get(entity_id)

    # -- hosted @contexts ----------------------------------------------------------
    async def save_context(self, local_id: str, tenant: str, body: Any, created_at: str) -> None:
        def job(w: SqliteWriter) -> None:
            w.conn.execute(
                "INSERT INTO contexts (id, tenant, body, created_at) VALUES (?, ?, ?, ?)",
                (local_id, tenant, orjson.dumps(body), created_at),
            )

        await self.write(DEFAULT_TENANT, job)

    async def delete_context(self, local_id: str) -> None:
        await self.write(DEFAULT_TENANT, lambda w: w.conn.execute("DELETE FROM contexts WHERE id = ?", (local_id,)))

    def load_contexts(self) -> list[dict[str, Any]]:
        rows = self._reader_conn().execute("SELECT id, tenant, body, created_at FROM contexts").fetchall()
        return [{"id": i, "tenant": t, "body": orjson.loads(b), "created_at": c} for i, t, b, c in rows]

    async def read_bulk(self, tenant: str, fn: Callable[[SqliteReader], T]) -> T:
        """Run a long read (scans) on a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.read_sync, tenant, fn)

    # -- writes -------------------------------------------------------------------
    def _job(self, tenant: str, fn: Callable[[SqliteWriter], Any], create_tenant: bool) -> _Job:
        if self._closed:
            raise RuntimeError("store is closed")
        if not create_tenant:
            self._check_tenant(tenant)
        return _Job(tenant, fn, create_tenant)

    async def write(self, tenant: str, fn: Callable[[SqliteWriter], T], *, create_tenant: bool = False) -> T:
        job = self._job(tenant, fn, create_tenant)
        job.afuture = asyncio.get_running_loop().create_future()
        self._queue.put(job)
        result: T = await job.afuture
        return result

    def submit(self, tenant: str, fn: Callable[[SqliteWriter], T], *, create_tenant: bool = False) -> Future[T]:
        """Queue a write from any thread; the future resolves after its COMMIT."""
        job = self._job(tenant, fn, create_tenant)
        future: Future[T] = Future()
        job.future = future
        self._queue.put(job)
        return future

    def write_sync(self, tenant: str, fn: Callable[[SqliteWriter], T], *, create_tenant: bool = False) -> T:
        return self.submit(tenant, fn, create_tenant=create_tenant).result()

    def _run_writer(self) -> None:
        conn = self._wconn
        stop = False
        while not stop:
            job = self._queue.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._deliver(self._run_batch(conn, batch))
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> list[Outcome]:
        """Run the jobs in one transaction, each in a SAVEPOINT when there are several."""
        outcomes: list[Outcome] = []
        new_tenants: set[str] = set()
        alone = len(batch) == 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                if not alone:
                    conn.execute("SAVEPOINT job")
                made_tenant = False
                try:
                    if job.create_tenant and not self.tenant_exists(job.tenant) and job.tenant not in new_tenants:
                        conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (job.tenant,))
                        new_tenants.add(job.tenant)
                        made_tenant = True
                    result = job.fn(SqliteWriter(conn, job.tenant, self._series))
                    if not alone:
                        conn.execute("RELEASE job")
                    self._series.job_done(True)
                    outcomes.append((job, result, None))
                except BaseException as exc:  # the job's own failure: undo it alone
                    self._series.job_done(False)
                    if alone:
                        conn.execute("ROLLBACK")
                        self._series.batch_done(False)
                        return [(job, None, exc)]
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    if made_tenant:
                        new_tenants.discard(job.tenant)
                    outcomes.append((job, None, exc))
            conn.execute("COMMIT")
            self._series.batch_done(True)
        except BaseException as exc:  # the commit itself failed: nothing was written
            self._series.batch_done(False)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(job, None, exc) for job in batch]
        self._tenants |= new_tenants
        return outcomes

    @staticmethod
    def _deliver(outcomes: list[Outcome]) -> None:
        """Resolve the waiting callers, after COMMIT: one wake-up per event loop per batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for job, result, error in outcomes:
            if job.afuture is not None:
                by_loop.setdefault(job.afuture.get_loop(), []).append((job.afuture, result, error))
            elif job.future is not None:
                if error is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(error)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, items)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=30)
        with self._readers_lock:
            for conn in self._readers:
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._readers.clear()
