"""Pure update semantics of the NGSI-LD provision operations.

Each function changes an expanded entity (see ``model``) in place and says
what it changed; none does I/O, so they run inside one storage transaction.
An instance whose value member is ``None`` is an NGSI-LD null: "delete".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boulevard.errors import BadRequestData, ResourceNotFound
from boulevard.ngsild.model import VALUE_MEMBER, Entity, Instance, stamp


@dataclass
class Outcome:
    """What an update did: attribute IRIs updated, and those not updated with why."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.updated)


def find_instance(instances: list[Instance], dataset_id: str | None) -> int | None:
    for i, inst in enumerate(instances):
        if inst.get("datasetId") == dataset_id:
            return i
    return None


def is_delete(inst: Instance) -> bool:
    atype = inst.get("type")
    member = VALUE_MEMBER.get(atype) if isinstance(atype, str) else None
    if member is None:
        return any(m in inst and inst[m] is None for m in set(VALUE_MEMBER.values()))
    return member in inst and inst[member] is None


def _remove(entity: Entity, iri: str, index: int) -> None:
    instances = entity["attrs"][iri]
    del instances[index]
    if not instances:
        del entity["attrs"][iri]


def append_attrs(entity: Entity, attrs: dict[str, list[Instance]], now: str, overwrite: bool = True) -> Outcome:
    """Append (POST .../attrs): add new attributes, overwrite existing unless told not to."""
    out = Outcome()
    for iri, new in attrs.items():
        existing = entity["attrs"].setdefault(iri, [])
        done = False
        for inst in new:
            idx = find_instance(existing, inst.get("datasetId"))
            if idx is None:
                stamp([inst], now)
                existing.append(inst)
                done = True
            elif overwrite:
                stamp([inst], now, existing[idx].get("createdAt"))
                existing[idx] = inst
                done = True
            else:
                out.not_updated.append((iri, "attribute already exists and noOverwrite was asked"))
        if not existing:
            del entity["attrs"][iri]
        if done:
            out.updated.append(iri)
    _touch(entity, out, now)
    return out


def update_attrs(entity: Entity, attrs: dict[str, list[Instance]], now: str) -> Outcome:
    """Update (PATCH .../attrs): replace existing attributes only; null deletes."""
    out = Outcome()
    for iri, new in attrs.items():
        existing = entity["attrs"].get(iri)
        if existing is None:
            out.not_updated.append((iri, "attribute does not exist"))
            continue
        done = False
        for inst in new:
            idx = find_instance(existing, inst.get("datasetId"))
            if idx is None:
                if is_delete(inst):
                    out.not_updated.append((iri, "no instance with this datasetId"))
                    continue
                stamp([inst], now)
                existing.append(inst)
                done = True
                continue
            if is_delete(inst):
                _remove(entity, iri, idx)
                existing = entity["attrs"].get(iri, [])
            else:
                stamp([inst], now, existing[idx].get("createdAt"))
                existing[idx] = inst
            done = True
        if done:
            out.updated.append(iri)
    _touch(entity, out, now)
    return out


def _merge_instance(old: Instance, patch: Instance, now: str) -> Instance:
    merged = dict(old)
    new_type = patch.get("type")
    if new_type is not None and new_type != old.get("type"):
        old_member = VALUE_MEMBER.get(old.get("type", ""), "")
        merged.pop(old_member, None)
    for key, val in patch.items():
        if ":" in key and isinstance(val, dict):
            if is_delete(val):
                merged.pop(key, None)
            elif isinstance(merged.get(key), dict):
                merged[key] = _merge_instance(merged[key], val, now)
            else:
                stamp([val], now)
                merged[key] = val
        elif key in ("observedAt", "unitCode") and val is None:
            merged.pop(key, None)
        elif key == "value":
            merged[key] = merge_value(merged.get(key), val)
        else:
            merged[key] = val
    merged["modifiedAt"] = now
    return merged


def merge_value(old: Any, new: Any) -> Any:
    """RFC 7396 merge of compound values: null-valued keys are removed."""
    if not isinstance(new, dict) or ("type" in new and "coordinates" in new):
        return new
    base = dict(old) if isinstance(old, dict) else {}
    for key, val in new.items():
        if val is None or val == "urn:ngsi-ld:null":
            base.pop(key, None)
        else:
            base[key] = merge_value(base.get(key), val)
    return base


def partial_update(entity: Entity, iri: str, patch: Instance, now: str) -> None:
    """Partial attribute update (PATCH .../attrs/{attrId}): merge into one instance."""
    existing = entity["attrs"].get(iri)
    if existing is None:
        raise ResourceNotFound(f"attribute {iri} not found")
    idx = find_instance(existing, patch.get("datasetId"))
    if idx is None:
        raise ResourceNotFound(f"attribute {iri} has no instance with datasetId {patch.get('datasetId')!r}")
    if "type" in patch and patch["type"] != existing[idx].get("type"):
        raise BadRequestData(f"the attribute is a {existing[idx].get('type')}, not a {patch['type']}")
    if is_delete(patch):
        _remove(entity, iri, idx)
    else:
        merged = _merge_instance(existing[idx], patch, now)
        if "type" in patch and VALUE_MEMBER[patch["type"]] not in merged:
            raise BadRequestData(f"{patch['type']} needs a {VALUE_MEMBER[patch['type']]!r} member")
        existing[idx] = merged
    entity["modifiedAt"] = now


def replace_attr(entity: Entity, iri: str, new: list[Instance], now: str) -> None:
    """Replace attribute (PUT .../attrs/{attrId}): the attribute must exist."""
    existing = entity["attrs"].get(iri)
    if existing is None:
        raise ResourceNotFound(f"attribute {iri} not found")
    for inst in new:
        idx = find_instance(existing, inst.get("datasetId"))
        if idx is None:
            stamp([inst], now)
            existing.append(inst)
        else:
            stamp([inst], now, existing[idx].get("createdAt"))
            existing[idx] = inst
    entity["modifiedAt"] = now


def delete_attr(entity: Entity, iri: str, dataset_id: str | None, delete_all: bool, now: str) -> None:
    """Delete attribute: the default instance, one datasetId, or all instances."""
    if iri == "scope":
        if not entity.get("scope"):
            raise ResourceNotFound("the entity has no scope")
        del entity["scope"]
        entity["modifiedAt"] = now
        return
    existing = entity["attrs"].get(iri)
    if existing is None:
        raise ResourceNotFound(f"attribute {iri} not found")
    if delete_all:
        del entity["attrs"][iri]
    else:
        idx = find_instance(existing, dataset_id)
        if idx is None:
            raise ResourceNotFound(f"attribute {iri} has no instance with datasetId {dataset_id!r}")
        _remove(entity, iri, idx)
    entity["modifiedAt"] = now


def merge_entity(entity: Entity, patch: Entity, now: str) -> Outcome:
    """Merge-patch (PATCH /entities/{id}): add, merge, and delete on null."""
    out = Outcome()
    for t in patch.get("type") or []:
        if t not in entity["type"]:
            entity["type"].append(t)
            out.updated.append("type")
    if "scope" in patch:
        if patch["scope"] is None:
            entity.pop("scope", None)
        else:
            entity["scope"] = patch["scope"]
        out.updated.append("scope")
    for iri, new in patch["attrs"].items():
        existing = entity["attrs"].get(iri)
        for inst in new:
            idx = None if existing is None else find_instance(existing, inst.get("datasetId"))
            if is_delete(inst):
                if existing is not None and idx is not None:
                    _remove(entity, iri, idx)
                    existing = entity["attrs"].get(iri)
                    out.updated.append(iri)
                continue
            if existing is None or idx is None:
                if "type" not in inst:
                    raise BadRequestData(f"new attribute {iri} needs a type or a value")
                stamp([inst], now)
                existing = entity["attrs"].setdefault(iri, [])
                existing.append(inst)
            else:
                existing[idx] = _merge_instance(existing[idx], inst, now)
            out.updated.append(iri)
    _touch(entity, out, now)
    return out


def replace_entity(entity: Entity, new: Entity, now: str) -> Entity:
    """Replace entity (PUT /entities/{id}): keep id and createdAt, take all else."""
    out: Entity = {"id": entity["id"], "type": new.get("type") or entity["type"]}
    if new.get("scope"):
        out["scope"] = new["scope"]
    out["createdAt"] = entity["createdAt"]
    out["modifiedAt"] = now
    for instances in new["attrs"].values():
        stamp(instances, now)
    out["attrs"] = new["attrs"]
    return out


def _merge_types(entity: Entity, frag: Entity, out: Outcome) -> None:
    added = [t for t in frag.get("type") or [] if t not in entity["type"]]
    if added:
        entity["type"].extend(added)
    if frag.get("type"):
        out.updated.append("type")


def append_fragment(entity: Entity, frag: Entity, now: str, overwrite: bool = True) -> Outcome:
    """Append attributes, types and scopes of an entity fragment (POST .../attrs)."""
    out = append_attrs(entity, frag["attrs"], now, overwrite)
    _merge_types(entity, frag, out)
    if frag.get("scope"):
        current = entity.get("scope") or []
        if overwrite or not current:
            entity["scope"] = list(frag["scope"])
        else:
            entity["scope"] = current + [s for s in frag["scope"] if s not in current]
        out.updated.append("scope")
    _touch(entity, out, now)
    return out


def update_fragment(entity: Entity, frag: Entity, now: str) -> Outcome:
    """Update attributes, types and scope of an entity fragment (PATCH .../attrs)."""
    out = update_attrs(entity, frag["attrs"], now)
    _merge_types(entity, frag, out)
    if "scope" in frag:
        if not entity.get("scope"):
            out.not_updated.append(("scope", "the entity has no scope to update"))
        elif frag["scope"] is None:
            del entity["scope"]
            out.updated.append("scope")
        else:
            entity["scope"] = list(frag["scope"])
            out.updated.append("scope")
    _touch(entity, out, now)
    return out


def _touch(entity: Entity, out: Outcome, now: str) -> None:
    if out.changed:
        entity["modifiedAt"] = now


def strip_nulls(attrs: dict[str, list[Instance]]) -> dict[str, list[Instance]]:
    """Drop NGSI-LD-null instances (upsert/create paths where null means nothing)."""
    return {iri: [i for i in insts if not is_delete(i)] for iri, insts in attrs.items() if any(
        not is_delete(i) for i in insts
    )}


def value_of(inst: Instance) -> Any:
    atype = inst.get("type", "Property")
    return inst.get(VALUE_MEMBER.get(atype, "value"))
