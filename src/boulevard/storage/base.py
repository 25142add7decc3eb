"""The storage protocol: what the broker core needs from a database.

A ``Store`` runs read functions against a ``Reader`` and write functions
against a ``Writer`` inside one transaction. Write functions run whole or not
at all: an exception rolls back everything they did and reaches the caller.
SQL lives only in the implementations (``storage.sqlite``; PostgreSQL later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

Entity = dict[str, Any]
T = TypeVar("T")

DEFAULT_TENANT = ""


@dataclass(frozen=True)
class GeoBox:
    """Entities whose GeoProperty ``attr`` has a bounding box meeting this one (degrees)."""

    attr: str  # expanded IRI
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class HasAttr:
    """The entity has the attribute (expanded IRI)."""

    attr: str


@dataclass(frozen=True)
class AttrEquals:
    """An instance of the attribute is a Property whose scalar value is one of ``values``,
    or an instance the database cannot judge (another attribute type, a compound value)."""

    attr: str
    values: tuple[str | int | float | bool, ...]


@dataclass(frozen=True)
class AllOf:
    terms: tuple[AttrCond, ...]


@dataclass(frozen=True)
class AnyOf:
    terms: tuple[AttrCond, ...]


AttrCond = HasAttr | AttrEquals | AllOf | AnyOf


@dataclass(frozen=True)
class EntityFilter:
    """A storage-level pre-selection; the broker refines it in memory."""

    types: tuple[str, ...] | None = None  # expanded IRIs, any of
    ids: tuple[str, ...] | None = None
    id_pattern: str | None = None
    geo: GeoBox | None = None  # a spatial-index pre-filter (a superset of the geo-query's matches)
    # a condition every match of the q / attrs selection meets (a superset; exact tests in memory)
    attrs: AttrCond | None = None


# --- history (the temporal store) ---------------------------------------------------------
TIME_COLUMNS = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
SCOPE = "scope"  # the entity's scope has a history too, recorded under this attribute name


@dataclass(frozen=True)
class TimeWindow:
    """Instances whose ``prop`` time (microseconds) lies in [lo, hi); None: unbounded."""

    prop: str = "observedAt"  # one of TIME_COLUMNS
    lo: int | None = None
    hi: int | None = None


@dataclass(frozen=True)
class TemporalHead:
    """A temporal entity: what history knows of the entity itself."""

    id: str
    types: list[str]  # expanded IRIs
    scope: list[str] | None
    created_at: int
    deleted_at: int | None


@dataclass(slots=True)
class HistoryInstance:
    """One recorded attribute instance; ``doc`` is the instance in the internal form."""

    iid: int
    attr: str
    observed_at: int | None
    created_at: int
    modified_at: int
    deleted_at: int | None
    doc: dict[str, Any]


@dataclass(frozen=True)
class HistoryQuery:
    """Which instances of one temporal entity to read."""

    window: TimeWindow = TimeWindow()
    attrs: tuple[str, ...] | None = None  # expanded IRIs; None: all
    last_n: int | None = None  # per attribute: the N latest of the window
    first_n: int | None = None  # per attribute: the N earliest of the window (when last_n is None)
    dataset_ids: tuple[str, ...] | None = None  # "@none" for the default instance


class Reader(Protocol):
    tenant: str

    def get(self, entity_id: str) -> Entity | None: ...

    def get_many(self, entity_ids: list[str]) -> list[Entity]: ...

    def scan(self, flt: EntityFilter, *, offset: int = 0, limit: int | None = None) -> Iterator[Entity]:
        """The filter's entities in id order; ``offset``/``limit`` are applied by the database."""
        ...

    def count(self, flt: EntityFilter) -> int: ...

    def temporal_head(self, entity_id: str) -> TemporalHead | None: ...

    def temporal_scan(self, flt: EntityFilter) -> Iterator[TemporalHead]:
        """Temporal entities by types / ids / idPattern (other filter fields are ignored), id order;
        entities deleted from the current state are left out."""
        ...

    def history(self, entity_id: str, query: HistoryQuery) -> list[HistoryInstance]:
        """The entity's recorded instances, by attribute, then by the window's time, oldest first."""
        ...

    def history_values(self, entity_id: str, query: HistoryQuery) -> dict[str, list[tuple[int, Any]]]:
        """(time, value) of each attribute's instances in the window, for aggregation."""
        ...


class Writer(Reader, Protocol):
    def insert(self, entity: Entity, *, history: bool = True) -> bool:
        """Insert a new entity; False if one with that id exists (nothing written).
        ``history=False``: the caller records the history itself (temporal provision)."""
        ...

    def insert_many(self, entities: list[Entity]) -> None:
        """Insert entities known not to exist yet (one statement for the lot)."""
        ...

    def existing_ids(self, entity_ids: list[str]) -> set[str]: ...

    def update(self, entity: Entity) -> None: ...

    def delete(self, entity_id: str) -> bool: ...

    def add_history(self, head: TemporalHead, attrs: dict[str, list[dict[str, Any]]], now: int) -> bool:
        """Record instances given directly (temporal provision); True if the temporal entity is new."""
        ...

    def delete_history(self, entity_id: str) -> bool: ...

    def delete_series(self, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool) -> bool: ...

    def replace_instance(self, entity_id: str, attr: str, iid: int, inst: dict[str, Any], now: int) -> bool: ...

    def delete_instance(self, entity_id: str, attr: str, iid: int) -> bool: ...

    def prune_history(self, before: int, limit: int) -> int:
        """Drop up to ``limit`` instances recorded before ``before`` (retention); how many went."""
        ...


class Store(Protocol):
    def tenant_exists(self, tenant: str) -> bool: ...

    def tenants(self) -> list[str]: ...

    async def get(self, tenant: str, entity_id: str) -> Entity | None:
        """One entity by id (the hot path of retrieve)."""
        ...

    async def read(self, tenant: str, fn: Callable[[Reader], T]) -> T:
        """A short read, run on the calling thread."""
        ...

    async def read_bulk(self, tenant: str, fn: Callable[[Reader], T]) -> T:
        """A long read (scans), run off the event loop."""
        ...

    async def write(self, tenant: str, fn: Callable[[Writer], T], *, create_tenant: bool = False) -> T: ...

    def write_sync(self, tenant: str, fn: Callable[[Writer], T], *, create_tenant: bool = False) -> T: ...

    async def save_context(self, local_id: str, tenant: str, body: Any, created_at: str) -> None:
        """Keep a Hosted @context (POST /jsonldContexts) across restarts."""
        ...

    async def delete_context(self, local_id: str) -> None: ...

    def load_contexts(self) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...
