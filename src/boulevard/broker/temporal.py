"""Temporal operations (clauses 5.6.11-5.6.21 and 5.7.3-5.7.4), callable without HTTP.

History is written by the store together with every change of the current state;
these operations read it, and provide it directly (temporal provision: instances
with their own ``observedAt``, e.g. a backfill of last year's counts). Temporal
provision writes history only: a stale backfill must not overwrite the live state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boulevard.errors import ResourceNotFound
from boulevard.ngsild.model import Entity
from boulevard.ngsild.selection import EntitySelection
from boulevard.ngsild.temporal import Aggregation, TemporalEntity
from boulevard.ngsild.temporal_aggr import aggregate
from boulevard.storage.base import HistoryInstance, HistoryQuery, Reader, Store, TemporalHead, Writer
from boulevard.timestamps import now_micros

PRUNE_CHUNK = 5_000  # instances dropped per retention job: writes wait at most one chunk


def _pseudo_entity(head: TemporalHead, instances: list[HistoryInstance]) -> Entity:
    """The entity as q / geo / scope matchers see it: every instance of the window."""
    attrs: dict[str, list[dict[str, Any]]] = {}
    for inst in instances:
        if inst.deleted_at is None:
            attrs.setdefault(inst.attr, []).append(inst.doc)
    entity: Entity = {"id": head.id, "type": head.types, "attrs": attrs}
    if head.scope:
        entity["scope"] = head.scope
    return entity


class TemporalBroker:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- provision ----------------------------------------------------------------------
    async def create_or_update(self, tenant: str, parsed: Entity) -> bool:
        """POST /temporal/entities: True when the temporal entity is new (201), else 204."""
        now = now_micros()
        head = TemporalHead(parsed["id"], parsed["type"], parsed.get("scope"), now, None)
        return await self.store.write(
            tenant, lambda w: w.add_history(head, parsed["attrs"], now), create_tenant=True
        )

    async def add_attrs(self, tenant: str, entity_id: str, attrs: dict[str, list[dict[str, Any]]]) -> None:
        now = now_micros()

        def job(w: Writer) -> None:
            head = w.temporal_head(entity_id)
            if head is None:
                raise ResourceNotFound(f"temporal entity {entity_id} not found")
            w.add_history(head, attrs, now)

        await self.store.write(tenant, job)

    async def delete(self, tenant: str, entity_id: str) -> None:
        def job(w: Writer) -> None:
            if not w.delete_history(entity_id):
                raise ResourceNotFound(f"temporal entity {entity_id} not found")

        await self.store.write(tenant, job)

    async def delete_attr(
        self, tenant: str, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> None:
        def job(w: Writer) -> None:
            if w.temporal_head(entity_id) is None:
                raise ResourceNotFound(f"temporal entity {entity_id} not found")
            if not w.delete_series(entity_id, attr, dataset_id, delete_all):
                raise ResourceNotFound(f"attribute {attr} has no instances to delete")

        await self.store.write(tenant, job)

    async def modify_instance(
        self, tenant: str, entity_id: str, attr: str, iid: int, inst: dict[str, Any]
    ) -> None:
        now = now_micros()

        def job(w: Writer) -> None:
            if w.temporal_head(entity_id) is None:
                raise ResourceNotFound(f"temporal entity {entity_id} not found")
            if not w.replace_instance(entity_id, attr, iid, inst, now):
                raise ResourceNotFound(f"attribute {attr} has no instance {iid}")

        await self.store.write(tenant, job)

    async def delete_instance(self, tenant: str, entity_id: str, attr: str, iid: int) -> None:
        def job(w: Writer) -> None:
            if w.temporal_head(entity_id) is None:
                raise ResourceNotFound(f"temporal entity {entity_id} not found")
            if not w.delete_instance(entity_id, attr, iid):
                raise ResourceNotFound(f"attribute {attr} has no instance {iid}")

        await self.store.write(tenant, job)

    async def prune(self, tenant: str, before: int) -> int:
        """Retention: drop instances recorded before ``before``, one chunk per write job so
        other writes interleave. Returns how many went."""
        total = 0
        while True:
            gone = await self.store.write(tenant, lambda w: w.prune_history(before, PRUNE_CHUNK))
            total += gone
            if gone < PRUNE_CHUNK:
                return total

    # -- consumption --------------------------------------------------------------------
    async def retrieve(
        self, tenant: str, entity_id: str, query: HistoryQuery, aggr: Aggregation | None,
        types: tuple[str, ...] | None = None,
    ) -> TemporalEntity:
        if not self.store.tenant_exists(tenant):
            raise ResourceNotFound(f"temporal entity {entity_id} not found")

        def job(r: Reader) -> TemporalEntity:
            head = r.temporal_head(entity_id)
            if head is None or (types is not None and not any(t in head.types for t in types)):
                raise ResourceNotFound(f"temporal entity {entity_id} not found")
            return _read(r, head, query, aggr)

        return await self.store.read_bulk(tenant, job)

    async def query(
        self, tenant: str, sel: EntitySelection, query: HistoryQuery, aggr: Aggregation | None,
        *, limit: int, offset: int, count: bool,
    ) -> tuple[list[TemporalEntity], int | None]:
        """A page of temporal entities (id order) with the selected history, and their number."""
        if not self.store.tenant_exists(tenant):
            return [], (0 if count else None)

        def matches(r: Reader) -> Iterator[TemporalEntity]:
            for head in r.temporal_scan(sel.flt):
                if sel.match is None:
                    yield _read(r, head, query, aggr)
                    continue
                # q, geo and scope look at every attribute of the window, whatever attrs shows
                full = r.history(head.id, HistoryQuery(query.window, None, None, query.dataset_ids))
                if sel.match(_pseudo_entity(head, full)):
                    yield _read(r, head, query, aggr)

        def job(r: Reader) -> tuple[list[TemporalEntity], int | None]:
            page: list[TemporalEntity] = []
            total = 0
            for found in matches(r):
                if offset <= total < offset + limit:
                    page.append(found)
                total += 1
                if not count and total >= offset + limit:
                    break
            return page, (total if count else None)

        return await self.store.read_bulk(tenant, job)


def _read(r: Reader, head: TemporalHead, query: HistoryQuery, aggr: Aggregation | None) -> TemporalEntity:
    if aggr is None:
        return TemporalEntity(head, r.history(head.id, query))
    values = r.history_values(head.id, query)
    aggregates: dict[str, dict[str, list[tuple[Any, int, int]]]] = {}
    for attr, points in values.items():
        if not points:
            continue
        start = aggr.start if aggr.start is not None else min(p[0] for p in points)
        end = aggr.end if aggr.end is not None else max(p[0] for p in points) + 1
        aggregates[attr] = aggregate(points, aggr.methods, start, end, aggr.period)
    return TemporalEntity(head, [], aggregates)
