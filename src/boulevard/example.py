"""A small example data set of the reference boulevard (central Nice), loaded by
`boulevard serve --example-data` until the simulated boulevard replaces it."""

from __future__ import annotations

from typing import Any

from boulevard.config import Settings
from boulevard.ngsild.context import ContextCache
from boulevard.ngsild.model import new_entity, now_iso, parse_entity
from boulevard.storage.sqlite import SqliteStore

# The Smart Data Models terms these entities use expand with the default vocabulary.
START = (7.2620, 43.6950)  # lon, lat of the boulevard's west end
STEP = 0.00135  # ~110 m of longitude at this latitude


def example_entities() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(10):
        lon = START[0] + i * STEP
        out.append({
            "id": f"urn:ngsi-ld:ParkingSpot:boulevard:{i + 1:03d}",
            "type": "ParkingSpot",
            "status": {"type": "Property", "value": "free" if i % 3 else "occupied"},
            "category": {"type": "Property", "value": ["onStreet"]},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, START[1]]}},
        })
    for i in range(3):
        lon = START[0] + i * 4 * STEP
        out.append({
            "id": f"urn:ngsi-ld:CrowdFlowObserved:boulevard:zone-{i + 1:02d}",
            "type": "CrowdFlowObserved",
            "peopleCount": {"type": "Property", "value": 40 + 17 * i, "observedAt": "2026-11-23T08:00:00Z"},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, START[1]]}},
            "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:boulevard:camera-{i + 1:02d}"},
        })
    return out


def load_example(settings: Settings) -> int:
    """Upsert the example entities into the store; returns how many."""
    tm = ContextCache().core
    store = SqliteStore(settings.db, synchronous=settings.sync)
    try:
        now = now_iso()
        entities = [new_entity(parse_entity(e, tm), now) for e in example_entities()]

        def job(w: Any) -> None:
            for e in entities:
                if not w.insert(e):
                    w.update(e)

        store.write_sync("", job)
    finally:
        store.close()
    return len(entities)
