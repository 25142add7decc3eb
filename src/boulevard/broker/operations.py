"""The NGSI-LD operations, callable without HTTP.

Inputs are already validated and expanded (``ngsild.model``); each operation
runs its read-modify-write as one storage job, so a failed request changes
nothing. The HTTP layer, the adapters and the CLI all call these methods.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from boulevard.broker.entity_maps import EntityMaps
from boulevard.broker.temporal import DEFAULT_PAGE, TemporalBroker
from boulevard.errors import AlreadyExists, BadRequestData, NgsiLdError, ResourceNotFound
from boulevard.ngsild import mutate
from boulevard.ngsild.model import Entity, Instance, new_entity, now_iso
from boulevard.ngsild.selection import EntitySelection
from boulevard.storage.base import Reader, Store, Writer

EntityMatcher = Callable[[Entity], bool]
TypeGate = tuple[str, ...] | None  # expanded types: the entity must have one of them


def _gate(entity: Entity | None, entity_id: str, types: TypeGate) -> Entity:
    if entity is None or (types is not None and not any(t in entity["type"] for t in types)):
        raise ResourceNotFound(f"entity {entity_id} not found")
    return entity


@dataclass
class BatchResult:
    """Per-entity outcome of a batch operation (clause 5.6.7-5.6.10)."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiLdError]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class BatchItem:
    """One entry of a batch body: the parsed entity, or why it was rejected."""

    entity_id: str
    entity: Entity | None = None
    error: NgsiLdError | None = None


class Broker:
    def __init__(self, store: Store, *, history_page: int = DEFAULT_PAGE) -> None:
        self.store = store
        self.entity_maps = EntityMaps()
        self.temporal = TemporalBroker(store, history_page)

    # -- single entity -------------------------------------------------------
    async def create_entity(self, tenant: str, parsed: Entity) -> Entity:
        now = now_iso()
        entity = new_entity(parsed, now)

        def job(w: Writer) -> None:
            if not w.insert(entity):
                raise AlreadyExists(f"entity {entity['id']} already exists")

        await self.store.write(tenant, job, create_tenant=True)
        return entity

    async def retrieve_entity(self, tenant: str, entity_id: str, types: TypeGate = None) -> Entity:
        return _gate(await self.store.get(tenant, entity_id), entity_id, types)

    async def retrieve_many(self, tenant: str, entity_ids: list[str]) -> list[Entity]:
        """The entities that exist among ``entity_ids`` (linked entities of a join), any order."""
        if not self.store.tenant_exists(tenant):
            return []
        return await self.store.read(tenant, lambda r: r.get_many(entity_ids))

    async def _modify(
        self, tenant: str, entity_id: str, change: Callable[[Entity, str], Any], types: TypeGate = None
    ) -> Any:
        now = now_iso()

        def job(w: Writer) -> Any:
            entity = _gate(w.get(entity_id), entity_id, types)
            result = change(entity, now)
            if isinstance(result, dict) and "id" in result:
                entity = result
            w.update(entity)
            return result

        return await self.store.write(tenant, job)

    async def append_attrs(
        self, tenant: str, entity_id: str, fragment: Entity, *, overwrite: bool = True, types: TypeGate = None
    ) -> mutate.Outcome:
        result: mutate.Outcome = await self._modify(
            tenant, entity_id, lambda e, now: mutate.append_fragment(e, fragment, now, overwrite), types
        )
        return result

    async def update_attrs(
        self, tenant: str, entity_id: str, fragment: Entity, types: TypeGate = None
    ) -> mutate.Outcome:
        result: mutate.Outcome = await self._modify(
            tenant, entity_id, lambda e, now: mutate.update_fragment(e, fragment, now), types
        )
        return result

    async def partial_update(
        self, tenant: str, entity_id: str, iri: str, patch: Instance, types: TypeGate = None
    ) -> None:
        await self._modify(tenant, entity_id, lambda e, now: mutate.partial_update(e, iri, patch, now), types)

    async def replace_attr(
        self, tenant: str, entity_id: str, iri: str, instances: list[Instance], types: TypeGate = None
    ) -> None:
        await self._modify(
            tenant, entity_id, lambda e, now: mutate.replace_attr(e, iri, instances, now), types
        )

    async def delete_attr(
        self,
        tenant: str,
        entity_id: str,
        iri: str,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
        types: TypeGate = None,
    ) -> None:
        await self._modify(
            tenant, entity_id, lambda e, now: mutate.delete_attr(e, iri, dataset_id, delete_all, now), types
        )

    async def replace_entity(self, tenant: str, entity_id: str, parsed: Entity, types: TypeGate = None) -> None:
        await self._modify(tenant, entity_id, lambda e, now: mutate.replace_entity(e, parsed, now), types)

    async def merge_entity(self, tenant: str, entity_id: str, parsed: Entity, types: TypeGate = None) -> None:
        await self._modify(tenant, entity_id, lambda e, now: mutate.merge_entity(e, parsed, now), types)

    async def delete_entity(self, tenant: str, entity_id: str, types: TypeGate = None) -> None:
        def job(w: Writer) -> None:
            if types is not None:
                _gate(w.get(entity_id), entity_id, types)
            if not w.delete(entity_id):
                raise ResourceNotFound(f"entity {entity_id} not found")

        await self.store.write(tenant, job)

    # -- queries --------------------------------------------------------------
    async def query_entities(
        self, tenant: str, sel: EntitySelection, *, limit: int, offset: int, count: bool,
        order: Callable[[Iterable[Entity], int], list[Entity]] | None = None,
    ) -> tuple[list[Entity], int | None]:
        """One page of the selected entities, in id order or in ``order`` (which returns the
        first n of what it is given); and their number."""

        def job(r: Reader) -> tuple[list[Entity], int | None]:
            if order is not None:  # every match is looked at; only offset + limit are kept
                seen = 0

                def matches() -> Iterator[Entity]:
                    nonlocal seen
                    for e in r.scan(sel.flt):
                        if sel.match is None or sel.match(e):
                            seen += 1
                            yield e

                top = order(matches(), offset + limit)
                return top[offset:], (seen if count else None)
            if sel.match is None:  # the database selects alone: let it page and count
                rows = list(r.scan(sel.flt, offset=offset, limit=limit)) if limit else []
                return rows, (r.count(sel.flt) if count else None)
            page: list[Entity] = []
            total = 0
            for entity in r.scan(sel.flt):
                if sel.match is not None and not sel.match(entity):
                    continue
                if offset <= total < offset + limit:
                    page.append(entity)
                total += 1
                if not count and total >= offset + limit:
                    break
            return page, (total if count else None)

        return await self.store.read_bulk(tenant, job)  # a scan may be long: off the event loop

    async def purge_entities(
        self, tenant: str, sel: EntitySelection, *, keep: list[str] | None = None, drop: list[str] | None = None
    ) -> int:
        """Delete matching entities, or only some of their attributes (keep/drop)."""
        now = now_iso()

        def job(w: Writer) -> int:
            matches = [e for e in w.scan(sel.flt) if sel.match is None or sel.match(e)]
            for entity in matches:
                if keep is None and drop is None:
                    w.delete(entity["id"])
                    continue
                before = len(entity["attrs"])
                if keep is not None:
                    entity["attrs"] = {k: v for k, v in entity["attrs"].items() if k in keep}
                if drop is not None:
                    entity["attrs"] = {k: v for k, v in entity["attrs"].items() if k not in drop}
                if len(entity["attrs"]) != before:
                    entity["modifiedAt"] = now
                    w.update(entity)
            return len(matches)

        return await self.store.write(tenant, job)

    # -- batch ------------------------------------------------------------------
    async def _batch(
        self, tenant: str, items: list[BatchItem], apply: Callable[[Writer, BatchItem, str, BatchResult], None],
        *, create_tenant: bool = False,
    ) -> BatchResult:
        now = now_iso()

        def job(w: Writer) -> BatchResult:
            res = BatchResult()
            for item in items:
                if item.error is not None:
                    res.errors.append((item.entity_id, item.error))
                    continue
                try:
                    apply(w, item, now, res)
                except NgsiLdError as exc:
                    res.errors.append((item.entity_id, exc))
            return res

        return await self.store.write(tenant, job, create_tenant=create_tenant)

    async def batch_create(self, tenant: str, items: list[BatchItem]) -> BatchResult:
        def apply(w: Writer, item: BatchItem, now: str, res: BatchResult) -> None:
            assert item.entity is not None
            entity = new_entity(item.entity, now)
            if not w.insert(entity):
                raise AlreadyExists(f"entity {item.entity_id} already exists")
            res.success.append(item.entity_id)
            res.created.append(item.entity_id)

        return await self._batch(tenant, items, apply, create_tenant=True)

    async def batch_upsert(self, tenant: str, items: list[BatchItem], *, replace: bool = True) -> BatchResult:
        now = now_iso()
        counts = Counter(i.entity_id for i in items if i.error is None)
        repeated = {eid for eid, n in counts.items() if n > 1}

        def upsert_one(w: Writer, item: BatchItem, parsed: Entity, res: BatchResult) -> None:
            existing = w.get(item.entity_id)
            if existing is None:
                w.insert(new_entity(parsed, now))
                res.created.append(item.entity_id)
            elif replace:
                w.update(mutate.replace_entity(existing, parsed, now))
            else:
                _add_types(existing, parsed)
                mutate.append_attrs(existing, parsed["attrs"], now, overwrite=True)
                existing["modifiedAt"] = now
                w.update(existing)
            res.success.append(item.entity_id)

        def job(w: Writer) -> BatchResult:
            res = BatchResult()
            valid = [i for i in items if i.error is None]
            existing = w.existing_ids([i.entity_id for i in valid if i.entity_id not in repeated])
            fresh: list[Entity] = []
            for item in items:
                if item.error is not None:
                    res.errors.append((item.entity_id, item.error))
                    continue
                assert item.entity is not None
                if item.entity_id in repeated:
                    # the same id twice: apply in order, each on its own copy
                    upsert_one(w, item, copy.deepcopy(item.entity), res)
                elif item.entity_id not in existing:
                    fresh.append(new_entity(item.entity, now))
                    res.created.append(item.entity_id)
                    res.success.append(item.entity_id)
                else:
                    upsert_one(w, item, item.entity, res)
            if fresh:
                w.insert_many(fresh)
            return res

        return await self.store.write(tenant, job, create_tenant=True)

    async def batch_update(self, tenant: str, items: list[BatchItem], *, overwrite: bool = True) -> BatchResult:
        def apply(w: Writer, item: BatchItem, now: str, res: BatchResult) -> None:
            assert item.entity is not None
            existing = w.get(item.entity_id)
            if existing is None:
                raise ResourceNotFound(f"entity {item.entity_id} not found")
            types_added = _add_types(existing, item.entity)
            outcome = mutate.append_attrs(existing, _fresh(item.entity)["attrs"], now, overwrite)
            if outcome.updated or types_added:
                existing["modifiedAt"] = now
                w.update(existing)
            if outcome.not_updated:
                # noOverwrite: new attributes were appended, the existing ones are reported (207),
                # as the ETSI suite (005_02_03) reads clause 5.6.9
                raise BadRequestData("attributes not overwritten: " + ", ".join(a for a, _ in outcome.not_updated))
            res.success.append(item.entity_id)

        return await self._batch(tenant, items, apply)

    async def batch_merge(self, tenant: str, items: list[BatchItem]) -> BatchResult:
        def apply(w: Writer, item: BatchItem, now: str, res: BatchResult) -> None:
            assert item.entity is not None
            existing = w.get(item.entity_id)
            if existing is None:
                raise ResourceNotFound(f"entity {item.entity_id} not found")
            mutate.merge_entity(existing, _fresh(item.entity), now)
            w.update(existing)
            res.success.append(item.entity_id)

        return await self._batch(tenant, items, apply)

    async def batch_delete(self, tenant: str, items: list[BatchItem]) -> BatchResult:
        def apply(w: Writer, item: BatchItem, now: str, res: BatchResult) -> None:
            if not w.delete(item.entity_id):
                raise ResourceNotFound(f"entity {item.entity_id} not found")
            res.success.append(item.entity_id)

        return await self._batch(tenant, items, apply)


def _fresh(parsed: Entity) -> Entity:
    """A copy so one parsed entity can be applied twice in a batch."""
    return copy.deepcopy(parsed)


def _add_types(existing: Entity, parsed: Entity) -> bool:
    added = [t for t in parsed.get("type") or [] if t not in existing["type"]]
    existing["type"].extend(added)
    return bool(added)
