"""The internal entity model and the validation of incoming NGSI-LD payloads.

Payloads arrive in compacted JSON-LD (normalized or concise). ``parse_entity``
and ``parse_attribute`` validate them and return plain dicts in *expanded*
form — the only form stored and passed inside the broker:

    Entity   = {"id": str, "type": [IRI, ...], "scope"?: [str],
                "createdAt": str, "modifiedAt": str, "attrs": {IRI: [Instance]}}
    Instance = {"type": "Property" | ..., "value" | "object" | ...: ...,
                "datasetId"?, "observedAt"?, "unitCode"?, "createdAt", "modifiedAt",
                IRI: Instance  # sub-attributes}

Core members keep their short names; every attribute and sub-attribute name
is an absolute IRI, so the two can never collide.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import orjson

from boulevard.errors import BadRequestData
from boulevard.ngsild.context import TermMap, is_absolute_iri

Entity = dict[str, Any]
Instance = dict[str, Any]

NGSI_LD_NULL = "urn:ngsi-ld:null"
ATTRIBUTE_TYPES = (
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "VocabProperty",
    "JsonProperty",
    "ListProperty",
    "ListRelationship",
)
# the member that carries each attribute type's value
VALUE_MEMBER = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
_ATTRIBUTE_TYPE_SET = frozenset(ATTRIBUTE_TYPES)
TYPE_ALIASES = {"VocabularyProperty": "VocabProperty"}
INFER_ORDER = (
    ("object", "Relationship"),
    ("languageMap", "LanguageProperty"),
    ("vocab", "VocabProperty"),
    ("json", "JsonProperty"),
    ("valueList", "ListProperty"),
    ("objectList", "ListRelationship"),
    ("value", "Property"),
)
CORE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "objectType",
        "languageMap",
        "vocab",
        "json",
        "valueList",
        "objectList",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "lang",
        "@context",
    }
)
# every member an instance can hold besides sub-attributes (stored form)
INSTANCE_MEMBERS = CORE_MEMBERS | {"valueType", "entityIdSealed", "entityTypeSealed"}
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})
ENTITY_RESERVED = frozenset({"id", "type", "@id", "@type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt"})
GEOMETRY_TYPES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"})
CORE_GEO_ATTRS = ("location", "observationSpace", "operationSpace")
_FORBIDDEN_NAME = re.compile(r"[\s<>\"'=;()\\\x00-\x1f]")
_SHORT_NAME = re.compile(r"^[^\W\d_]\w*$")
_SCOPE_LEVEL = r"[^\W\d_]\w*"
_SCOPE = re.compile(rf"^/?{_SCOPE_LEVEL}(/{_SCOPE_LEVEL})*$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
# characters that make identifiers look alike or hide content (UTS #39 / RFC 3987 spirit)
_INVISIBLE = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x180E, 0x034F})
# attribute names that are core members of an attribute, never attributes themselves
RESERVED_ATTR_NAMES = frozenset({
    "datasetId", "instanceId", "observedAt", "unitCode", "value", "object", "objectType", "languageMap",
    "vocab", "json", "valueList", "objectList", "lang", "@value", "@type", "@language",
})
# members that only responses carry, or that only ngsildproof may carry
OUTPUT_ONLY = frozenset({
    "previousValue", "previousObject", "previousLanguageMap", "previousVocab", "previousJson",
    "previousValueList", "previousObjectList",
})
SEALED = frozenset({"entityIdSealed", "entityTypeSealed"})
# the members each attribute type may carry, besides type, datasetId, observedAt and sub-attributes
ALLOWED_MEMBERS = {
    "Property": frozenset({"value", "unitCode", "valueType"}),
    "GeoProperty": frozenset({"value"}),
    "Relationship": frozenset({"object", "objectType"}),
    "LanguageProperty": frozenset({"languageMap", "valueType"}),
    "VocabProperty": frozenset({"vocab"}),
    "JsonProperty": frozenset({"json", "valueType"}),
    "ListProperty": frozenset({"valueList", "unitCode", "valueType"}),
    "ListRelationship": frozenset({"objectList", "objectType"}),
}


def now_iso() -> str:
    """The current time as NGSI-LD writes it: UTC, milliseconds, 'Z'."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def is_null(value: Any) -> bool:
    return value is None or value == NGSI_LD_NULL


def _bad_char(ch: str) -> bool:
    cp = ord(ch)
    if cp in _INVISIBLE or 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
        return True
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
        return True
    return unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cs", "Cn")


def check_uri(value: Any, what: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or not is_absolute_iri(value)
        or _FORBIDDEN_NAME.search(value)
        or value == NGSI_LD_NULL
        or (not value.isascii() and any(_bad_char(c) for c in value))
    ):
        raise BadRequestData(f"{what} must be a URI, got {value!r}")
    return value


_VALID_NAMES: set[str] = set()  # names already checked: they recur in every payload


def check_name(name: Any, what: str = "attribute name") -> str:
    """Names (4.6.2): a letter then letters, digits or '_'; or a (compact) IRI."""
    if name.__class__ is str and name in _VALID_NAMES:
        return str(name)
    if not isinstance(name, str) or not name:
        raise BadRequestData(f"invalid {what}: {name!r}")
    if ":" in name:
        if _FORBIDDEN_NAME.search(name) or (not name.isascii() and any(_bad_char(c) for c in name)):
            raise BadRequestData(f"invalid {what}: {name!r}")
    elif not _SHORT_NAME.match(name):
        raise BadRequestData(f"invalid {what}: {name!r}")
    if len(_VALID_NAMES) < 50_000:
        _VALID_NAMES.add(name)
    return name


_VALID_DATETIMES: set[str] = set()  # observedAt values recur across a batch and a stream


def check_datetime(value: Any, what: str) -> str:
    if value.__class__ is str and value in _VALID_DATETIMES:
        return str(value)
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise BadRequestData(f"{what} must be an ISO 8601 UTC date-time ending in Z, got {value!r}")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequestData(f"{what} is not a valid date-time: {value!r}") from exc
    if len(_VALID_DATETIMES) >= 10_000:
        _VALID_DATETIMES.clear()
    _VALID_DATETIMES.add(value)
    return value


def expand_types(raw: Any, tm: TermMap) -> list[str]:
    names = raw if isinstance(raw, list) else [raw]
    if not names:
        raise BadRequestData("entity type must not be empty")
    out: list[str] = []
    for name in names:
        check_name(name, "entity type")
        if name in tm.keyword_aliases:
            raise BadRequestData(f"entity type {name!r} is a JSON-LD keyword alias")
        iri = tm.expand(name)
        if iri not in out:
            out.append(iri)
    return out


def check_scopes(raw: Any) -> list[str]:
    scopes = raw if isinstance(raw, list) else [raw]
    if not scopes:
        raise BadRequestData("scope must not be empty")
    for s in scopes:
        if not isinstance(s, str) or not _SCOPE.match(s):
            raise BadRequestData(f"invalid scope: {s!r}")
    return list(dict.fromkeys(scopes))


# --- geometry -----------------------------------------------------------------
def _is_position(p: Any) -> bool:
    return (
        isinstance(p, list)
        and 2 <= len(p) <= 3
        and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)
    )


def _is_line(c: Any, minimum: int = 2) -> bool:
    return isinstance(c, list) and len(c) >= minimum and all(_is_position(p) for p in c)


def _is_ring(c: Any) -> bool:
    return _is_line(c, 4) and c[0] == c[-1]


def _is_polygon(c: Any) -> bool:
    return isinstance(c, list) and len(c) >= 1 and all(_is_ring(r) for r in c)


def check_geometry(value: Any) -> dict[str, Any]:
    """Validate a GeoJSON geometry (RFC 7946 structure)."""
    if not isinstance(value, dict):
        raise BadRequestData("a GeoProperty value must be a GeoJSON geometry object")
    gtype = value.get("type")
    coords = value.get("coordinates")
    ok = False
    if gtype == "Point":
        ok = _is_position(coords)
    elif gtype == "MultiPoint":
        ok = isinstance(coords, list) and all(_is_position(p) for p in coords)
    elif gtype == "LineString":
        ok = _is_line(coords)
    elif gtype == "MultiLineString":
        ok = isinstance(coords, list) and all(_is_line(x) for x in coords)
    elif gtype == "Polygon":
        ok = _is_polygon(coords)
    elif gtype == "MultiPolygon":
        ok = isinstance(coords, list) and all(_is_polygon(x) for x in coords)
    if not ok:
        raise BadRequestData(f"invalid GeoJSON geometry of type {gtype!r}")
    return value


_GEOJSON_TYPES = GEOMETRY_TYPES | {"GeometryCollection"}


def looks_like_geometry(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    gtype = value.get("type")
    return gtype.__class__ is str and gtype in _GEOJSON_TYPES and ("coordinates" in value or "geometries" in value)


# --- attributes -----------------------------------------------------------------
def infer_type(raw: dict[str, Any]) -> str | None:
    for member, atype in INFER_ORDER:
        if member in raw:
            if atype == "Property" and looks_like_geometry(raw["value"]):
                return "GeoProperty"
            return atype
    return None


_VALUE_MEMBERS = frozenset(VALUE_MEMBER.values()) | {"unitCode", "objectType", "valueType"}
# the keys an instance of each type may carry that need no per-key dispatch
_PLAIN_KEYS = {
    atype: members | {"type", "observedAt", "datasetId"} | SYSTEM_MEMBERS for atype, members in ALLOWED_MEMBERS.items()
}
_SCALARS = (str, int, float, bool)


def _is_null_member(member: str, val: Any) -> bool:
    if is_null(val):
        return True
    if isinstance(val, list) and len(val) == 1 and is_null(val[0]):
        return True
    return member == "languageMap" and isinstance(val, dict) and list(val.values()) == [NGSI_LD_NULL]


def _contains_null(val: Any) -> bool:
    if val.__class__ in (str, int, float, bool):
        return False
    if isinstance(val, dict):
        return any(v is None or v == NGSI_LD_NULL or _contains_null(v) for v in val.values())
    if isinstance(val, list):
        return any(v is None or v == NGSI_LD_NULL or _contains_null(v) for v in val)
    return False


def _parse_members(
    raw: dict[str, Any], atype: str | None, tm: TermMap, *, nulls: bool, name: str, merge: bool
) -> Instance:
    """The members and sub-attributes of an instance, one by one."""
    inst: Instance = {}
    if atype is not None:
        inst["type"] = atype
    allowed = ALLOWED_MEMBERS.get(atype) if atype else None
    for key, val in raw.items():
        if key == "type" or key in SYSTEM_MEMBERS:
            continue
        if key == "@context":
            raise BadRequestData("an attribute cannot carry its own @context")
        if key in OUTPUT_ONLY or key == "lang":
            raise BadRequestData(f"{key} is output-only and cannot be written")
        if key in SEALED:
            if name != "ngsildproof":
                raise BadRequestData(f"{key} may only appear in ngsildproof")
            if not isinstance(val, str):
                raise BadRequestData(f"{key} must be a string")
            inst[key] = tm.expand(val) if key == "entityTypeSealed" else val
            continue
        if key in _VALUE_MEMBERS:
            if allowed is not None and key not in allowed:
                raise BadRequestData(f"a {atype} cannot have a {key!r} member")
            inst[key] = val
            continue
        if key in ("observedAt", "datasetId"):
            inst[key] = val
            continue
        check_name(key)
        inst[tm.expand(key)] = parse_instance(val, tm, nulls=nulls, merge=merge)
    return inst


def parse_instance(
    raw: Any, tm: TermMap, *, nulls: bool = False, partial: bool = False, name: str = "", merge: bool = False
) -> Instance:
    """Validate one attribute instance (normalized or concise) into expanded form.

    ``nulls``: NGSI-LD null (``null`` or ``"urn:ngsi-ld:null"``) is allowed and
    kept, meaning "delete" to the update operation that asked for it.
    ``partial``: the value member may be missing (partial attribute update).
    """
    if not isinstance(raw, dict):
        if raw is None or raw == NGSI_LD_NULL:
            if nulls:
                return {"type": "Property", "value": None}
            raise BadRequestData("attribute value must not be null")
        if not merge and _contains_null(raw):
            raise BadRequestData("NGSI-LD null is not allowed inside a value here")
        return {"type": "Property", "value": raw}
    atype = raw.get("type")
    if atype.__class__ is str and atype in _ATTRIBUTE_TYPE_SET:
        pass  # the usual normalized instance
    elif looks_like_geometry(raw):
        return {"type": "GeoProperty", "value": check_geometry(raw)}
    elif atype is None:
        atype = infer_type(raw)
        if atype is None and not partial:
            raise BadRequestData("attribute has neither a type nor a value member")
    elif isinstance(atype, str):
        atype = TYPE_ALIASES.get(atype, atype)
        if atype not in ATTRIBUTE_TYPES:
            raise BadRequestData(f"unknown attribute type {atype!r}")
    else:
        raise BadRequestData("attribute type must be a string")
    plain = _PLAIN_KEYS.get(atype) if atype is not None else None
    keys = raw.keys()
    if plain is not None and keys <= plain:
        # the common case: only this type's own members, no sub-attributes; copy in one go
        inst: Instance = {"type": atype, **raw} if keys.isdisjoint(SYSTEM_MEMBERS) else {
            "type": atype, **{k: v for k, v in raw.items() if k not in SYSTEM_MEMBERS}
        }
        inst["type"] = atype
    else:
        inst = _parse_members(raw, atype, tm, nulls=nulls, name=name, merge=merge)
    if "datasetId" in inst:
        if inst["datasetId"] == "@none":
            del inst["datasetId"]
        else:
            check_uri(inst["datasetId"], "datasetId")
    if "observedAt" in inst:
        if (merge or nulls) and is_null(inst["observedAt"]):
            inst["observedAt"] = None  # an update naming the member with NGSI-LD null removes it
        else:
            check_datetime(inst["observedAt"], "observedAt")
    if "unitCode" in inst:
        if (merge or nulls) and is_null(inst["unitCode"]):
            inst["unitCode"] = None
        elif not isinstance(inst["unitCode"], str):
            raise BadRequestData("unitCode must be a string")
    if "objectType" in inst:
        inst["objectType"] = [tm.expand(check_name(t, "objectType")) for t in _as_list(inst["objectType"])]
    if atype is None:
        return inst
    member = VALUE_MEMBER[atype]
    if member not in inst:
        if partial:
            return inst
        raise BadRequestData(f"{atype} has no {member!r} member")
    val = inst[member]
    if val is None:
        raise BadRequestData(f"{atype} {member} must not be JSON null; NGSI-LD null is urn:ngsi-ld:null")
    scalar = val.__class__ in _SCALARS
    if (val == NGSI_LD_NULL) if scalar else _is_null_member(member, val):
        if not nulls:
            raise BadRequestData(f"{atype} {member} must not be null")
        inst[member] = None
        return inst
    if not scalar and not merge and atype not in ("JsonProperty", "GeoProperty") and _contains_null(val):
        raise BadRequestData("NGSI-LD null is not allowed inside a value here")
    if not scalar or atype != "Property":  # a scalar Property value needs no more checks
        _check_value(atype, inst, tm)
    if name == "ngsildproof" and not isinstance(inst.get("value"), dict):
        raise BadRequestData("the ngsildproof value must be a proof object")
    return inst


def _check_value(atype: str, inst: Instance, tm: TermMap) -> None:
    if atype == "Property":
        if looks_like_geometry(inst["value"]) and inst["value"].get("type") == "GeometryCollection":
            raise BadRequestData("GeometryCollection is not supported")
        return
    if atype == "GeoProperty":
        value = inst["value"]
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise BadRequestData("a GeoProperty string value must encode a GeoJSON geometry") from exc
        inst["value"] = check_geometry(value)
    elif atype == "Relationship":
        obj = inst["object"]
        objs = obj if isinstance(obj, list) else [obj]
        if not objs:
            raise BadRequestData("Relationship object must not be empty")
        for o in objs:
            check_uri(o, "Relationship object")
    elif atype == "LanguageProperty":
        lm = inst["languageMap"]
        if not isinstance(lm, dict) or not lm:
            raise BadRequestData("languageMap must be a non-empty object")
        for lang, text in lm.items():
            texts = text if isinstance(text, list) else [text]
            if not lang or not all(isinstance(t, str) for t in texts):
                raise BadRequestData("languageMap maps non-empty language tags to strings")
        if inst.get("valueType", "langString") not in ("langString", "rdf:langString"):
            raise BadRequestData("a LanguageProperty valueType must be langString")
    elif atype == "VocabProperty":
        vocab = inst["vocab"]
        terms = vocab if isinstance(vocab, list) else [vocab]
        if not terms or not all(isinstance(t, str) and t for t in terms):
            raise BadRequestData("vocab must be a string or a list of strings")
        expanded = [tm.expand(_check_term(t)) for t in terms]
        inst["vocab"] = expanded if isinstance(vocab, list) else expanded[0]
    elif atype == "JsonProperty":
        js = inst["json"]
        if not isinstance(js, dict) and not (isinstance(js, list) and all(isinstance(x, dict) for x in js)):
            raise BadRequestData("json must be a JSON object or an array of objects")
    elif atype == "ListProperty":
        if not isinstance(inst["valueList"], list):
            raise BadRequestData("valueList must be an array")
    elif atype == "ListRelationship":
        lst = inst["objectList"]
        if not isinstance(lst, list):
            raise BadRequestData("objectList must be an array")
        out = []
        for item in lst:
            uri = item.get("object") if isinstance(item, dict) else item
            out.append({"object": check_uri(uri, "objectList member")})
        inst["objectList"] = out


def _check_term(term: str) -> str:
    """A vocab term: a name, a compact IRI or an IRI; unlike attribute names it may hold '-'."""
    if _FORBIDDEN_NAME.search(term) or (not term.isascii() and any(_bad_char(c) for c in term)):
        raise BadRequestData(f"invalid vocab term: {term!r}")
    return term


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse_attribute(
    name: str, raw: Any, tm: TermMap, *, nulls: bool = False, partial: bool = False, merge: bool = False,
    temporal: bool = False,
) -> tuple[str, list[Instance]]:
    """Validate an attribute (one instance, or an array of datasetId instances; in a temporal
    representation, any number of instances per datasetId)."""
    check_name(name)
    if name in RESERVED_ATTR_NAMES:
        raise BadRequestData(f"{name} is a core member name and cannot name an attribute")
    iri = tm.expand(name)
    if isinstance(raw, list) and raw and all(isinstance(x, dict) for x in raw) and any(
        ("type" in x or infer_type(x)) for x in raw
    ):
        instances = [parse_instance(x, tm, nulls=nulls or temporal, partial=partial, name=name, merge=merge)
                     for x in raw]
    else:
        instances = [parse_instance(raw, tm, nulls=nulls or temporal, partial=partial, name=name, merge=merge)]
    if temporal and not isinstance(raw, (dict, list)) and is_null(raw):
        raise BadRequestData(f"{name} must not be null")
    if temporal:  # in a history, an NGSI-LD null value records a deletion: keep it as such
        for inst in instances:
            member = VALUE_MEMBER.get(inst.get("type", "Property"), "value")
            if member in inst and inst[member] is None:
                inst[member] = NGSI_LD_NULL
    if len(instances) > 1 and not temporal:
        seen: set[str | None] = set()
        for inst in instances:
            ds = inst.get("datasetId")
            if ds in seen:
                raise BadRequestData(f"attribute {name} has two instances with datasetId {ds!r}")
            seen.add(ds)
    if name in CORE_GEO_ATTRS or iri in _CORE_GEO_IRIS:
        for inst in instances:
            if (inst.get("type") not in (None, "GeoProperty") or (
                inst.get("type") is None and "value" in inst and not looks_like_geometry(inst["value"])
            )) and not (nulls and inst.get("value") is None):
                raise BadRequestData(f"{name} must be a GeoProperty")
    return iri, instances


_CORE_GEO_IRIS = frozenset(f"https://uri.etsi.org/ngsi-ld/{n}" for n in CORE_GEO_ATTRS)


def parse_attributes(
    body: dict[str, Any], tm: TermMap, *, nulls: bool = False, partial: bool = False, merge: bool = False,
    temporal: bool = False,
) -> dict[str, list[Instance]]:
    """The attributes of an entity fragment (id, type, scope, @context skipped)."""
    attrs: dict[str, list[Instance]] = {}
    for name, raw in body.items():
        if name in ENTITY_RESERVED:
            continue
        iri, instances = parse_attribute(name, raw, tm, nulls=nulls, partial=partial, merge=merge, temporal=temporal)
        attrs[iri] = instances
    return attrs


def parse_entity(
    body: Any,
    tm: TermMap,
    *,
    require_id: bool = True,
    require_type: bool = True,
    nulls: bool = False,
    merge: bool = False,
    temporal: bool = False,
) -> Entity:
    """Validate an entity payload into expanded form (no system timestamps yet)."""
    if not isinstance(body, dict):
        raise BadRequestData("the entity must be a JSON object")
    eid = body.get("id", body.get("@id"))
    entity: Entity = {}
    if eid is not None or require_id:
        entity["id"] = check_uri(eid, "entity id")
    etype = body.get("type", body.get("@type"))
    if etype is not None:
        entity["type"] = expand_types(etype, tm)
    elif require_type:
        raise BadRequestData("entity type is missing")
    if "scope" in body:
        scope = body["scope"]
        if is_null(scope):
            if not nulls:
                raise BadRequestData("scope must not be null")
            entity["scope"] = None
        else:
            entity["scope"] = check_scopes(scope)
    entity["attrs"] = parse_attributes(body, tm, nulls=nulls, merge=merge, partial=merge, temporal=temporal)
    return entity


def stamp(instances: list[Instance], now: str, created: str | None = None) -> None:
    """Set createdAt/modifiedAt on new instances and their sub-attributes."""
    for inst in instances:
        if inst.get("observedAt", "") is None:
            del inst["observedAt"]  # NGSI-LD null on a member of a new instance: just absent
        if inst.get("unitCode", "") is None:
            del inst["unitCode"]
        inst["createdAt"] = created or now
        inst["modifiedAt"] = now
        if not inst.keys() <= INSTANCE_MEMBERS:  # sub-attributes (IRI keys) need their own stamps
            for key, sub in inst.items():
                if ":" in key and isinstance(sub, dict):
                    stamp([sub], now, sub.get("createdAt"))


def new_entity(parsed: Entity, now: str) -> Entity:
    """A parsed entity with its system timestamps, ready to store."""
    entity: Entity = {"id": parsed["id"], "type": parsed["type"]}
    if parsed.get("scope"):
        entity["scope"] = parsed["scope"]
    entity["createdAt"] = now
    entity["modifiedAt"] = now
    for instances in parsed["attrs"].values():
        stamp(instances, now)
    entity["attrs"] = parsed["attrs"]
    return entity
