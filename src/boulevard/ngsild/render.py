"""Rendering expanded entities into the representations clients ask for.

normalized (every attribute a typed object), concise (types dropped where the
member implies them) and keyValues/simplified (attribute name -> value), each
compacted against the request's term map, optionally with system attributes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from boulevard.ngsild.context import TermMap
from boulevard.ngsild.model import VALUE_MEMBER, Entity, Instance

NORMALIZED = "normalized"
EXPIRES_AT = "https://uri.etsi.org/ngsi-ld/expiresAt"
CONCISE = "concise"
KEY_VALUES = "keyValues"


@dataclass(frozen=True)
class RenderOptions:
    format: str = NORMALIZED
    sys_attrs: bool = False
    attrs: Collection[str] | None = None  # expanded names to keep
    lang: str | None = None
    dataset_ids: Collection[str] | None = None  # instances to keep by datasetId ("@none": the default)


DEFAULT_OPTIONS = RenderOptions()


def _one_or_list(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def render_entity(entity: Entity, tm: TermMap, opts: RenderOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity["id"], "type": _one_or_list([tm.compact(t) for t in entity["type"]])}
    if entity.get("scope"):
        out["scope"] = _one_or_list(entity["scope"])
    if opts.sys_attrs and opts.format != KEY_VALUES:
        out["createdAt"] = entity["createdAt"]
        out["modifiedAt"] = entity["modifiedAt"]
    wanted = opts.attrs
    plain = opts.format == NORMALIZED and not opts.sys_attrs
    compact = tm.compact
    datasets = opts.dataset_ids
    for iri, instances in entity["attrs"].items():
        if iri == EXPIRES_AT:  # a system member (4.5.x): shown only with sysAttrs, as its date
            if opts.sys_attrs and instances and opts.format != KEY_VALUES:
                out["expiresAt"] = instances[0].get("value")
            continue
        if datasets is not None:
            instances = [i for i in instances if i.get("datasetId", "@none") in datasets]
        if (wanted is not None and iri not in wanted) or not instances:
            continue
        name = compact(iri)
        if opts.format == KEY_VALUES:
            if len(instances) == 1:
                out[name] = simplified_value(instances[0], tm, opts.lang)
            else:  # several instances: a dataset map keyed by datasetId (4.5.4)
                out[name] = {"dataset": {i.get("datasetId", "@none"): simplified_value(i, tm, opts.lang)
                                         for i in instances}}
        elif plain and len(instances) == 1:
            inst = instances[0]
            if inst.get("type") in _PLAIN_TYPES and inst.keys() <= _PLAIN_MEMBERS:  # render_instance's fast path
                out[name] = {k: v for k, v in inst.items() if k not in _SYSTEM}
            else:
                out[name] = render_instance(inst, tm, opts)
        else:
            out[name] = _one_or_list([render_instance(i, tm, opts) for i in instances])
    return out


# instances made only of these members render, in normalized form, as themselves minus
# the system members (no IRI to compact, no sub-attribute)
_PLAIN_TYPES = frozenset({"Property", "GeoProperty", "Relationship", "JsonProperty", "ListProperty"})
_PLAIN_MEMBERS = frozenset({
    "type", "value", "object", "json", "valueList", "observedAt", "unitCode", "datasetId", "valueType",
    "createdAt", "modifiedAt",
})
_SYSTEM = ("createdAt", "modifiedAt")


def render_instance(inst: Instance, tm: TermMap, opts: RenderOptions = DEFAULT_OPTIONS) -> Any:
    atype = inst.get("type", "Property")
    if opts.format == NORMALIZED and not opts.sys_attrs and atype in _PLAIN_TYPES and inst.keys() <= _PLAIN_MEMBERS:
        return {k: v for k, v in inst.items() if k not in _SYSTEM}
    concise = opts.format == CONCISE
    out: dict[str, Any] = {}
    if atype == "LanguageProperty" and opts.lang is not None:
        text, tag = pick_language(inst["languageMap"], opts.lang)
        if not concise:
            out["type"] = "Property"
        out["value"] = text
        out["lang"] = tag
    else:
        if not concise or (atype in ("Property",) and not _has_value(inst)):
            out["type"] = atype
        member = VALUE_MEMBER.get(atype, "value")
        if member in inst:
            out[member] = _compact_value(atype, inst[member], tm)
    for key in ("valueType", "entityIdSealed"):
        if key in inst:
            out[key] = inst[key]
    if "entityTypeSealed" in inst:
        out["entityTypeSealed"] = tm.compact(inst["entityTypeSealed"])
    if "objectType" in inst:
        out["objectType"] = _one_or_list([tm.compact(t) for t in inst["objectType"]])
    for key in ("observedAt", "unitCode", "datasetId"):
        if key in inst:
            out[key] = inst[key]
    if opts.sys_attrs:
        for key in ("createdAt", "modifiedAt"):
            if key in inst:
                out[key] = inst[key]
    for key, val in inst.items():
        if key == EXPIRES_AT:
            if opts.sys_attrs and isinstance(val, dict):
                out["expiresAt"] = val.get("value")
        elif ":" in key and isinstance(val, dict):
            out[tm.compact(key)] = render_instance(val, tm, opts)
    if concise and atype == "Property" and list(out) == ["value"] and not isinstance(out["value"], (dict, list)):
        return out["value"]
    return out


def _has_value(inst: Instance) -> bool:
    return "value" in inst


def _compact_value(atype: str, value: Any, tm: TermMap) -> Any:
    if atype == "VocabProperty":
        if isinstance(value, list):
            return [tm.compact(v) for v in value]
        return tm.compact(value) if isinstance(value, str) else value
    return value


def simplified_value(inst: Instance, tm: TermMap, lang: str | None = None) -> Any:
    atype = inst.get("type", "Property")
    if atype == "Relationship":
        return inst.get("object")
    if atype == "LanguageProperty":
        if lang is not None:
            return pick_language(inst["languageMap"], lang)[0]
        return {"languageMap": inst.get("languageMap")}
    if atype == "VocabProperty":
        return {"vocab": _compact_value(atype, inst.get("vocab"), tm)}
    if atype == "JsonProperty":
        return {"json": inst.get("json")}
    if atype == "ListProperty":
        return inst.get("valueList")
    if atype == "ListRelationship":
        return [o.get("object") for o in inst.get("objectList", []) if isinstance(o, dict)]
    return inst.get("value")


def pick_language(lmap: dict[str, Any], wanted: str) -> tuple[Any, str]:
    """Choose the text for a `lang` request: exact tag, then prefix, then any."""
    weighted = []
    for pos, item in enumerate(w for w in wanted.split(",") if w.strip()):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        weighted.append((-q, pos, tag.strip()))
    prefs = [tag for _, _, tag in sorted(weighted)]  # by weight, then as listed (RFC 9110 12.5.4)
    for pref in prefs:
        if pref == "*":
            break
        if pref in lmap:
            return lmap[pref], pref
        for tag in lmap:
            if tag.split("-")[0] == pref.split("-")[0]:
                return lmap[tag], tag
    if "@none" in lmap:
        return lmap["@none"], "@none"
    tag = next(iter(lmap))
    return lmap[tag], tag
