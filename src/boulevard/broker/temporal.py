"""Temporal operations (clauses 5.6.11-5.6.21 and 5.7.3-5.7.4), callable without HTTP.

History is written by the store together with every change of the current state;
these operations read it, and provide it directly (temporal provision: instances
with their own ``observedAt``, e.g. a backfill of last year's counts). Temporal
provision never rewrites an existing current state (a stale backfill must not
overwrite live values); an entity the broker does not hold yet gets one, made of
its latest instances.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from boulevard.errors import ResourceNotFound
from boulevard.ngsild.model import NGSI_LD_NULL, Entity, new_entity, now_iso
from boulevard.ngsild.selection import EntitySelection
from boulevard.ngsild.temporal import Aggregation, TemporalEntity, TimeRange, cut_page, page_plan
from boulevard.ngsild.temporal_aggr import aggregate
from boulevard.storage.base import SCOPE, HistoryInstance, HistoryQuery, Reader, Store, TemporalHead, Writer
from boulevard.timestamps import micros_or_none, now_micros

PRUNE_CHUNK = 5_000  # instances dropped per retention job: writes wait at most one chunk
DEFAULT_PAGE = 10_000  # instances per attribute in one answer, beyond which a temporal page is cut


def current_state(parsed: Entity) -> Entity:
    """The entity a temporal representation describes now: per attribute and datasetId, its
    most recent instance (NGSI-LD null values are no state)."""
    attrs: dict[str, list[dict[str, Any]]] = {}
    for attr, insts in parsed["attrs"].items():
        latest: dict[str | None, dict[str, Any]] = {}
        for inst in insts:
            if inst.get("value") == NGSI_LD_NULL:
                continue
            ds = inst.get("datasetId")
            old = latest.get(ds)
            if old is None or (micros_or_none(inst.get("observedAt")) or 0) >= (
                micros_or_none(old.get("observedAt")) or 0
            ):
                latest[ds] = inst
        if latest and attr != SCOPE:
            attrs[attr] = copy.deepcopy(list(latest.values()))
    entity: Entity = {"id": parsed["id"], "type": list(parsed["type"]), "attrs": attrs}
    if parsed.get("scope"):
        entity["scope"] = parsed["scope"]
    return entity


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
    def __init__(self, store: Store, page: int = DEFAULT_PAGE) -> None:
        self.store = store
        self.page = page

    # -- provision ----------------------------------------------------------------------
    async def create_or_update(self, tenant: str, parsed: Entity) -> bool:
        """POST /temporal/entities: True when the temporal entity is new (201), else 204.
        An entity the broker does not hold yet also gets a current state: its latest instances."""
        now = now_micros()
        head = TemporalHead(parsed["id"], parsed["type"], parsed.get("scope"), now, None)

        def job(w: Writer) -> bool:
            created = w.add_history(head, parsed["attrs"], now)
            if w.get(parsed["id"]) is None:
                w.insert(new_entity(current_state(parsed), now_iso()), history=False)
            return created

        return await self.store.write(tenant, job, create_tenant=True)

    async def add_attrs(self, tenant: str, entity_id: str, attrs: dict[str, list[dict[str, Any]]]) -> None:
        now = now_micros()

        def job(w: Writer) -> None:
            head = w.temporal_head(entity_id)
            if head is None:
                raise ResourceNotFound(f"temporal entity {entity_id} not found")
            w.add_history(head, attrs, now)

        await self.store.write(tenant, job)

    async def delete(self, tenant: str, entity_id: str) -> None:
        def job(w: Writer) -> None:  # the entity goes with its history
            current = w.delete(entity_id)
            if not w.delete_history(entity_id) and not current:
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
    ) -> tuple[TemporalEntity, TimeRange | None]:
        """One temporal entity, and the time range it was cut to when the history is longer
        than the server answers at once."""
        if not self.store.tenant_exists(tenant):
            raise ResourceNotFound(f"temporal entity {entity_id} not found")

        plan, limit = page_plan(query, self.page) if aggr is None else (query, None)

        def job(r: Reader) -> tuple[TemporalEntity, TimeRange | None]:
            head = r.temporal_head(entity_id)
            if head is None or (types is not None and not any(t in head.types for t in types)):
                raise ResourceNotFound(f"temporal entity {entity_id} not found")
            found = _read(r, head, plan, aggr)
            return found, (None if limit is None else cut_page([found], query, limit, query.window.prop))

        return await self.store.read_bulk(tenant, job)

    async def query(
        self, tenant: str, sel: EntitySelection, query: HistoryQuery, aggr: Aggregation | None,
        *, limit: int, offset: int, count: bool, scoped: bool = False,
    ) -> tuple[list[TemporalEntity], int | None, TimeRange | None]:
        """A page of temporal entities (id order) with the selected history, their number, and
        the time range the history was cut to. Entities with nothing in the window are left out."""
        if not self.store.tenant_exists(tenant):
            return [], (0 if count else None), None
        plan, cap = page_plan(query, self.page) if aggr is None else (query, None)

        def matches(r: Reader) -> Iterator[TemporalEntity]:
            for head in r.temporal_scan(sel.flt):
                kept: list[tuple[int, int]] | None = None  # with a scope history: the spans that match
                if sel.match is not None:
                    # q, geo and scope look at every attribute of the window, whatever attrs shows
                    full = r.history(head.id, HistoryQuery(query.window, dataset_ids=query.dataset_ids))
                    spans = _scope_spans(r, head, query) if scoped else None
                    if spans is None:
                        if not sel.match(_pseudo_entity(head, full)):
                            continue
                    else:  # scopeQ on a scope history (4.18): judged span by span
                        match = sel.match
                        kept = [(lo, hi) for lo, hi, scope in spans
                                if match(_pseudo_entity(replace(head, scope=scope), _observed(full, lo, hi)))]
                        if not kept:
                            continue
                found = _read(r, head, plan, aggr)
                if kept is not None:
                    found.instances = [i for i in found.instances if i.attr == SCOPE or any(
                        i.observed_at is not None and lo <= i.observed_at < hi for lo, hi in kept)]
                if not found.empty:
                    yield found

        def job(r: Reader) -> tuple[list[TemporalEntity], int | None, TimeRange | None]:
            page: list[TemporalEntity] = []
            total = 0
            for found in matches(r):
                if offset <= total < offset + limit:
                    page.append(found)
                total += 1
                if not count and total >= offset + limit:
                    break
            cut = None if cap is None else cut_page(page, query, cap, query.window.prop)
            return page, (total if count else None), cut

        return await self.store.read_bulk(tenant, job)


_NEVER, _EVER = -(2**62), 2**62


def _scope_spans(r: Reader, head: TemporalHead, query: HistoryQuery) -> list[tuple[int, int, list[str] | None]] | None:
    """The entity's scopes over the window: each scope instance holds from its observedAt until
    the next one (4.18). None when the entity has no scope history."""
    window = query.window
    end = _EVER if window.hi is None else window.hi
    history = r.history(head.id, HistoryQuery(replace(window, prop="observedAt", lo=None, hi=None), attrs=(SCOPE,)))
    if not history:
        return None
    start = _NEVER if window.lo is None else window.lo
    spans = []
    for n, inst in enumerate(history):
        lo = max(inst.observed_at or _NEVER, start)
        hi = min(history[n + 1].observed_at or _EVER, end) if n + 1 < len(history) else end
        if lo < hi:
            value = inst.doc.get("value")
            scope = [value] if isinstance(value, str) else list(value) if value else None
            spans.append((lo, hi, None if inst.deleted_at is not None else scope))
    return spans


def _observed(instances: list[HistoryInstance], lo: int, hi: int) -> list[HistoryInstance]:
    """The attribute instances observed in [lo, hi)."""
    return [i for i in instances if i.attr != SCOPE and i.observed_at is not None and lo <= i.observed_at < hi]


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
