"""How retrieved entities are shown: representation, attrs/pick/omit, linked entities.

``view_of`` validates the parameters that shape a response (clause 4.21 pick and
omit, 4.5.23 join/joinLevel, the format options); ``show`` renders entities
with them, fetching linked entities for ``join=inline`` (put inside the
Relationship) or ``join=flat`` (appended to the list), level by level.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from boulevard.api import negotiation as neg
from boulevard.api.request import NgsiRequest, parse_int
from boulevard.api.services import Services
from boulevard.errors import BadRequestData, InvalidRequest
from boulevard.ngsild.model import GEOMETRY_TYPES, Entity, check_name, check_uri
from boulevard.ngsild.projection import Projection, parse_projection
from boulevard.ngsild.render import CONCISE, KEY_VALUES, NORMALIZED, RenderOptions, render_entity
from boulevard.ngsild.selection import SYSTEM_ATTRS

FORMATS = ("keyValues", "simplified", "concise", "normalized")
KNOWN_OPTIONS = frozenset({
    *FORMATS, "sysAttrs", "noOverwrite", "update", "replace", "temporalValues", "audit", "aggregatedValues",
    "splitEntities",
})
MAX_JOIN_LEVEL = 10


@dataclass(frozen=True)
class View:
    opts: RenderOptions
    pick: Projection | None = None
    omit: Projection | None = None
    join: str | None = None  # "inline" or "flat"
    join_level: int = 1


def view_of(req: NgsiRequest) -> View:
    p = req.params
    opts = req.options
    fmt = p.get("format")
    for o in opts:
        if o not in KNOWN_OPTIONS:
            raise InvalidRequest(f"unknown option {o!r}")
    if fmt is not None and fmt not in FORMATS:
        raise InvalidRequest(f"unknown format {fmt!r}")
    if "geometryProperty" in p and req.accept != neg.GEO_JSON:
        raise BadRequestData("geometryProperty only applies to GeoJSON (Accept: application/geo+json)")
    chosen = fmt or next((o for o in FORMATS if o in opts), None)
    form = KEY_VALUES if chosen in ("keyValues", "simplified") else CONCISE if chosen == "concise" else NORMALIZED
    attrs = req.names_param("attrs")
    pick = parse_projection(p["pick"], "pick") if "pick" in p else None
    omit = parse_projection(p["omit"], "omit") if "omit" in p else None
    if attrs is not None and (pick is not None or omit is not None):
        raise BadRequestData("attrs cannot be combined with pick or omit (they replace it, 4.21)")
    if pick is not None and omit is not None:
        raise BadRequestData("pick and omit cannot be used together")
    join = p.get("join")
    if join is not None and join not in ("inline", "flat", "@none"):
        raise BadRequestData(f"join must be inline, flat or @none, not {join!r}")
    join = None if join == "@none" else join
    level = parse_int(p, "joinLevel", 1, minimum=1, maximum=MAX_JOIN_LEVEL)
    hops = max(pick.depth() if pick else 0, omit.depth() if omit else 0)
    allowed = level if join else 0
    if hops > allowed:
        raise BadRequestData(f"pick/omit reach {hops} linked entities deep; join and joinLevel allow {allowed}")
    wanted = None if attrs is None else {req.tm.expand(check_name(a)) for a in attrs}
    datasets = req.names_param("datasetId")
    for ds in datasets or ():
        if ds != "@none":
            check_uri(ds, "datasetId")
    base = RenderOptions(
        format=form, sys_attrs="sysAttrs" in opts, attrs=wanted, lang=p.get("lang"),
        dataset_ids=None if datasets is None else frozenset(datasets),
    )
    return View(base, pick, omit, join, level)


def project(req: NgsiRequest, entity: Entity, opts: RenderOptions, pick: Projection | None,
            omit: Projection | None) -> dict[str, Any]:
    """One entity rendered, then cut to its pick or omit projection."""
    if pick is not None:
        picked = {req.tm.expand(n) for n in pick.names if n not in SYSTEM_ATTRS}
        opts = replace(opts, attrs=picked if opts.attrs is None else set(opts.attrs) & picked)
    out = render_entity(entity, req.tm, opts)
    if pick is not None:
        out = {k: v for k, v in out.items() if pick.picked(k)}
    if omit is not None:
        out = {k: v for k, v in out.items() if not omit.omitted(k)}
    return out


async def show(svc: Services, req: NgsiRequest, view: View, entities: list[Entity]) -> list[dict[str, Any]]:
    """The entities rendered; with join=flat the linked ones follow them in the list."""
    level = [(e, project(req, e, view.opts, view.pick, view.omit), view.pick, view.omit) for e in entities]
    shown = [out for _, out, _, _ in level]
    if view.join is None:
        return shown
    seen = {e["id"] for e in entities}
    for _ in range(view.join_level):
        level = await _link(svc, req, view, level, shown, seen)
        if not level:
            break
    return shown


Step = tuple[Entity, dict[str, Any], Projection | None, Projection | None]


async def _link(svc: Services, req: NgsiRequest, view: View, level: list[Step], shown: list[dict[str, Any]],
                seen: set[str]) -> list[Step]:
    """Fetch the entities one hop away, attach or append them; the next hop's steps."""
    wants: list[tuple[dict[str, Any], str, list[str], Projection | None, Projection | None]] = []
    for entity, out, pick, omit in level:
        for iri, instances in entity["attrs"].items():
            name = req.tm.compact(iri)
            if name not in out:
                continue
            objects = _objects(instances)
            if objects:
                wants.append((out, name, objects, pick.inner(name) if pick else None,
                              omit.inner(name) if omit else None))
    ids = list(dict.fromkeys(o for _, _, objs, _, _ in wants for o in objs))
    found = {e["id"]: e for e in await svc.broker.retrieve_many(req.tenant, ids)} if ids else {}
    nxt: list[Step] = []
    for out, name, objects, pick, omit in wants:
        linked = [(found[o], project(req, found[o], view.opts, pick, omit)) for o in objects if o in found]
        if not linked:
            continue
        if view.join == "inline":
            _inline(out, name, [r for _, r in linked], view.opts.format)
        else:
            for e, r in linked:
                if e["id"] not in seen:
                    seen.add(e["id"])
                    shown.append(r)
        nxt.extend((e, r, pick, omit) for e, r in linked)
    return nxt


def _objects(instances: list[dict[str, Any]]) -> list[str]:
    out: list[Any] = []
    for inst in instances:
        if inst.get("type") == "Relationship":
            obj = inst.get("object")
            out.extend(obj if isinstance(obj, list) else [obj])
        elif inst.get("type") == "ListRelationship":
            out.extend(o.get("object") for o in inst.get("objectList", []) if isinstance(o, dict))
    return [o for o in out if isinstance(o, str)]


def _inline(out: dict[str, Any], name: str, linked: list[dict[str, Any]], form: str) -> None:
    one: Any = linked[0] if len(linked) == 1 else linked
    if form == KEY_VALUES:
        out[name] = one
        return
    attr = out[name]
    if isinstance(attr, dict):
        attr["entity"] = one
    elif isinstance(attr, list):  # several instances: each gets the entities it names
        by_id = {r.get("id"): r for r in linked}
        for inst in attr:
            if isinstance(inst, dict) and inst.get("object") in by_id:
                inst["entity"] = by_id[inst["object"]]
    elif isinstance(attr, str) and form == CONCISE:
        out[name] = {"object": attr, "entity": one}


def to_feature(out: dict[str, Any], req: NgsiRequest) -> dict[str, Any]:
    """A GeoJSON Feature (6.3.15): geometry from ``geometryProperty`` (default location), its
    default instance when it has several, null when it is not a geometry."""
    geo = req.params.get("geometryProperty", "location")
    props = {k: v for k, v in out.items() if k != "id"}
    return {"id": out.get("id"), "type": "Feature", "geometry": _geometry(out.get(geo)), "properties": props}


def _geometry(attr: Any) -> Any:
    if isinstance(attr, dict) and isinstance(attr.get("dataset"), dict):  # keyValues dataset map
        ds = attr["dataset"]
        attr = ds.get("@none", next(iter(ds.values()), None))
    if isinstance(attr, list):  # several instances: the default one (no datasetId), else the first
        default = [a for a in attr if isinstance(a, dict) and "datasetId" not in a]
        attr = (default or attr or [None])[0]
    if isinstance(attr, dict):
        if attr.get("type") in GEOMETRY_TYPES and "coordinates" in attr:
            return attr  # keyValues: the geometry itself
        value = attr.get("value")
        if attr.get("type", "GeoProperty") == "GeoProperty" and isinstance(value, dict) and "coordinates" in value:
            return value
    return None


# attribute types newer than some versions, and what an older reader gets instead (Table 4.3.6.8-2/3)
_FALLBACKS: dict[str, tuple[tuple[int, int], str, str, str]] = {
    # type: (introduced in, fallback type, member to read, member to write)
    "VocabProperty": ((1, 8), "Property", "vocab", "value"),
    "JsonProperty": ((1, 8), "Property", "json", "value"),
    "ListProperty": ((1, 8), "Property", "valueList", "value"),
    "ListRelationship": ((1, 8), "Relationship", "objectList", "object"),
    "LanguageProperty": ((1, 4), "Property", "languageMap", "value"),
}


def amend_for_version(shown: list[dict[str, Any]], version: str) -> bool:
    """Reformat, in place, what a reader of an earlier NGSI-LD version cannot interpret
    (4.3.6.8); True when something changed (the answer is then 203)."""
    major, minor = (int(x) for x in version.split("."))
    changed = False

    def fix(attr: Any) -> None:
        nonlocal changed
        if isinstance(attr, list):
            for a in attr:
                fix(a)
            return
        if not isinstance(attr, dict):
            return
        rule = _FALLBACKS.get(attr.get("type", ""))
        if rule is not None and (major, minor) < rule[0]:
            _, new_type, old_member, new_member = rule
            value = attr.pop(old_member, None)
            if old_member == "objectList" and isinstance(value, list):
                value = [o.get("object") if isinstance(o, dict) else o for o in value]
            attr["type"] = new_type
            attr[new_member] = value
            changed = True
        for sub in list(attr.values()):  # sub-attributes
            if isinstance(sub, dict) and "type" in sub:
                fix(sub)

    for out in shown:
        for key, attr in out.items():
            if key not in ("id", "type", "scope", "@context"):
                fix(attr)
    return changed
