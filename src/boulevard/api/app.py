"""The ASGI application: the route table and the lifecycle of the store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from boulevard.api import batch, contexts, discovery, entities, temporal
from boulevard.api.request import tenant_of
from boulevard.api.responses import json_response
from boulevard.api.router import Route, Router
from boulevard.api.services import Services, services
from boulevard.broker.operations import Broker
from boulevard.config import Settings
from boulevard.ngsild.context import ContextCache, Fetcher
from boulevard.storage.base import DEFAULT_TENANT
from boulevard.storage.sqlite import SqliteStore
from boulevard.timestamps import now_micros

BASE = "/ngsi-ld/v1"


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


def _r(path: str, handler: Any, *methods: str) -> Route:
    return Route(BASE + path, methods, handler)


ROUTES = [
    _r("/entities", entities.create_entity, "POST"),
    _r("/entities", entities.query_entities, "GET"),
    _r("/entities", entities.purge_entities, "DELETE"),
    _r("/entities", entities.missing_entity_id, "PUT", "PATCH"),
    _r("/entities/{entity_id}", entities.retrieve_entity, "GET"),
    _r("/entities/{entity_id}", entities.replace_entity, "PUT"),
    _r("/entities/{entity_id}", entities.merge_entity, "PATCH"),
    _r("/entities/{entity_id}", entities.delete_entity, "DELETE"),
    _r("/entities/{entity_id}/attrs", entities.append_attrs, "POST"),
    _r("/entities/{entity_id}/attrs", entities.update_attrs, "PATCH"),
    _r("/entities/{entity_id}/attrs/{attr_id}", entities.partial_update_attr, "PATCH"),
    _r("/entities/{entity_id}/attrs/{attr_id}", entities.replace_attr, "PUT"),
    _r("/entities/{entity_id}/attrs/{attr_id}", entities.delete_attr, "DELETE"),
    _r("/entities//attrs", entities.missing_entity_id, "POST", "PATCH"),
    _r("/entities//attrs/{attr_id}", entities.missing_entity_id, "PATCH", "PUT", "DELETE"),
    _r("/entityOperations/create", batch.batch_create, "POST"),
    _r("/entityOperations/upsert", batch.batch_upsert, "POST"),
    _r("/entityOperations/update", batch.batch_update, "POST"),
    _r("/entityOperations/merge", batch.batch_merge, "POST"),
    _r("/entityOperations/delete", batch.batch_delete, "POST"),
    _r("/entityOperations/query", entities.query_entities_post, "POST"),
    _r("/entityMaps/{map_id}", entities.retrieve_entity_map, "GET"),
    _r("/entityMaps/{map_id}", entities.delete_entity_map, "DELETE"),
    _r("/jsonldContexts", contexts.add_context, "POST"),
    _r("/jsonldContexts", contexts.list_contexts, "GET"),
    _r("/jsonldContexts/{context_id:path}", contexts.serve_context, "GET"),
    _r("/jsonldContexts/{context_id:path}", contexts.delete_context, "DELETE"),
    _r("/types", discovery.list_types, "GET"),
    _r("/types/{type}", discovery.type_info, "GET"),
    _r("/attributes", discovery.list_attributes, "GET"),
    _r("/attributes/{attr_id}", discovery.attribute_info, "GET"),
    _r("/temporal/entities", temporal.create_temporal, "POST"),
    _r("/temporal/entities", temporal.query_temporal, "GET"),
    _r("/temporal/entities/{entity_id}", temporal.retrieve_temporal, "GET"),
    _r("/temporal/entities/{entity_id}", temporal.delete_temporal, "DELETE"),
    _r("/temporal/entities/{entity_id}/attrs", temporal.add_temporal_attrs, "POST"),
    _r("/temporal/entities/{entity_id}/attrs/{attr_id}", temporal.delete_temporal_attr, "DELETE"),
    _r("/temporal/entities/{entity_id}/attrs/{attr_id}/{instance_id}", temporal.modify_instance, "PATCH"),
    _r("/temporal/entities/{entity_id}/attrs/{attr_id}/{instance_id}", temporal.delete_instance, "DELETE"),
    _r("/temporal/entityOperations/query", temporal.query_temporal_post, "POST"),
    _r("/temporal/entities//attrs", temporal.missing_part, "POST"),
    _r("/temporal/entities//attrs/{attr_id}", temporal.missing_part, "DELETE"),
    _r("/temporal/entities//attrs/{attr_id}/{instance_id}", temporal.missing_part, "PATCH", "DELETE"),
    _r("/temporal/entities/{entity_id}/attrs//{instance_id}", temporal.missing_part, "DELETE"),
    _r("/info/sourceIdentity", source_identity, "GET"),
]


RETENTION_EVERY_S = 600.0


async def _retention(broker: Broker, days: int) -> None:
    """Prune history older than ``days``, now and then, in small write jobs (writes go on)."""
    while True:
        await broker.temporal.prune(DEFAULT_TENANT, now_micros() - days * 86_400_000_000)
        await asyncio.sleep(RETENTION_EVERY_S)


def create_app(settings: Settings | None = None, *, fetcher: Fetcher | None = None) -> Router:
    """The broker as an ASGI app; the store opens on start-up and closes on shutdown."""
    cfg = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Router) -> AsyncIterator[None]:
        store = SqliteStore(cfg.db, synchronous=cfg.sync)
        contexts = ContextCache(fetcher, base_url=cfg.base_url)
        contexts.restore(store.load_contexts())
        broker = Broker(store, history_page=cfg.history_page)
        app.state.services = Services(
            broker=broker,
            contexts=contexts,
            settings=cfg,
            started_at=time.monotonic(),
        )
        retention = None
        if cfg.history_days > 0:
            retention = asyncio.create_task(_retention(broker, cfg.history_days))
        try:
            yield
        finally:
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            store.close()

    return Router(ROUTES, lifespan)
