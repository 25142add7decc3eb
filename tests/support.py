"""Test support: an in-process broker driven through httpx, with its lifespan run explicitly.

Tests are plain (synchronous) functions: the ``api`` fixture owns one event loop
(``asyncio.Runner``) for the whole test, runs the app's ASGI lifespan in it, and
exposes blocking ``get/post/patch/put/delete`` helpers that run the httpx calls on
that loop. ``api.run(coro)`` runs any coroutine (e.g. ``asyncio.gather`` of several
requests) on the same loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from boulevard.api.app import create_app
from boulevard.config import Settings

T = TypeVar("T")

BASE = "/ngsi-ld/v1"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
CORE_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"

# user @context documents served by the fake fetcher (no network in tests)
USER_CTX_URL = "http://example.org/ctx/user.jsonld"
EX = "http://example.org/vocab#"
USER_CTX_DOC = {
    "@context": {
        "ex": EX,
        "temperature": "http://example.org/vocab#temperature",
        "Room": "http://example.org/vocab#Room",
        "isIn": {"@id": "http://example.org/vocab#isIn", "@type": "@id"},
    }
}
OTHER_CTX_URL = "http://example.org/ctx/other.jsonld"
OTHER_CTX_DOC = {"@context": {"temperature": "http://other.example/temperature"}}
BROKEN_CTX_URL = "http://unreachable.example/ctx.jsonld"


class FakeFetcher:
    """An async ``url -> JSON document`` function; unknown URLs fail like a network error."""

    def __init__(self, docs: dict[str, Any] | None = None) -> None:
        self.docs = dict(docs or {})
        self.calls: list[str] = []

    async def __call__(self, url: str) -> Any:
        self.calls.append(url)
        if url in self.docs:
            return json.loads(json.dumps(self.docs[url]))  # a fresh copy every time
        raise ConnectionError(f"cannot connect to {url}")


class Lifespan:
    """Drives the ASGI lifespan protocol of an app by hand (httpx's ASGITransport does not)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self.task = asyncio.get_running_loop().create_task(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        msg = await self._from_app.get()
        if msg["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan start-up failed: {msg}")

    async def shutdown(self) -> None:
        assert self.task is not None
        await self._to_app.put({"type": "lifespan.shutdown"})
        msg = await self._from_app.get()
        await self.task
        if msg["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"lifespan shutdown failed: {msg}")


def link(url: str) -> str:
    return f'<{url}>; rel="{CONTEXT_REL}"; type="application/ld+json"'


def assert_problem(resp: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """The response is a ProblemDetails of the given status and NGSI-LD error type."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].split(";")[0] == "application/json", resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert body["type"] == ERRORS + kind, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


class Api:
    """A blocking façade over ``httpx.AsyncClient`` talking to the ASGI app in-process."""

    def __init__(self, runner: asyncio.Runner, client: httpx.AsyncClient, app: Any,
                 fetcher: FakeFetcher, settings: Settings) -> None:
        self.runner = runner
        self.client = client
        self.app = app
        self.fetcher = fetcher
        self.settings = settings

    @property
    def store(self) -> Any:
        return self.app.state.services.broker.store

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await awaitable

        return self.runner.run(wrapper())

    @staticmethod
    def url(path: str) -> str:
        return path if path.startswith(BASE) else BASE + path

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.run(self.client.request(method, self.url(path), **kw))

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    # -- shortcuts ---------------------------------------------------------------
    def create(self, entity: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        resp = self.post("/entities", json=entity, headers=headers)
        assert resp.status_code == 201, resp.text
        return resp

    def entity(self, entity_id: str, headers: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
        resp = self.get(f"/entities/{entity_id}", params=params, headers=headers)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def status_of(self, entity_id: str, headers: dict[str, str] | None = None) -> int:
        return self.get(f"/entities/{entity_id}", headers=headers).status_code

    def raw(self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"",
            query: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """One HTTP request as a bare ASGI call: exactly the headers given, nothing added."""

        async def call() -> tuple[int, dict[str, str], bytes]:
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                "scheme": "http", "path": self.url(path), "raw_path": self.url(path).encode(),
                "query_string": query, "root_path": "", "headers": [(b"host", b"test"), *headers],
                "client": ("127.0.0.1", 1234), "server": ("test", 80),
            }
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.sleep(3600)
                return {"type": "http.disconnect"}

            status = 0
            hdrs: dict[str, str] = {}
            chunks: list[bytes] = []

            async def send(msg: dict[str, Any]) -> None:
                nonlocal status
                if msg["type"] == "http.response.start":
                    status = msg["status"]
                    hdrs.update({k.decode().lower(): v.decode() for k, v in msg.get("headers", [])})
                elif msg["type"] == "http.response.body":
                    chunks.append(msg.get("body", b""))

            await self.app(scope, receive, send)
            return status, hdrs, b"".join(chunks)

        return self.run(call())


def make_app(tmp_path: Path, fetcher: FakeFetcher, name: str = "t.db", sync: str = "NORMAL") -> tuple[Any, Settings]:
    settings = Settings(db=str(tmp_path / name), sync=sync)
    return create_app(settings, fetcher=fetcher), settings


def open_api(runner: asyncio.Runner, app: Any, fetcher: FakeFetcher, settings: Settings) -> tuple[Api, Lifespan]:
    lifespan = Lifespan(app)
    runner.run(lifespan.startup())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return Api(runner, client, app, fetcher, settings), lifespan


def close_api(api: Api, lifespan: Lifespan) -> None:
    api.runner.run(api.client.aclose())
    api.runner.run(lifespan.shutdown())


def room(entity_id: str = "urn:ngsi-ld:Room:1", **attrs: Any) -> dict[str, Any]:
    """A small valid entity in the core context (default vocabulary)."""
    body: dict[str, Any] = {
        "id": entity_id,
        "type": "Room",
        "temperature": {"type": "Property", "value": 21.5, "unitCode": "CEL"},
        "isPartOf": {"type": "Relationship", "object": "urn:ngsi-ld:Building:B"},
    }
    body.update(attrs)
    return body
