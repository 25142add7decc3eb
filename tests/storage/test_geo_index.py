"""The spatial index: kept in step with every write, backfilled on migration, a superset pre-filter."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boulevard.ngsild.context import ContextCache, TermMap
from boulevard.ngsild.geoquery import parse_geoquery
from boulevard.storage.base import EntityFilter, GeoBox
from boulevard.storage.sqlite import MIGRATIONS, SqliteStore, SqliteWriter

LOC = "https://uri.etsi.org/ngsi-ld/location"
SPACE = "https://uri.etsi.org/ngsi-ld/observationSpace"


def ent(n: int, lon: float, lat: float, attr: str = LOC, types: tuple[str, ...] = ("T",)) -> dict[str, Any]:
    point = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    return {"id": f"urn:ngsi-ld:E:{n}", "type": list(types), "createdAt": "x", "modifiedAt": "x",
            "attrs": {attr: [point]}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "geo.db"), synchronous="NORMAL")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def tm() -> TermMap:
    return asyncio.run(ContextCache().term_map(None))


def in_box(store: SqliteStore, box: GeoBox, types: tuple[str, ...] | None = None) -> list[str]:
    flt = EntityFilter(types=types, geo=box)
    return store.read_sync("", lambda r: [e["id"] for e in r.scan(flt)])


def test_index_follows_insert_update_and_delete(store: SqliteStore) -> None:
    box = GeoBox(LOC, 0.0, 0.0, 0.1, 0.1)
    store.write_sync("", lambda w: w.insert(ent(1, 0.05, 0.05)))
    store.write_sync("", lambda w: w.insert_many([ent(2, 0.02, 0.02), ent(3, 5.0, 5.0)]))
    assert in_box(store, box) == ["urn:ngsi-ld:E:1", "urn:ngsi-ld:E:2"]
    store.write_sync("", lambda w: w.update(ent(1, 7.0, 7.0)))  # moved out
    store.write_sync("", lambda w: w.update(ent(3, 0.09, 0.09)))  # moved in
    assert in_box(store, box) == ["urn:ngsi-ld:E:2", "urn:ngsi-ld:E:3"]
    store.write_sync("", lambda w: w.delete("urn:ngsi-ld:E:2"))
    assert in_box(store, box) == ["urn:ngsi-ld:E:3"]
    # the other attribute is indexed under its own name
    store.write_sync("", lambda w: w.insert(ent(4, 0.05, 0.05, attr=SPACE)))
    assert in_box(store, box) == ["urn:ngsi-ld:E:3"]
    assert in_box(store, GeoBox(SPACE, 0.0, 0.0, 0.1, 0.1)) == ["urn:ngsi-ld:E:4"]


def test_index_combines_with_types_and_tenants(store: SqliteStore) -> None:
    store.write_sync("", lambda w: w.insert_many([ent(1, 0.05, 0.05, types=("A",)), ent(2, 0.05, 0.05, types=("B",))]))
    store.write_sync("other", lambda w: w.insert(ent(3, 0.05, 0.05)), create_tenant=True)
    box = GeoBox(LOC, 0.0, 0.0, 0.1, 0.1)
    assert in_box(store, box, ("B",)) == ["urn:ngsi-ld:E:2"]
    assert in_box(store, box) == ["urn:ngsi-ld:E:1", "urn:ngsi-ld:E:2"]
    other = store.read_sync("other", lambda r: [e["id"] for e in r.scan(EntityFilter(geo=box))])
    assert other == ["urn:ngsi-ld:E:3"]


def test_migration_backfills_entities_stored_before_the_index(tmp_path: Path) -> None:
    db = str(tmp_path / "old.db")
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:3]:  # a version-3 database, made by the older broker
        conn.executescript(script)
    conn.execute("PRAGMA user_version=3")
    import orjson

    conn.execute("INSERT INTO entities (tenant, id, doc) VALUES ('', ?, ?)",
                 ("urn:ngsi-ld:E:1", orjson.dumps(ent(1, 0.05, 0.05))))
    conn.commit()
    conn.close()
    store = SqliteStore(db)
    try:
        assert in_box(store, GeoBox(LOC, 0.0, 0.0, 0.1, 0.1)) == ["urn:ngsi-ld:E:1"]
    finally:
        store.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prefiltered_queries_give_the_brute_force_answer(store: SqliteStore, tm: TermMap, seed: int) -> None:
    rng = random.Random(seed)
    entities = [ent(i, rng.uniform(-3.75, -3.65), rng.uniform(40.38, 40.44)) for i in range(400)]
    store.write_sync("", lambda w: w.insert_many(entities))
    for _ in range(15):
        lon, lat = rng.uniform(-3.75, -3.65), rng.uniform(40.38, 40.44)
        rel = rng.choice(["near;maxDistance==", "near;minDistance==", "within", "intersects", "disjoint"])
        if rel.startswith("near"):
            gq = parse_geoquery(f"{rel}{rng.randint(100, 3000)}", "Point", [lon, lat], None, tm)
        else:
            d = rng.uniform(0.002, 0.03)
            ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
            gq = parse_geoquery(rel, "Polygon", [ring], None, tm)
        assert gq is not None
        expected = sorted(e["id"] for e in entities if gq.matches(e))
        flt = EntityFilter(geo=gq.box())
        got = [e["id"] for e in store.read_sync("", lambda r, f=flt: list(r.scan(f))) if gq.matches(e)]
        assert got == expected


def test_index_rolls_back_with_its_write(store: SqliteStore) -> None:
    # the index is written by the same writer transaction as the entity (rolled back with it)
    def failing(w: SqliteWriter) -> None:
        w.insert(ent(1, 0.5, 0.5))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write_sync("", failing)
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("SELECT count(*) FROM geo_cells").fetchone()[0] == 0
    finally:
        conn.close()


def test_wide_geometries_and_wide_queries(store: SqliteStore, tm: TermMap) -> None:
    # a district polygon spans many cells: filed once as "wide", found by every geo-query on its attribute
    ring = [[-3.8, 40.3], [-3.6, 40.3], [-3.6, 40.5], [-3.8, 40.5], [-3.8, 40.3]]
    district = {"id": "urn:ngsi-ld:E:district", "type": ["T"], "createdAt": "x", "modifiedAt": "x",
                "attrs": {LOC: [{"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [ring]}}]}}
    store.write_sync("", lambda w: w.insert_many([district, ent(1, -3.7, 40.4), ent(2, 10.0, 50.0)]))
    conn = sqlite3.connect(store.path)
    try:
        cells = [r[0] for r in conn.execute("SELECT cell FROM geo_cells WHERE id = 'urn:ngsi-ld:E:district'")]
    finally:
        conn.close()
    assert cells == [-1]
    near = parse_geoquery("near;maxDistance==100", "Point", [-3.7, 40.4], None, tm)
    assert near is not None
    found = store.read_sync("", lambda r: list(r.scan(EntityFilter(geo=near.box()))))
    got = [e["id"] for e in found if near.matches(e)]
    assert got == ["urn:ngsi-ld:E:1", "urn:ngsi-ld:E:district"]
    # a box wider than the grid's limit is answered without it, still exactly
    wide = parse_geoquery("within", "Polygon", [[[-20, 30], [20, 30], [20, 60], [-20, 60], [-20, 30]]], None, tm)
    assert wide is not None
    found = store.read_sync("", lambda r: list(r.scan(EntityFilter(geo=wide.box()))))
    got = [e["id"] for e in found if wide.matches(e)]
    assert got == ["urn:ngsi-ld:E:1", "urn:ngsi-ld:E:2", "urn:ngsi-ld:E:district"]


def test_two_instances_in_one_cell_keep_both_boxes(store: SqliteStore) -> None:
    two = {"id": "urn:ngsi-ld:E:two", "type": ["T"], "createdAt": "x", "modifiedAt": "x", "attrs": {LOC: [
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [0.0001, 0.0001]}},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [0.0049, 0.0049]}, "datasetId": "urn:d:2"},
    ]}}
    store.write_sync("", lambda w: w.insert(two))
    assert in_box(store, GeoBox(LOC, 0.0045, 0.0045, 0.00495, 0.00495)) == ["urn:ngsi-ld:E:two"]
    assert in_box(store, GeoBox(LOC, 0.0, 0.0, 0.0002, 0.0002)) == ["urn:ngsi-ld:E:two"]
    assert in_box(store, GeoBox(LOC, 0.0, 0.0, 0.00005, 0.00005)) == []  # outside the union of the boxes
