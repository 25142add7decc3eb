"""The SQLite store: group commit, per-job rollback, tenants, reads, persistence."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from boulevard.errors import AlreadyExists, NonexistentTenant
from boulevard.storage.base import EntityFilter
from boulevard.storage.sqlite import MIGRATIONS, SqliteStore, SqliteWriter


def ent(n: int | str, *types: str, **doc: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:E:{n}", "type": list(types or ("T",)), "createdAt": "x", "modifiedAt": "x",
            "attrs": {}, **doc}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture
def store(db: str) -> Iterator[SqliteStore]:
    s = SqliteStore(db, synchronous="NORMAL")
    try:
        yield s
    finally:
        s.close()


def ids(store: SqliteStore, tenant: str = "", flt: EntityFilter | None = None) -> list[str]:
    return store.read_sync(tenant, lambda r: [e["id"] for e in r.scan(flt or EntityFilter())])


def insert(entity: dict[str, Any]) -> Any:
    def job(w: SqliteWriter) -> bool:
        return w.insert(entity)

    return job


class Blocker:
    """Holds the writer thread inside a job so that the next jobs queue up into one batch."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[int] = []
        original = store._run_batch

        def recording(conn: sqlite3.Connection, batch: list[Any]) -> Any:
            self.batches.append(len(batch))
            return original(conn, batch)

        store._run_batch = recording  # type: ignore[method-assign]

    def __enter__(self) -> Blocker:
        def hold(_w: SqliteWriter) -> None:
            self.entered.set()
            self.release.wait(10)

        self.future = self.store.submit("", hold)
        assert self.entered.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.future.result(10)


# --- basics ----------------------------------------------------------------------------------------------
def test_insert_get_update_delete(store: SqliteStore) -> None:
    assert store.write_sync("", insert(ent(1, a=1))) is True
    assert store.write_sync("", insert(ent(1, a=2))) is False  # exists: nothing written
    assert store.read_sync("", lambda r: r.get("urn:ngsi-ld:E:1"))["a"] == 1

    def update(w: SqliteWriter) -> None:
        e = w.get("urn:ngsi-ld:E:1")
        assert e is not None
        e["a"] = 3
        e["type"] = ["U"]
        w.update(e)

    store.write_sync("", update)
    assert store.read_sync("", lambda r: r.get("urn:ngsi-ld:E:1"))["a"] == 3
    assert ids(store, flt=EntityFilter(types=("T",))) == []
    assert ids(store, flt=EntityFilter(types=("U",))) == ["urn:ngsi-ld:E:1"]
    assert store.write_sync("", lambda w: w.delete("urn:ngsi-ld:E:1")) is True
    assert store.write_sync("", lambda w: w.delete("urn:ngsi-ld:E:1")) is False
    assert store.read_sync("", lambda r: r.get("urn:ngsi-ld:E:1")) is None
    assert ids(store, flt=EntityFilter(types=("U",))) == []


def test_scan_filters_and_count(store: SqliteStore) -> None:
    def fill(w: SqliteWriter) -> None:
        for i in range(10):
            w.insert(ent(f"{i:02d}", "A" if i % 2 else "B", *(["C"] if i < 3 else [])))

    store.write_sync("", fill)
    assert len(ids(store)) == 10
    assert ids(store) == sorted(ids(store))
    assert ids(store, flt=EntityFilter(types=("A",))) == [f"urn:ngsi-ld:E:{i:02d}" for i in (1, 3, 5, 7, 9)]
    assert len(ids(store, flt=EntityFilter(types=("A", "C")))) == 7
    assert ids(store, flt=EntityFilter(ids=("urn:ngsi-ld:E:04", "urn:ngsi-ld:E:99"))) == ["urn:ngsi-ld:E:04"]
    assert ids(store, flt=EntityFilter(id_pattern=r"E:0[0-2]$")) == [f"urn:ngsi-ld:E:0{i}" for i in range(3)]
    assert ids(store, flt=EntityFilter(types=("B",), id_pattern="[48]")) == ["urn:ngsi-ld:E:04", "urn:ngsi-ld:E:08"]
    assert store.read_sync("", lambda r: r.count(EntityFilter(types=("B",)))) == 5
    got = store.read_sync("", lambda r: r.get_many([f"urn:ngsi-ld:E:{i:02d}" for i in range(0, 10, 3)] + ["x"]))
    assert sorted(e["id"] for e in got) == ["urn:ngsi-ld:E:00", "urn:ngsi-ld:E:03", "urn:ngsi-ld:E:06",
                                            "urn:ngsi-ld:E:09"]


def test_get_many_large(store: SqliteStore) -> None:
    def fill(w: SqliteWriter) -> None:
        for i in range(1200):
            w.insert(ent(i))

    store.write_sync("", fill)
    got = store.read_sync("", lambda r: r.get_many([f"urn:ngsi-ld:E:{i}" for i in range(1200)]))
    assert len(got) == 1200


def test_async_api(db: str) -> None:
    async def main(path: str) -> tuple[bool, Any, list[str]]:
        s = SqliteStore(path, synchronous="NORMAL")
        try:
            ok = await s.write("", insert(ent(1)))
            got = await s.read("", lambda r: r.get("urn:ngsi-ld:E:1"))
            bulk = await s.read_bulk("", lambda r: [e["id"] for e in r.scan(EntityFilter())])
            return ok, got, bulk
        finally:
            s.close()

    ok, got, bulk = asyncio.run(main(db))
    assert ok is True
    assert got["id"] == "urn:ngsi-ld:E:1"
    assert bulk == ["urn:ngsi-ld:E:1"]


# --- group commit ------------------------------------------------------------------------------------------
def test_many_concurrent_writes_all_land(db: str) -> None:
    store = SqliteStore(db, synchronous="FULL")
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: store.write_sync("", insert(ent(i))), range(400)))
        assert results == [True] * 400
    finally:
        store.close()
    reopened = SqliteStore(db)
    try:
        assert len(ids(reopened)) == 400
    finally:
        reopened.close()


def test_queued_jobs_commit_as_one_batch(store: SqliteStore) -> None:
    with Blocker(store) as blocker:
        futures = [store.submit("", insert(ent(i))) for i in range(50)]
    assert [f.result(10) for f in futures] == [True] * 50
    assert blocker.batches[-1] == 50  # queued behind the blocker, then committed at once
    assert len(ids(store)) == 50


def test_failing_job_rolls_back_alone(db: str) -> None:
    store = SqliteStore(db, synchronous="NORMAL")
    try:
        def half_then_fail(w: SqliteWriter) -> None:
            w.insert(ent("bad-1"))
            w.delete("urn:ngsi-ld:E:keep")
            raise ValueError("job failed")

        def conflict(w: SqliteWriter) -> None:
            w.insert(ent("bad-2"))
            raise AlreadyExists("exists")

        store.write_sync("", insert(ent("keep")))
        with Blocker(store) as blocker:
            before = store.submit("", insert(ent("a")))
            failing = store.submit("", half_then_fail)
            middle = store.submit("", insert(ent("b")))
            failing2 = store.submit("", conflict)
            after = store.submit("", insert(ent("c")))
        assert before.result(10) is True
        assert middle.result(10) is True
        assert after.result(10) is True
        with pytest.raises(ValueError, match="job failed"):
            failing.result(10)
        with pytest.raises(AlreadyExists):
            failing2.result(10)
        assert blocker.batches[-1] == 5  # all five ran in one transaction
    finally:
        store.close()
    reopened = SqliteStore(db)
    try:
        assert ids(reopened) == [f"urn:ngsi-ld:E:{x}" for x in ("a", "b", "c", "keep")]
    finally:
        reopened.close()


def test_job_results_are_returned(store: SqliteStore) -> None:
    assert store.write_sync("", lambda w: 42) == 42
    fut: Future[Any] = store.submit("", lambda w: {"x": 1})
    assert fut.result(10) == {"x": 1}


# --- tenants -----------------------------------------------------------------------------------------------
def test_tenants_are_created_on_demand_and_isolated(db: str) -> None:
    store = SqliteStore(db, synchronous="NORMAL")
    try:
        assert store.tenant_exists("")
        assert not store.tenant_exists("t1")
        with pytest.raises(NonexistentTenant):
            store.write_sync("t1", insert(ent(1)))
        with pytest.raises(NonexistentTenant):
            store.read_sync("t1", lambda r: r.get("urn:ngsi-ld:E:1"))
        assert store.write_sync("t1", insert(ent(1, a="t1")), create_tenant=True) is True
        assert store.write_sync("t2", insert(ent(1, a="t2")), create_tenant=True) is True
        assert store.write_sync("", insert(ent(1, a="default"))) is True
        assert store.tenants() == ["t1", "t2"]
        for t in ("t1", "t2"):
            assert store.read_sync(t, lambda r: r.get("urn:ngsi-ld:E:1"))["a"] == t
        assert store.read_sync("", lambda r: r.get("urn:ngsi-ld:E:1"))["a"] == "default"
        assert store.write_sync("t1", lambda w: w.delete("urn:ngsi-ld:E:1")) is True
        assert store.read_sync("t2", lambda r: r.get("urn:ngsi-ld:E:1")) is not None
        assert ids(store, "t1") == []
    finally:
        store.close()
    reopened = SqliteStore(db)
    try:
        assert reopened.tenants() == ["t1", "t2"]
        assert ids(reopened, "t2") == ["urn:ngsi-ld:E:1"]
    finally:
        reopened.close()


def test_failed_job_does_not_create_its_tenant(db: str) -> None:
    store = SqliteStore(db, synchronous="NORMAL")
    try:
        def fail(w: SqliteWriter) -> None:
            w.insert(ent(1))
            raise AlreadyExists("no")

        with pytest.raises(AlreadyExists):
            store.write_sync("ghost", fail, create_tenant=True)
        assert not store.tenant_exists("ghost")
    finally:
        store.close()
    reopened = SqliteStore(db)
    try:
        assert not reopened.tenant_exists("ghost")
    finally:
        reopened.close()


def test_tenant_created_in_a_batch_survives_a_failing_job_of_the_same_tenant(db: str) -> None:
    """Two jobs that create the same new tenant in one batch: the first succeeds, the second fails.

    The tenant row is committed by the first job; the store must keep knowing the tenant.
    """
    store = SqliteStore(db, synchronous="NORMAL")
    try:
        def fail(w: SqliteWriter) -> None:
            raise AlreadyExists("duplicate")

        with Blocker(store) as blocker:
            ok = store.submit("new", insert(ent(1)), create_tenant=True)
            bad = store.submit("new", fail, create_tenant=True)
        assert ok.result(10) is True
        with pytest.raises(AlreadyExists):
            bad.result(10)
        assert blocker.batches[-1] == 2
        on_disk = SqliteStore(db)
        try:
            assert on_disk.tenant_exists("new")  # committed
        finally:
            on_disk.close()
        assert store.tenant_exists("new")
        assert store.read_sync("new", lambda r: r.get("urn:ngsi-ld:E:1")) is not None
    finally:
        store.close()


# --- lifecycle ---------------------------------------------------------------------------------------------
def test_closed_store_refuses_writes(db: str) -> None:
    store = SqliteStore(db)
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError):
        store.submit("", insert(ent(1)))


def test_bad_synchronous_setting(db: str) -> None:
    with pytest.raises(ValueError):
        SqliteStore(db, synchronous="SOMETIMES")


def test_schema_is_migrated_once(db: str) -> None:
    SqliteStore(db).close()
    store = SqliteStore(db)  # a second open does not re-run migrations
    try:
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()
    finally:
        store.close()


def test_readers_see_committed_writes_from_other_threads(store: SqliteStore) -> None:
    store.write_sync("", insert(ent(1)))
    seen: list[Any] = []

    def reader() -> None:
        seen.append(store.read_sync("", lambda r: r.get("urn:ngsi-ld:E:1")))

    t = threading.Thread(target=reader)
    t.start()
    t.join()
    assert seen and seen[0]["id"] == "urn:ngsi-ld:E:1"

