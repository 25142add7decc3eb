"""EntityMaps (clause 5.2.39 / 5.7.1.4): which source holds each entity of a result.

A broker without registered context sources holds every entity itself, so a
map lists each entity id with the single local source ``@none``. Maps are
short-lived by design (they carry ``expiresAt``); they are kept in memory per
tenant, bounded in number and age, and do not survive a restart.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_MAPS = 1000
LIFETIME_S = 3600.0


@dataclass
class EntityMap:
    id: str
    tenant: str
    entities: dict[str, list[str]] = field(default_factory=dict)
    expires: float = 0.0

    def as_json(self) -> dict[str, object]:
        expires = datetime.fromtimestamp(self.expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {"id": self.id, "type": "EntityMap", "expiresAt": expires, "entityMap": dict(self.entities)}


class EntityMaps:
    def __init__(self) -> None:
        self._maps: OrderedDict[tuple[str, str], EntityMap] = OrderedDict()

    def get(self, tenant: str, map_id: str) -> EntityMap | None:
        found = self._maps.get((tenant, map_id))
        if found is None or found.expires < time.time():
            self._maps.pop((tenant, map_id), None)
            return None
        return found

    def use(self, tenant: str, map_id: str | None, entity_ids: list[str]) -> EntityMap:
        """The live map ``map_id`` names, or a new one; the entity ids are recorded in it."""
        found = self.get(tenant, map_id) if map_id else None
        if found is None:
            found = EntityMap(f"urn:ngsi-ld:EntityMap:{uuid.uuid4()}", tenant, expires=time.time() + LIFETIME_S)
            self._maps[(tenant, found.id)] = found
            while len(self._maps) > MAX_MAPS:
                self._maps.popitem(last=False)
        for eid in entity_ids:
            found.entities.setdefault(eid, ["@none"])
        return found

    def delete(self, tenant: str, map_id: str) -> bool:
        return self._maps.pop((tenant, map_id), None) is not None
