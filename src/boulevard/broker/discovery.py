"""Discovery (clause 5.7.5-5.7.8): which entity types and attributes a tenant holds.

Computed from the stored entities on demand (a scan on a worker thread); an
index maintained on write replaces the scan when the consumption issue needs
it at scale.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from boulevard.storage.base import EntityFilter, Reader, Store


@dataclass
class TypeInfo:
    count: int = 0
    attrs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # attr IRI -> attribute types


@dataclass
class AttrInfo:
    count: int = 0
    attr_types: set[str] = field(default_factory=set)
    type_names: set[str] = field(default_factory=set)


@dataclass
class Inventory:
    types: dict[str, TypeInfo]
    attrs: dict[str, AttrInfo]


def _collect(r: Reader) -> Inventory:
    types: dict[str, TypeInfo] = defaultdict(TypeInfo)
    attrs: dict[str, AttrInfo] = defaultdict(AttrInfo)
    for entity in r.scan(EntityFilter()):
        for t in entity["type"]:
            info = types[t]
            info.count += 1
            for iri, instances in entity["attrs"].items():
                info.attrs[iri].update(i.get("type", "Property") for i in instances)
        for iri, instances in entity["attrs"].items():
            a = attrs[iri]
            a.count += len(instances)
            a.attr_types.update(i.get("type", "Property") for i in instances)
            a.type_names.update(entity["type"])
    return Inventory(dict(types), dict(attrs))


async def inventory(store: Store, tenant: str) -> Inventory:
    return await store.read_bulk(tenant, _collect)
