"""The temporal query parameters and the temporal representations (clauses 4.5.7-4.5.9, 4.5.19, 4.11).

``parse_temporal`` validates timerel / timeAt / endTimeAt / timeproperty / lastN /
aggrMethods / aggrPeriodDuration into a storage ``HistoryQuery`` and an optional
``Aggregation``; ``render_temporal`` shows a temporal entity as the normalized
temporal representation (arrays of instances), the simplified one
(``options=temporalValues``) or the aggregated one (``options=aggregatedValues``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from boulevard.errors import BadRequestData, ResourceNotFound
from boulevard.ngsild.context import TermMap
from boulevard.ngsild.render import KEY_VALUES, RenderOptions, render_instance, simplified_value
from boulevard.ngsild.temporal_aggr import Duration, format_period, parse_duration, parse_methods
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
    try:
        return to_micros(raw)
    except ValueError as exc:
        raise BadRequestData(f"{name} is not a DateTime: {raw!r}") from exc


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
    query = HistoryQuery(TimeWindow(prop, lo, hi), attrs, last_n, dataset_ids)
    return TemporalParams(query, aggregation, prop)


def _time_of(inst: HistoryInstance, prop: str) -> int | None:
    if prop == "observedAt":
        return inst.observed_at
    if prop == "createdAt":
        return inst.created_at
    if prop == "modifiedAt":
        return inst.modified_at
    return inst.deleted_at


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
    for attr, instances in by_attr.items():
        name = tm.compact(attr)
        if mode == TEMPORAL_VALUES or opts.format == KEY_VALUES:
            out[name] = _simplified(instances, tm, opts, timeproperty)
        else:
            out[name] = [_normalized(i, tm, opts) for i in instances]
    return out


def _normalized(inst: HistoryInstance, tm: TermMap, opts: RenderOptions) -> dict[str, Any]:
    shown: dict[str, Any] = render_instance(inst.doc, tm, RenderOptions(lang=opts.lang))
    shown["instanceId"] = instance_id(inst.iid)
    if opts.sys_attrs:
        shown["createdAt"] = to_iso(inst.created_at)
        shown["modifiedAt"] = to_iso(inst.modified_at)
    if inst.deleted_at is not None:
        shown["deletedAt"] = to_iso(inst.deleted_at)
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
        at = _time_of(inst, prop)
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
