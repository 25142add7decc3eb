"""History on SQLite: every attribute instance ever written, for the Temporal API.

Three tables (migration 5):

- ``temporal_entities``: one row per entity history knows (types, scope, times); it
  outlives ``DELETE /entities`` (which only stamps ``deleted_at``), so the city keeps
  the history of a sensor that was removed.
- ``temporal_series``: one small integer per (tenant, entity, attribute), so the
  instance rows do not repeat long IRIs.
- ``temporal_instances``: the instances, times as integer microseconds, the numeric
  value in ``num`` (aggregations read it from the index alone) and the instance
  document. The index (sid, observed_at, num) serves ranges, ``lastN`` and numeric
  aggregations without touching the table; ``iid`` (AUTOINCREMENT, never reused)
  is the instance's ``instanceId``.

Rows are written by the same job, in the same transaction, as the entity's current
state (``SqliteWriter`` calls ``record``): history and state never disagree. Series
ids are cached in the writer thread; a job's new ids reach the cache only when its
transaction commits (``SeriesCache``), so a rolled-back job leaves no stale id.
PostgreSQL gets the same tables, range-partitioned by time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from boulevard.storage.base import SCOPE, EntityFilter, HistoryInstance, HistoryQuery, TemporalHead
from boulevard.timestamps import micros_or_none

SCHEMA = """
CREATE TABLE temporal_entities (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    types      TEXT NOT NULL,
    scope      TEXT,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE TABLE temporal_series (
    sid       INTEGER PRIMARY KEY,
    tenant    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr      TEXT NOT NULL,
    UNIQUE (tenant, entity_id, attr)
);
CREATE TABLE temporal_instances (
    iid         INTEGER PRIMARY KEY AUTOINCREMENT,
    sid         INTEGER NOT NULL,
    observed_at INTEGER,
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    deleted_at  INTEGER,
    dataset_id  TEXT,
    num         REAL,
    doc         BLOB NOT NULL
);
CREATE INDEX temporal_instances_by_time ON temporal_instances (sid, observed_at, num);
"""

_COLUMN = {"observedAt": "observed_at", "createdAt": "created_at", "modifiedAt": "modified_at",
           "deletedAt": "deleted_at"}
_SYSTEM = ("createdAt", "modifiedAt")
NULL_VALUE = "urn:ngsi-ld:null"
CACHE_LIMIT = 200_000  # series ids kept in memory (an entry is ~200 bytes)
ROWS_PER_INSERT = 100
VALUE_MEMBERS = ("value", "object", "languageMap", "vocab", "json")


class SeriesCache:
    """(tenant, entity, attr) -> sid for the writer thread, with per-job staging."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.known: dict[tuple[str, str, str], int] = {}
        self._batch: dict[tuple[str, str, str], int] = {}
        self._job: dict[tuple[str, str, str], int] = {}
        self.next_sid = int(conn.execute("SELECT coalesce(max(sid), 0) FROM temporal_series").fetchone()[0]) + 1

    def get(self, key: tuple[str, str, str]) -> int | None:
        return self._job.get(key) or self._batch.get(key) or self.known.get(key)

    def stage(self, key: tuple[str, str, str], sid: int) -> None:
        self._job[key] = sid

    def allocate(self) -> int:
        sid = self.next_sid
        self.next_sid += 1
        return sid

    def forget(self, tenant: str, entity_id: str, attr: str | None = None) -> None:
        """Drop entries (rows deleted): a miss costs a query, a stale hit would be wrong."""
        for table in (self.known, self._batch, self._job):
            for key in [k for k in table if k[0] == tenant and k[1] == entity_id and (attr is None or k[2] == attr)]:
                del table[key]

    def job_done(self, ok: bool) -> None:
        if ok:
            self._batch.update(self._job)
        self._job.clear()

    def batch_done(self, committed: bool) -> None:
        if committed:
            if len(self.known) + len(self._batch) > CACHE_LIMIT:
                self.known.clear()
            self.known.update(self._batch)
        self._batch.clear()
        self._job.clear()


def insert_rows(conn: sqlite3.Connection, head: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows with multi-row VALUES statements: one step (and one GIL hand-off) per
    statement instead of one per row, which is most of a batch's cost on a busy server."""
    if not rows:
        return
    marks = "(" + ",".join("?" * len(rows[0])) + ")"
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        conn.execute(head + ",".join([marks] * len(chunk)), [v for row in chunk for v in row])


def _types_json(types: list[str]) -> str:
    return orjson.dumps(types).decode()


def _instance_row(sid: int, inst: dict[str, Any], created: int, modified: int,
                  deleted: int | None = None) -> tuple[Any, ...]:
    doc = {k: v for k, v in inst.items() if k not in _SYSTEM}
    value = inst.get("value")
    num = value if value.__class__ is int or value.__class__ is float else None
    return (sid, micros_or_none(inst.get("observedAt")), created, modified, deleted,
            inst.get("datasetId"), num, orjson.dumps(doc))


_INSERT_INSTANCES = (
    "INSERT INTO temporal_instances (sid, observed_at, created_at, modified_at, deleted_at, dataset_id, num, doc)"
    " VALUES "
)


def upsert_heads(conn: sqlite3.Connection, tenant: str, heads: list[TemporalHead], *, merge_types: bool) -> None:
    """Create or refresh temporal entities (a re-created entity is no longer deleted).
    ``merge_types``: temporal provision adds types; writes of the current state set them."""
    rows = []
    for head in heads:
        types = head.types
        if merge_types:
            old = temporal_head(conn, tenant, head.id)
            if old is not None:
                types = old.types + [t for t in head.types if t not in old.types]
        rows.append((tenant, head.id, _types_json(types), None if not head.scope else _types_json(head.scope),
                     head.created_at))
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        conn.execute(
            "INSERT INTO temporal_entities (tenant, id, types, scope, created_at) VALUES "
            + ",".join(["(?,?,?,?,?)"] * len(chunk))
            + " ON CONFLICT (tenant, id) DO UPDATE SET types = excluded.types, deleted_at = NULL, scope = "
            + ("coalesce(excluded.scope, temporal_entities.scope)" if merge_types else "excluded.scope"),
            [v for row in chunk for v in row],
        )


def series_ids(conn: sqlite3.Connection, cache: SeriesCache, tenant: str,
               keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The sid of each (entity, attr), creating the series that do not exist yet."""
    out: dict[tuple[str, str], int] = {}
    missing: list[tuple[str, str]] = []
    for eid, attr in keys:
        sid = cache.get((tenant, eid, attr))
        if sid is None:
            missing.append((eid, attr))
        else:
            out[(eid, attr)] = sid
    if not missing:
        return out
    wanted = set(missing)
    ids = sorted({eid for eid, _ in missing})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for sid, eid, attr in conn.execute(
            "SELECT sid, entity_id, attr FROM temporal_series"
            f" WHERE tenant = ? AND entity_id IN ({','.join('?' * len(chunk))})",
            (tenant, *chunk),
        ):
            if (eid, attr) in wanted:
                out[(eid, attr)] = sid
                cache.stage((tenant, eid, attr), sid)
    new_rows = []
    for eid, attr in missing:
        if (eid, attr) not in out:
            sid = cache.allocate()
            out[(eid, attr)] = sid
            cache.stage((tenant, eid, attr), sid)
            new_rows.append((sid, tenant, eid, attr))
    insert_rows(conn, "INSERT INTO temporal_series (sid, tenant, entity_id, attr) VALUES ", new_rows)
    return out


Change = tuple[str, str, dict[str, Any], int, int, int | None]  # entity, attr, instance, created, modified, deleted


def record(conn: sqlite3.Connection, cache: SeriesCache, tenant: str, changes: list[Change]) -> bool:
    """Append instances: (entity id, attr, instance, created, modified, deleted).
    True when a series had to be created (its entity may need its temporal row)."""
    if not changes:
        return False
    before = cache.next_sid
    sids = series_ids(conn, cache, tenant, list(dict.fromkeys((c[0], c[1]) for c in changes)))
    insert_rows(conn, _INSERT_INSTANCES,
            [_instance_row(sids[(eid, attr)], inst, created, modified, deleted)
             for eid, attr, inst, created, modified, deleted in changes])
    return cache.next_sid != before


_NULL_MEMBER: dict[str, tuple[str, Any]] = {
    "Relationship": ("object", NULL_VALUE),
    "LanguageProperty": ("languageMap", {"@none": NULL_VALUE}),
    "ListProperty": ("valueList", [NULL_VALUE]),
    "ListRelationship": ("objectList", [NULL_VALUE]),
    "JsonProperty": ("json", NULL_VALUE),
    "VocabProperty": ("vocab", NULL_VALUE),
}


def drop_same_time(conn: sqlite3.Connection, cache: SeriesCache, tenant: str, entity_id: str,
                   attrs: dict[str, list[dict[str, Any]]]) -> None:
    """Temporal provision: an instance with the same attribute, datasetId and observedAt as a
    recorded one replaces it (ETSI 008_01)."""
    for attr, insts in attrs.items():
        sid = cache.get((tenant, entity_id, attr))
        if sid is None:
            row = conn.execute("SELECT sid FROM temporal_series WHERE tenant = ? AND entity_id = ? AND attr = ?",
                               (tenant, entity_id, attr)).fetchone()
            if row is None:
                continue
            sid = row[0]
        for inst in insts:
            at = micros_or_none(inst.get("observedAt"))
            if at is not None:
                conn.execute("DELETE FROM temporal_instances WHERE sid = ? AND observed_at = ? AND dataset_id IS ?",
                             (sid, at, inst.get("datasetId")))


def deletion_marker(inst_type: str, dataset_id: str | None, attr: str = "") -> dict[str, Any]:
    """The instance history records when an attribute (or one datasetId of it) is deleted:
    its type with the NGSI-LD null as value (an empty list for scope)."""
    member, value = ("value", []) if attr == SCOPE else _NULL_MEMBER.get(inst_type, ("value", NULL_VALUE))
    marker: dict[str, Any] = {"type": inst_type, member: value}
    if dataset_id is not None:
        marker["datasetId"] = dataset_id
    return marker


# --- reads -----------------------------------------------------------------------------------
def _head(row: tuple[Any, ...]) -> TemporalHead:
    eid, types, scope, created, deleted = row
    return TemporalHead(eid, orjson.loads(types), None if scope is None else orjson.loads(scope), created, deleted)


def temporal_head(conn: sqlite3.Connection, tenant: str, entity_id: str) -> TemporalHead | None:
    row = conn.execute(
        "SELECT id, types, scope, created_at, deleted_at FROM temporal_entities WHERE tenant = ? AND id = ?",
        (tenant, entity_id),
    ).fetchone()
    return None if row is None else _head(row)


def temporal_scan(conn: sqlite3.Connection, tenant: str, flt: EntityFilter) -> Iterator[TemporalHead]:
    where = ["tenant = ?", "deleted_at IS NULL"]
    params: list[Any] = [tenant]
    if flt.ids:
        where.append(f"id IN ({','.join('?' * len(flt.ids))})")
        params += flt.ids
    if flt.id_pattern:
        where.append("regexp(?, id)")
        params.append(flt.id_pattern)
    if flt.types:
        where.append(f"EXISTS (SELECT 1 FROM json_each(types) t WHERE t.value IN ({','.join('?' * len(flt.types))}))")
        params += flt.types
    sql = ("SELECT id, types, scope, created_at, deleted_at FROM temporal_entities"
           f" WHERE {' AND '.join(where)} ORDER BY id")
    for row in conn.execute(sql, params):
        yield _head(row)


def _series(conn: sqlite3.Connection, tenant: str, entity_id: str,
            attrs: tuple[str, ...] | None) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT sid, attr FROM temporal_series WHERE tenant = ? AND entity_id = ? ORDER BY sid", (tenant, entity_id)
    ).fetchall()
    return [(sid, attr) for sid, attr in rows if attrs is None or attr in attrs]


def _window_sql(query: HistoryQuery, params: list[Any]) -> tuple[str, str]:
    window = query.window
    col = _COLUMN[window.prop]
    where = ""
    if window.lo is not None:
        where += f" AND {col} >= ?"
        params.append(window.lo)
    if window.hi is not None:
        where += f" AND {col} < ?"
        params.append(window.hi)
    if window.prop == "deletedAt":
        where += " AND deleted_at IS NOT NULL"
    elif window.prop != "observedAt":
        where += " AND deleted_at IS NULL"
    elif window.lo is None and window.hi is None:  # the observedAt view shows observed instances only
        where += " AND observed_at IS NOT NULL"
    if query.dataset_ids is not None:
        terms = []
        named = [d for d in query.dataset_ids if d != "@none"]
        if named:
            terms.append(f"dataset_id IN ({','.join('?' * len(named))})")
            params += named
        if "@none" in query.dataset_ids:
            terms.append("dataset_id IS NULL")
        where += " AND (" + (" OR ".join(terms) or "0") + ")"
    return where, col


def history(conn: sqlite3.Connection, tenant: str, entity_id: str, query: HistoryQuery) -> list[HistoryInstance]:
    out: list[HistoryInstance] = []
    for sid, attr in _series(conn, tenant, entity_id, query.attrs):
        params: list[Any] = [sid]
        where, col = _window_sql(query, params)
        sql = ("SELECT iid, observed_at, created_at, modified_at, deleted_at, doc FROM temporal_instances"
               f" WHERE sid = ?{where}")
        if query.last_n is not None:
            sql += f" ORDER BY {col} DESC, iid DESC LIMIT ?"
            params.append(query.last_n)
            rows = conn.execute(sql, params).fetchall()
            rows.reverse()
        elif query.first_n is not None:
            rows = conn.execute(sql + f" ORDER BY {col}, iid LIMIT ?", [*params, query.first_n]).fetchall()
        else:
            rows = conn.execute(sql + f" ORDER BY {col}, iid", params).fetchall()
        out.extend(HistoryInstance(iid, attr, obs, cre, mod, dele, orjson.loads(doc))
                   for iid, obs, cre, mod, dele, doc in rows)
    return out


def _value(doc: dict[str, Any]) -> Any:
    for member in VALUE_MEMBERS:
        if member in doc:
            return doc[member]
    return None


def history_values(conn: sqlite3.Connection, tenant: str, entity_id: str,
                   query: HistoryQuery) -> dict[str, list[tuple[int, Any]]]:
    """(time, value) per attribute. Numbers come from the index (sid, observed_at, num) alone;
    documents are read only for the instances whose value is not a number."""
    out: dict[str, list[tuple[int, Any]]] = {}
    for sid, attr in _series(conn, tenant, entity_id, query.attrs):
        params: list[Any] = [sid]
        where, col = _window_sql(query, params)
        covered = query.window.prop == "observedAt" and query.dataset_ids is None
        if covered:
            rows = conn.execute(
                f"SELECT {col}, num, iid FROM temporal_instances WHERE sid = ?{where} AND {col} IS NOT NULL", params
            ).fetchall()
            points: list[tuple[int, Any]] = []
            others: list[int] = []
            for ts, num, iid in rows:
                if num is None:
                    others.append(iid)
                else:
                    points.append((ts, int(num) if num.is_integer() and abs(num) < 2**53 else num))
            if others:
                for start in range(0, len(others), 500):
                    chunk = others[start : start + 500]
                    for ts, deleted, doc in conn.execute(
                        f"SELECT {col}, deleted_at, doc FROM temporal_instances"
                        f" WHERE iid IN ({','.join('?' * len(chunk))})",
                        chunk,
                    ):
                        if deleted is None:
                            points.append((ts, _value(orjson.loads(doc))))
        else:
            points = [
                (ts, num if num is not None else _value(orjson.loads(doc)))
                for ts, num, deleted, doc in conn.execute(
                    f"SELECT {col}, num, deleted_at, doc FROM temporal_instances WHERE sid = ?{where}"
                    f" AND {col} IS NOT NULL", params)
                if deleted is None or query.window.prop == "deletedAt"
            ]
        out[attr] = points
    return out


# --- provision -------------------------------------------------------------------------------
def delete_history(conn: sqlite3.Connection, cache: SeriesCache, tenant: str, entity_id: str) -> bool:
    conn.execute(
        "DELETE FROM temporal_instances"
        " WHERE sid IN (SELECT sid FROM temporal_series WHERE tenant = ? AND entity_id = ?)",
        (tenant, entity_id),
    )
    conn.execute("DELETE FROM temporal_series WHERE tenant = ? AND entity_id = ?", (tenant, entity_id))
    cache.forget(tenant, entity_id)
    cur = conn.execute("DELETE FROM temporal_entities WHERE tenant = ? AND id = ?", (tenant, entity_id))
    return cur.rowcount > 0


def delete_series(conn: sqlite3.Connection, cache: SeriesCache, tenant: str, entity_id: str, attr: str,
                  dataset_id: str | None, delete_all: bool) -> bool:
    row = conn.execute("SELECT sid FROM temporal_series WHERE tenant = ? AND entity_id = ? AND attr = ?",
                       (tenant, entity_id, attr)).fetchone()
    if row is None:
        return False
    if delete_all:
        conn.execute("DELETE FROM temporal_instances WHERE sid = ?", (row[0],))
        conn.execute("DELETE FROM temporal_series WHERE sid = ?", (row[0],))
        cache.forget(tenant, entity_id, attr)
        return True
    cur = conn.execute("DELETE FROM temporal_instances WHERE sid = ? AND dataset_id IS ?", (row[0], dataset_id))
    return cur.rowcount > 0


def _owned(conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, iid: int) -> bool:
    return conn.execute(
        "SELECT 1 FROM temporal_instances i JOIN temporal_series s ON s.sid = i.sid"
        " WHERE i.iid = ? AND s.tenant = ? AND s.entity_id = ? AND s.attr = ?",
        (iid, tenant, entity_id, attr),
    ).fetchone() is not None


def replace_instance(conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, iid: int,
                     inst: dict[str, Any], now: int) -> bool:
    if not _owned(conn, tenant, entity_id, attr, iid):
        return False
    _, observed, _, _, _, dataset_id, num, doc = _instance_row(0, inst, now, now)
    conn.execute(
        "UPDATE temporal_instances SET observed_at = ?, modified_at = ?, dataset_id = ?, num = ?, doc = ?"
        " WHERE iid = ?",
        (observed, now, dataset_id, num, doc, iid),
    )
    return True


def delete_instance(conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, iid: int) -> bool:
    if not _owned(conn, tenant, entity_id, attr, iid):
        return False
    conn.execute("DELETE FROM temporal_instances WHERE iid = ?", (iid,))
    return True


def prune(conn: sqlite3.Connection, before: int, limit: int) -> int:
    """Delete the oldest recorded instances (iid order is recording order) created before ``before``."""
    rows = conn.execute(
        "SELECT iid FROM temporal_instances WHERE iid IN (SELECT iid FROM temporal_instances ORDER BY iid LIMIT ?)"
        " AND created_at < ?",
        (limit, before),
    ).fetchall()
    if rows:
        last = rows[-1][0]
        conn.execute("DELETE FROM temporal_instances WHERE iid <= ? AND created_at < ?", (last, before))
    return len(rows)
