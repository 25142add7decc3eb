"""History in the SQLite store: written with the state, rolled back with it, backfilled, pruned."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from boulevard.storage.base import HistoryQuery, TemporalHead, TimeWindow
from boulevard.storage.sqlite import MIGRATIONS, SqliteStore, SqliteWriter
from boulevard.timestamps import now_micros, to_micros

P = "http://example.org/people"


def ent(n: int, value: int, at: str = "2026-11-01T10:00:00.000Z") -> dict[str, Any]:
    inst = {"type": "Property", "value": value, "observedAt": at, "createdAt": at, "modifiedAt": at}
    return {"id": f"urn:ngsi-ld:Camera:{n}", "type": ["Camera"], "createdAt": at, "modifiedAt": at,
            "attrs": {P: [inst]}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "h.db"), synchronous="NORMAL")
    try:
        yield s
    finally:
        s.close()


def values(store: SqliteStore, n: int, window: TimeWindow | None = None) -> list[Any]:
    query = HistoryQuery(window or TimeWindow())
    return store.read_sync("", lambda r: [i.doc["value"] for i in r.history(f"urn:ngsi-ld:Camera:{n}", query)])


def test_update_records_only_what_changed(store: SqliteStore) -> None:
    store.write_sync("", lambda w: w.insert(ent(1, 3)))

    def bump(w: SqliteWriter) -> None:
        e = w.get("urn:ngsi-ld:Camera:1")
        assert e is not None
        later = "2026-11-01T10:05:00.000Z"
        e["modifiedAt"] = later
        e["attrs"][P][0].update(value=4, observedAt=later, modifiedAt=later)
        e["attrs"]["http://example.org/other"] = [{"type": "Property", "value": 1, "createdAt": "2026-11-01T09:00:00Z",
                                                   "modifiedAt": "2026-11-01T09:00:00Z"}]  # not stamped now
        w.update(e)

    store.write_sync("", bump)
    assert values(store, 1) == [3, 4]
    untouched = store.read_sync("", lambda r: r.history("urn:ngsi-ld:Camera:1", HistoryQuery(
        TimeWindow("createdAt"), attrs=("http://example.org/other",))))
    assert untouched == []


def test_a_failed_job_leaves_no_history_and_no_stale_series_id(store: SqliteStore) -> None:
    def failing(w: SqliteWriter) -> None:
        w.insert(ent(1, 3))
        raise RuntimeError("the job fails after writing")

    with pytest.raises(RuntimeError):
        store.write_sync("", failing)
    assert store.read_sync("", lambda r: r.temporal_head("urn:ngsi-ld:Camera:1")) is None
    # the series id the failed job allocated must not be reused from the cache for another entity
    store.write_sync("", lambda w: w.insert(ent(1, 5)))
    assert values(store, 1) == [5]
    conn = sqlite3.connect(store.path)
    orphans = conn.execute(
        "SELECT count(*) FROM temporal_instances i LEFT JOIN temporal_series s ON s.sid = i.sid WHERE s.sid IS NULL"
    ).fetchone()[0]
    conn.close()
    assert orphans == 0


def test_time_window_is_half_open(store: SqliteStore) -> None:
    head = TemporalHead("urn:ngsi-ld:Camera:1", ["Camera"], None, 0, None)
    insts = [{"type": "Property", "value": m, "observedAt": f"2026-11-01T10:0{m}:00Z"} for m in range(4)]
    store.write_sync("", lambda w: w.add_history(head, {P: insts}, now_micros()))
    lo, hi = to_micros("2026-11-01T10:01:00Z"), to_micros("2026-11-01T10:03:00Z")
    assert values(store, 1, TimeWindow("observedAt", lo, hi)) == [1, 2]
    points = store.read_sync("", lambda r: r.history_values(head.id, HistoryQuery(TimeWindow("observedAt", lo))))
    assert points == {P: [(lo, 1), (to_micros("2026-11-01T10:02:00Z"), 2), (hi, 3)]}


def test_migration_starts_history_with_the_current_state(tmp_path: Path) -> None:
    db = str(tmp_path / "old.db")
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:4]:  # a version-4 database, made by the broker before history
        conn.executescript(script)
    conn.execute("PRAGMA user_version=4")
    conn.execute("INSERT INTO entities (tenant, id, doc) VALUES ('', ?, ?)",
                 ("urn:ngsi-ld:Camera:1", orjson.dumps(ent(1, 7))))
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    try:
        assert values(store, 1) == [7]
        head = store.read_sync("", lambda r: r.temporal_head("urn:ngsi-ld:Camera:1"))
        assert head is not None and head.types == ["Camera"]
    finally:
        store.close()


def test_prune_drops_old_recordings_in_chunks(store: SqliteStore) -> None:
    head = TemporalHead("urn:ngsi-ld:Camera:1", ["Camera"], None, 0, None)
    old = [{"type": "Property", "value": m, "observedAt": f"2026-01-01T10:{m:02d}:00Z"} for m in range(30)]
    store.write_sync("", lambda w: w.add_history(head, {P: old}, 1_000))
    new = [{"type": "Property", "value": 100, "observedAt": "2026-11-01T10:00:00Z"}]
    store.write_sync("", lambda w: w.add_history(head, {P: new}, 5_000))
    assert store.write_sync("", lambda w: w.prune_history(2_000, 20)) == 20
    assert store.write_sync("", lambda w: w.prune_history(2_000, 20)) == 10
    assert store.write_sync("", lambda w: w.prune_history(2_000, 20)) == 0
    assert values(store, 1) == [100]
