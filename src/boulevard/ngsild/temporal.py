"""The temporal query parameters and the temporal representations (clauses 4.5.7-4.5.9, 4.5.19, 4.11).

``parse_temporal`` validates timerel / timeAt / endTimeAt / timeproperty / lastN /
aggrMethods / aggrPeriodDuration into a storage ``HistoryQuery`` and an optional
``Aggregation``; ``render_temporal`` shows a temporal entity as the normalized
temporal representation (arrays of instances), the simplified one
(``options=temporalValues``) or the aggregated one (``options=aggregatedValues``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from boulevard.errors import BadRequestData, ResourceNotFound
from boulevard.ngsild.context import TermMap
from boulevard.ngsild.model import check_datetime
from boulevard.ngsild.render import KEY_VALUES, RenderOptions, render_instance, simplified_value
from boulevard.ngsild.temporal_aggr import Duration, format_instant, format_period, parse_duration, parse_methods
from boulevard.storage.base import TIME_COLUMNS, HistoryInstance, HistoryQuery, TemporalHead, TimeWindow
from boulevard.timestamps import to_iso, to_micros

NORMALIZED = "normalized"
TEMPORAL_VALUES = "temporalValues"
AGGREGATED = "aggregatedValues"

# simplified temporal representation: the member holding each attribute type's [value, time] pairs
_VALUES_MEMBER = {
    "Property": "values", "GeoProperty": "values", "Relationship": "objects", "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs", "JsonProperty": "jsons", "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
}


@dataclass(frozen=True)
class Aggregation:
    methods: tuple[str, ...]
    period: Duration | None
    start: int | None  # timeAt, when the query has one (periods align on it)
    end: int | None


@dataclass
class TemporalEntity:
    """One temporal entity read back: the entity, then its instances or aggregates."""

    head: TemporalHead
    instances: list[HistoryInstance]
    aggregates: dict[str, dict[str, list[tuple[Any, int, int]]]] | None = None
    emptied: list[str] = field(default_factory=list)  # attributes a temporal page cut left empty

    @property
    def empty(self) -> bool:
        return not self.instances and not self.aggregates and not self.emptied


@dataclass(frozen=True)
class TimeRange:
    """What a temporal page covers (6.3.10): ``Content-Range: date-time start-end/size``."""

    start: int
    end: int
    size: str  # lastN, or "*"

    def header(self) -> str:
        return f"date-time {format_instant(self.start)}-{format_instant(self.end)}/{self.size}"


def instance_time(inst: HistoryInstance, prop: str) -> int | None:
    if prop == "observedAt":
        return inst.observed_at
    if prop == "createdAt":
        return inst.created_at
    if prop == "modifiedAt":
        return inst.modified_at
    return inst.deleted_at


def page_plan(query: HistoryQuery, cap: int) -> tuple[HistoryQuery, int | None]:
    """The per-attribute read for a server cap of ``cap`` instances, and the count at which an
    attribute is cut (None: the request cannot need more than the cap)."""
    if query.last_n is not None:
        if query.last_n <= cap:
            return query, None
        return replace(query, last_n=cap), cap
    return replace(query, first_n=cap), cap


def cut_page(found: list[TemporalEntity], query: HistoryQuery, limit: int, prop: str) -> TimeRange | None:
    """Temporal pagination across every attribute of every entity answered: when an attribute
    reached ``limit``, answer one common time range, so that no attribute misses instances
    inside it. Without lastN the range runs forward from the window start (or the earliest
    instance) to the earliest last instance of the cut attributes; with lastN backwards."""
    series: dict[tuple[int, str], list[int]] = {}
    for n, te in enumerate(found):
        for inst in te.instances:
            at = instance_time(inst, prop)
            if at is not None:
                series.setdefault((n, inst.attr), []).append(at)
    cut = [sorted(times) for times in series.values() if len(times) >= limit]
    if not cut:
        return None
    window = query.window
    if query.last_n is None:
        start = window.lo if window.lo is not None else min(t[0] for t in cut)
        end = min(t[-1] for t in cut)
        size = "*"
    else:
        start = window.hi if window.hi is not None else max(t[-1] for t in cut)
        end = max(t[0] for t in cut)
        size = str(query.last_n)
    lo, hi = min(start, end), max(start, end)
    for te in found:
        had = {i.attr for i in te.instances}
        te.instances = [i for i in te.instances if (at := instance_time(i, prop)) is None or lo <= at <= hi]
        te.emptied = sorted(had - {i.attr for i in te.instances})
    return TimeRange(start, end, size)


def check_instance_id(text: str) -> int:
    """The number inside an instanceId this broker issued (``urn:ngsi-ld:instance:<n>``)."""
    prefix = INSTANCE_PREFIX
    if not text.startswith(prefix) or not text[len(prefix):].isdigit():
        raise ResourceNotFound(f"no attribute instance {text}")
    return int(text[len(prefix):])


INSTANCE_PREFIX = "urn:ngsi-ld:instance:"


def instance_id(iid: int) -> str:
    return f"{INSTANCE_PREFIX}{iid}"


@dataclass(frozen=True)
class TemporalParams:
    query: HistoryQuery
    aggregation: Aggregation | None
    timeproperty: str


def _datetime(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        raise BadRequestData(f"{name} is required with timerel={params.get('timerel')}")
    return to_micros(check_datetime(raw, name))


def parse_temporal(params: Mapping[str, str], *, attrs: tuple[str, ...] | None,
                   dataset_ids: tuple[str, ...] | None, aggregated: bool) -> TemporalParams:
    """The temporal parameters of a request (query string or temporalQ members, as text)."""
    prop = params.get("timeproperty", "observedAt")
    if prop not in TIME_COLUMNS:
        raise BadRequestData(f"timeproperty must be one of {', '.join(TIME_COLUMNS)}, not {prop!r}")
    timerel = params.get("timerel")
    lo = hi = None
    if timerel is None:
        if "timeAt" in params or "endTimeAt" in params:
            raise BadRequestData("timeAt and endTimeAt need timerel")
    elif timerel == "before":
        hi = _datetime(params, "timeAt")
    elif timerel == "after":
        lo = _datetime(params, "timeAt")
    elif timerel == "between":
        lo = _datetime(params, "timeAt")
        hi = _datetime(params, "endTimeAt")
        if hi <= lo:
            raise BadRequestData("endTimeAt must be after timeAt")
    else:
        raise BadRequestData(f"timerel must be before, after or between, not {timerel!r}")
    last_n = None
    if "lastN" in params:
        raw = params["lastN"]
        if not raw.isdigit() or int(raw) < 1:
            raise BadRequestData(f"lastN must be a positive integer, not {raw!r}")
        last_n = int(raw)
    aggregation = None
    if aggregated:
        if "aggrMethods" not in params:
            raise BadRequestData("the aggregated representation needs aggrMethods")
        try:
            methods = parse_methods(params["aggrMethods"])
        except ValueError as exc:
            raise BadRequestData(f"aggrMethods: {exc}") from exc
        period = None
        if "aggrPeriodDuration" in params:
            try:
                period = parse_duration(params["aggrPeriodDuration"])
            except ValueError as exc:
                raise BadRequestData(f"aggrPeriodDuration: {exc}") from exc
        aggregation = Aggregation(methods, period, lo, hi)
    query = HistoryQuery(TimeWindow(prop, lo, hi), attrs=attrs, last_n=last_n, dataset_ids=dataset_ids)
    return TemporalParams(query, aggregation, prop)


def render_temporal(te: TemporalEntity, tm: TermMap, opts: RenderOptions, mode: str,
                    timeproperty: str = "observedAt") -> dict[str, Any]:
    head = te.head
    out: dict[str, Any] = {"id": head.id}
    types = [tm.compact(t) for t in head.types]
    out["type"] = types[0] if len(types) == 1 else types
    if head.scope:
        out["scope"] = head.scope[0] if len(head.scope) == 1 else head.scope
    if opts.sys_attrs:
        out["createdAt"] = to_iso(head.created_at)
        if head.deleted_at is not None:
            out["deletedAt"] = to_iso(head.deleted_at)
    if te.aggregates is not None:
        for attr, results in te.aggregates.items():
            shown: dict[str, Any] = {"type": "Property"}
            for method, entries in results.items():
                shown[method] = [format_period(v, s, e) for v, s, e in entries]
            out[tm.compact(attr)] = shown
        return out
    by_attr: dict[str, list[HistoryInstance]] = {}
    for inst in te.instances:
        by_attr.setdefault(inst.attr, []).append(inst)
    if "scope" in by_attr:  # the scope's own history replaces the entity's current scope
        out.pop("scope", None)
    simplified = mode == TEMPORAL_VALUES or opts.format == KEY_VALUES
    for attr, instances in by_attr.items():
        name = tm.compact(attr)
        if simplified:
            out[name] = _simplified(instances, tm, opts, timeproperty)
        else:
            out[name] = [_normalized(i, tm, opts) for i in instances]
    for attr in te.emptied:
        out[tm.compact(attr)] = {"type": "Property", "values": []} if simplified else []
    return out


def _normalized(inst: HistoryInstance, tm: TermMap, opts: RenderOptions) -> dict[str, Any]:
    shown: dict[str, Any] = render_instance(inst.doc, tm, RenderOptions(lang=opts.lang))
    shown["instanceId"] = instance_id(inst.iid)
    if inst.deleted_at is not None:  # a deletion: only when it happened
        shown["deletedAt"] = to_iso(inst.deleted_at)
    elif opts.sys_attrs:
        shown["createdAt"] = to_iso(inst.created_at)
        shown["modifiedAt"] = to_iso(inst.modified_at)
    return shown


def _simplified(instances: list[HistoryInstance], tm: TermMap, opts: RenderOptions, prop: str) -> Any:
    """{"type": T, "values": [[value, time], ...]}, one such object per datasetId."""
    groups: dict[str | None, dict[str, Any]] = {}
    for inst in instances:
        atype = inst.doc.get("type", "Property")
        ds = inst.doc.get("datasetId")
        group = groups.get(ds)
        if group is None:
            group = groups[ds] = {"type": atype}
            if ds is not None:
                group["datasetId"] = ds
        member = _VALUES_MEMBER.get(atype, "values")
        at = instance_time(inst, prop)
        group.setdefault(member, []).append(
            [simplified_value(inst.doc, tm, opts.lang), None if at is None else _stamp_text(inst, prop, at)]
        )
    shown = list(groups.values())
    return shown[0] if len(shown) == 1 else shown


def _stamp_text(inst: HistoryInstance, prop: str, at: int) -> str:
    """observedAt as the client wrote it; system times as the broker writes them."""
    if prop == "observedAt" and isinstance(inst.doc.get("observedAt"), str):
        return str(inst.doc["observedAt"])
    return to_iso(at)
