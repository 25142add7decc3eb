"""The floor: a bare ASGI app doing only the work the broker's hot paths cannot avoid.

No framework, no NGSI-LD validation, no @context expansion, no rendering:

* ``POST /ngsi-ld/v1/entities``: parse the JSON body with orjson, one ``INSERT``
  (same table layout as the broker), answer 201 with a ``Location``;
* ``GET /ngsi-ld/v1/entities/{id}``: one ``SELECT`` by primary key, answer the
  stored JSON as it is;
* ``POST /ngsi-ld/v1/entityOperations/upsert``: parse the array, write every
  entity in one transaction (``INSERT OR REPLACE``), answer 201 with the ids.

SQLite is set up like the broker's store (``storage/sqlite.py``): WAL, the same
``synchronous`` / cache pragmas, one writer connection on one writer thread with
group commit (every write waiting is committed together, the request is answered
after its COMMIT), and reads on the event-loop thread. It is served by uvicorn
exactly as ``boulevard serve`` serves the broker (one worker, uvloop/httptools
when installed, no access log).

    python benchmarks/floor_app.py --db /tmp/floor.db --port 1027 [--sync FULL|NORMAL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Rows = list[tuple[str, str, bytes]]

ENTITIES = "/ngsi-ld/v1/entities"
ENTITY_PREFIX = ENTITIES + "/"
UPSERT = "/ngsi-ld/v1/entityOperations/upsert"
MAX_GROUP = 512
INSERT_SQL = "INSERT OR IGNORE INTO entities (tenant, id, doc) VALUES (?, ?, ?)"
UPSERT_SQL = "INSERT OR REPLACE INTO entities (tenant, id, doc) VALUES (?, ?, ?)"
SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    tenant TEXT NOT NULL,
    id     TEXT NOT NULL,
    doc    BLOB NOT NULL,
    PRIMARY KEY (tenant, id)
)
"""


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """A connection with the broker's pragmas (``storage.sqlite._connect``)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-16000")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


class WriteJob:
    __slots__ = ("future", "replace", "rows")

    def __init__(self, rows: Rows, *, replace: bool) -> None:
        self.rows = rows
        self.replace = replace
        self.future: Future[bool] = Future()


class FloorStore:
    """One writer thread with group commit; reads on the caller's thread."""

    def __init__(self, path: str, synchronous: str) -> None:
        self._wconn = connect(path, synchronous)
        self._wconn.execute("PRAGMA wal_autocheckpoint=4000")
        self._wconn.execute(SCHEMA)
        self._rconn = connect(path, synchronous)
        self._queue: queue.SimpleQueue[WriteJob | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="floor-writer", daemon=True)
        self._thread.start()

    def get(self, entity_id: str) -> bytes | None:
        row = self._rconn.execute("SELECT doc FROM entities WHERE tenant = '' AND id = ?", (entity_id,)).fetchone()
        return None if row is None else bytes(row[0])

    async def write(self, rows: Rows, *, replace: bool) -> bool:
        job = WriteJob(rows, replace=replace)
        self._queue.put(job)
        return await asyncio.wrap_future(job.future)

    def _run(self) -> None:
        conn = self._wconn
        while True:
            job = self._queue.get()
            if job is None:
                break
            group = [job]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._commit(conn, group)
            if stop:
                break
        conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, group: list[WriteJob]) -> None:
        results: list[bool] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in group:
                if job.replace:
                    conn.executemany(UPSERT_SQL, job.rows)
                    results.append(True)
                else:
                    results.append(conn.executemany(INSERT_SQL, job.rows).rowcount > 0)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in group:
                job.future.set_exception(exc)
            return
        for job, ok in zip(group, results, strict=True):
            job.future.set_result(ok)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        with contextlib.suppress(sqlite3.ProgrammingError):
            self._rconn.close()


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def respond(
    send: Send, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    raw_headers = [(b"content-length", str(len(body)).encode()), *(headers or [])]
    if body:
        raw_headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class FloorApp:
    def __init__(self, db: str, synchronous: str) -> None:
        self.db = db
        self.synchronous = synchronous
        self.store: FloorStore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        assert self.store is not None
        method: str = scope["method"]
        path: str = scope["path"]
        if method == "GET" and path.startswith(ENTITY_PREFIX):
            doc = self.store.get(path[len(ENTITY_PREFIX) :])
            await (respond(send, 404) if doc is None else respond(send, 200, doc))
        elif method == "POST" and path == ENTITIES:
            await self._create(receive, send)
        elif method == "POST" and path == UPSERT:
            await self._upsert(receive, send)
        else:
            await respond(send, 404)

    async def _create(self, receive: Receive, send: Send) -> None:
        assert self.store is not None
        try:
            entity = orjson.loads(await read_body(receive))
            entity_id = entity["id"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            await respond(send, 400)
            return
        if not await self.store.write([("", entity_id, orjson.dumps(entity))], replace=False):
            await respond(send, 409)
            return
        location = (ENTITY_PREFIX + quote(entity_id, safe=":")).encode()
        await respond(send, 201, headers=[(b"location", location)])

    async def _upsert(self, receive: Receive, send: Send) -> None:
        assert self.store is not None
        try:
            entities = orjson.loads(await read_body(receive))
            rows = [("", e["id"], orjson.dumps(e)) for e in entities]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            await respond(send, 400)
            return
        await self.store.write(rows, replace=True)
        await respond(send, 201, orjson.dumps([r[1] for r in rows]))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.store = FloorStore(self.db, self.synchronous)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.store is not None:
                    self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1027)
    parser.add_argument("--db", default="./floor.db")
    parser.add_argument("--sync", default="FULL", type=str.upper, choices=["FULL", "NORMAL"])
    args = parser.parse_args()
    # the same call as `boulevard serve` (boulevard/cli.py): one worker, uvloop + httptools
    # when installed, no access log, no proxy-headers middleware, no Server header
    uvicorn.run(
        FloorApp(args.db, args.sync), host=args.host, port=args.port, log_level="warning", access_log=False,
        lifespan="on", proxy_headers=False, server_header=False,
    )


if __name__ == "__main__":
    main()
