"""The ASGI application: route table, error rendering, lifecycle."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from boulevard.api import batch, contexts, entities
from boulevard.api.request import tenant_of
from boulevard.api.responses import json_response, problem_response
from boulevard.api.services import Services, services
from boulevard.broker.operations import Broker
from boulevard.config import Settings
from boulevard.errors import (
    InternalError,
    MethodNotAllowed,
    NgsiLdError,
    ResourceNotFound,
)
from boulevard.ngsild.context import ContextCache, Fetcher
from boulevard.storage.sqlite import SqliteStore

log = logging.getLogger("boulevard.api")
BASE = "/ngsi-ld/v1"


def _route(path: str, endpoint: Any, methods: list[str]) -> Route:
    return Route(BASE + path, endpoint, methods=methods)


ROUTES = [
    _route("/entities", entities.create_entity, ["POST"]),
    _route("/entities", entities.query_entities, ["GET"]),
    _route("/entities", entities.purge_entities, ["DELETE"]),
    _route("/entities", entities.missing_entity_id, ["PUT", "PATCH"]),
    _route("/entities//attrs", entities.missing_entity_id, ["POST", "PATCH"]),
    _route("/entities//attrs/{attr_id}", entities.missing_entity_id, ["PATCH", "PUT", "DELETE"]),
    _route("/entities/{entity_id}/attrs/{attr_id}", entities.partial_update_attr, ["PATCH"]),
    _route("/entities/{entity_id}/attrs/{attr_id}", entities.replace_attr, ["PUT"]),
    _route("/entities/{entity_id}/attrs/{attr_id}", entities.delete_attr, ["DELETE"]),
    _route("/entities/{entity_id}/attrs", entities.append_attrs, ["POST"]),
    _route("/entities/{entity_id}/attrs", entities.update_attrs, ["PATCH"]),
    _route("/entities/{entity_id}", entities.retrieve_entity, ["GET"]),
    _route("/entities/{entity_id}", entities.replace_entity, ["PUT"]),
    _route("/entities/{entity_id}", entities.merge_entity, ["PATCH"]),
    _route("/entities/{entity_id}", entities.delete_entity, ["DELETE"]),
    _route("/entityOperations/create", batch.batch_create, ["POST"]),
    _route("/entityOperations/upsert", batch.batch_upsert, ["POST"]),
    _route("/entityOperations/update", batch.batch_update, ["POST"]),
    _route("/entityOperations/merge", batch.batch_merge, ["POST"]),
    _route("/entityOperations/delete", batch.batch_delete, ["POST"]),
    _route("/jsonldContexts", contexts.add_context, ["POST"]),
    _route("/jsonldContexts", contexts.list_contexts, ["GET"]),
    _route("/jsonldContexts/{context_id:path}", contexts.serve_context, ["GET"]),
    _route("/jsonldContexts/{context_id:path}", contexts.delete_context, ["DELETE"]),
]


async def source_identity(request: Request) -> Response:
    svc = services(request)
    tenant = tenant_of(request)
    uptime = int(time.monotonic() - svc.started_at)
    body = {
        "id": "urn:ngsi-ld:ContextSourceIdentity:boulevard",
        "type": "ContextSourceIdentity",
        "contextSourceExtras": {"product": "Boulevard"},
        "contextSourceUptime": f"PT{uptime}S",
        "contextSourceTimeAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "contextSourceAlias": tenant or "urn:ngsi-ld:tenant:default",
    }
    return json_response(body, headers={"NGSILD-Tenant": tenant} if tenant else None)


async def _ngsi_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NgsiLdError)
    return problem_response(exc, request.headers.get("ngsild-tenant"))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return problem_response(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
    if exc.status_code == 404:
        return problem_response(ResourceNotFound(f"no resource at {request.url.path}"))
    err = NgsiLdError(exc.detail)
    err.status = exc.status_code
    return problem_response(err)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(InternalError("internal error; the request changed nothing"))


def create_app(settings: Settings | None = None, *, fetcher: Fetcher | None = None) -> Any:
    """The broker as an ASGI app; the store opens on start-up and closes on shutdown."""
    cfg = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = SqliteStore(cfg.db, synchronous=cfg.sync)
        app.state.services = Services(
            broker=Broker(store),
            contexts=ContextCache(fetcher, base_url=cfg.base_url),
            settings=cfg,
            started_at=time.monotonic(),
        )
        try:
            yield
        finally:
            store.close()

    routes = [*ROUTES, Route(BASE + "/info/sourceIdentity", source_identity, methods=["GET"])]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            NgsiLdError: _ngsi_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    return _strip_trailing_slash(app)


def _strip_trailing_slash(app: Starlette) -> Any:
    """Serve `/entities/` as `/entities`: clients (and the ETSI suite) use both."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                if scope.get("raw_path"):
                    scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await app(scope, receive, send)

    wrapped.state = app.state  # type: ignore[attr-defined]
    wrapped.app = app  # type: ignore[attr-defined]
    return wrapped
