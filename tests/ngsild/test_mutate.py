"""Update semantics of the provision operations, on expanded entities (ngsild.mutate)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from boulevard.errors import BadRequestData, ResourceNotFound
from boulevard.ngsild import mutate
from boulevard.ngsild.context import DEFAULT_VOCAB, ContextCache
from boulevard.ngsild.model import new_entity, parse_entity, parse_instance

TM = ContextCache().core
V = DEFAULT_VOCAB
T0 = "2024-01-01T00:00:00.000Z"
T1 = "2024-06-01T00:00:00.000Z"


def make(**attrs: Any) -> dict[str, Any]:
    body = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing", **attrs}
    return new_entity(parse_entity(body, TM), T0)


def frag(nulls: bool = False, merge: bool = False, **attrs: Any) -> dict[str, Any]:
    return parse_entity(attrs, TM, require_id=False, require_type=False, nulls=nulls, merge=merge)


def values(entity: dict[str, Any], name: str) -> list[Any]:
    return [mutate.value_of(i) for i in entity["attrs"].get(V + name, [])]


# --- append -----------------------------------------------------------------------------------------
def test_append_adds_and_overwrites() -> None:
    e = make(a=1, b=2)
    out = mutate.append_attrs(e, frag(a=10, c=3)["attrs"], T1)
    assert out.updated == [V + "a", V + "c"]
    assert out.not_updated == []
    assert values(e, "a") == [10] and values(e, "b") == [2] and values(e, "c") == [3]
    assert e["attrs"][V + "a"][0]["createdAt"] == T0  # creation time kept on overwrite
    assert e["attrs"][V + "a"][0]["modifiedAt"] == T1
    assert e["attrs"][V + "c"][0]["createdAt"] == T1
    assert e["modifiedAt"] == T1


def test_append_no_overwrite() -> None:
    e = make(a=1)
    out = mutate.append_attrs(e, frag(a=10, c=3)["attrs"], T1, overwrite=False)
    assert out.updated == [V + "c"]
    assert [n for n, _ in out.not_updated] == [V + "a"]
    assert values(e, "a") == [1]


def test_append_nothing_changed_keeps_modified_at() -> None:
    e = make(a=1)
    out = mutate.append_attrs(e, frag(a=10)["attrs"], T1, overwrite=False)
    assert not out.changed
    assert e["modifiedAt"] == T0


def test_append_dataset_instances() -> None:
    e = make(a=1)
    mutate.append_attrs(e, frag(a={"value": 2, "datasetId": "urn:ds:x"})["attrs"], T1)
    assert sorted(values(e, "a")) == [1, 2]


def test_append_fragment_types_and_scope() -> None:
    e = make(a=1, scope="/x")
    out = mutate.append_fragment(e, parse_entity({"type": "Other", "scope": "/y"}, TM, require_id=False), T1, True)
    assert e["type"] == [V + "Thing", V + "Other"]
    assert e["scope"] == ["/y"]
    assert "type" in out.updated and "scope" in out.updated
    e = make(a=1, scope="/x")
    mutate.append_fragment(e, parse_entity({"scope": ["/x", "/z"]}, TM, require_id=False, require_type=False),
                           T1, overwrite=False)
    assert e["scope"] == ["/x", "/z"]


# --- update -----------------------------------------------------------------------------------------
def test_update_replaces_existing_only() -> None:
    e = make(a=1)
    out = mutate.update_attrs(e, frag(a=5, b=6)["attrs"], T1)
    assert out.updated == [V + "a"]
    assert out.not_updated == [(V + "b", "attribute does not exist")]
    assert values(e, "a") == [5]
    assert V + "b" not in e["attrs"]


def test_update_null_deletes() -> None:
    e = make(a=1, b=2)
    out = mutate.update_attrs(e, frag(nulls=True, a="urn:ngsi-ld:null")["attrs"], T1)
    assert out.updated == [V + "a"]
    assert V + "a" not in e["attrs"]
    assert values(e, "b") == [2]


def test_update_null_of_missing_dataset_is_not_updated() -> None:
    e = make(a=1)
    null_z = frag(nulls=True, a={"value": "urn:ngsi-ld:null", "datasetId": "urn:ds:z"})
    out = mutate.update_attrs(e, null_z["attrs"], T1)
    assert out.updated == []
    assert len(out.not_updated) == 1
    assert values(e, "a") == [1]
    assert e["modifiedAt"] == T0


def test_update_fragment_scope() -> None:
    e = make(a=1)
    out = mutate.update_fragment(e, frag(nulls=True, scope="/s"), T1)
    assert ("scope", "the entity has no scope to update") in out.not_updated
    e = make(a=1, scope="/s")
    mutate.update_fragment(e, frag(nulls=True, scope="/t"), T1)
    assert e["scope"] == ["/t"]
    mutate.update_fragment(e, frag(nulls=True, scope=None), T1)
    assert "scope" not in e


# --- partial update ---------------------------------------------------------------------------------
def test_partial_update_merges() -> None:
    e = make(a={"value": 1, "unitCode": "CEL", "sub": 1})
    patch = parse_instance({"value": 2}, TM, nulls=True, partial=True)
    mutate.partial_update(e, V + "a", patch, T1)
    inst = e["attrs"][V + "a"][0]
    assert inst["value"] == 2 and inst["unitCode"] == "CEL"
    assert inst[V + "sub"]["value"] == 1
    assert inst["modifiedAt"] == T1 and inst["createdAt"] == T0
    assert e["modifiedAt"] == T1


def test_partial_update_sub_attribute_and_nulls() -> None:
    e = make(a={"value": 1, "unitCode": "CEL", "sub": 1, "other": 2})
    patch = {  # expanded form, as the model hands it over: null means "remove"
        V + "sub": {"type": "Property", "value": 5},
        V + "other": {"type": "Property", "value": None},
        "unitCode": None,
    }
    mutate.partial_update(e, V + "a", patch, T1)
    inst = e["attrs"][V + "a"][0]
    assert inst[V + "sub"]["value"] == 5
    assert inst[V + "sub"]["createdAt"] == T0  # merged into the existing sub-attribute
    assert V + "other" not in inst
    assert "unitCode" not in inst
    assert inst["value"] == 1


def test_partial_update_errors() -> None:
    e = make(a=1, r={"object": "urn:x:1"})
    before = copy.deepcopy(e)
    with pytest.raises(ResourceNotFound):
        mutate.partial_update(e, V + "zzz", {"value": 1}, T1)
    with pytest.raises(ResourceNotFound):
        mutate.partial_update(e, V + "a", {"value": 1, "datasetId": "urn:ds:q"}, T1)
    with pytest.raises(BadRequestData):
        mutate.partial_update(e, V + "r", {"type": "Property", "value": 1}, T1)
    assert e == before


def test_partial_update_null_value_deletes() -> None:
    e = make(a=1)
    mutate.partial_update(e, V + "a", {"type": "Property", "value": None}, T1)
    assert V + "a" not in e["attrs"]


# --- replace / delete attribute -------------------------------------------------------------------------
def test_replace_attr() -> None:
    e = make(a={"value": 1, "unitCode": "CEL"})
    mutate.replace_attr(e, V + "a", [{"type": "Property", "value": 9}], T1)
    inst = e["attrs"][V + "a"][0]
    assert inst == {"type": "Property", "value": 9, "createdAt": T0, "modifiedAt": T1}
    with pytest.raises(ResourceNotFound):
        mutate.replace_attr(e, V + "b", [{"type": "Property", "value": 9}], T1)


def test_delete_attr_variants() -> None:
    e = make(a=[{"value": 1}, {"value": 2, "datasetId": "urn:ds:2"}, {"value": 3, "datasetId": "urn:ds:3"}])
    mutate.delete_attr(e, V + "a", "urn:ds:2", False, T1)
    assert sorted(values(e, "a")) == [1, 3]
    mutate.delete_attr(e, V + "a", None, False, T1)
    assert values(e, "a") == [3]
    with pytest.raises(ResourceNotFound):
        mutate.delete_attr(e, V + "a", None, False, T1)
    mutate.delete_attr(e, V + "a", None, True, T1)
    assert V + "a" not in e["attrs"]
    with pytest.raises(ResourceNotFound):
        mutate.delete_attr(e, V + "a", None, True, T1)


def test_delete_scope() -> None:
    e = make(scope="/a")
    mutate.delete_attr(e, "scope", None, False, T1)
    assert "scope" not in e
    with pytest.raises(ResourceNotFound):
        mutate.delete_attr(e, "scope", None, False, T1)


# --- merge ----------------------------------------------------------------------------------------------
def test_merge_entity() -> None:
    e = make(a={"value": {"x": 1, "y": 2}, "unitCode": "U"}, b=2, r={"object": "urn:x:1"})
    out = mutate.merge_entity(e, frag(nulls=True, merge=True, a={"value": {"y": None, "z": 3}}, b=None, c=4,
                                      type="Extra"), T1)
    assert e["attrs"][V + "a"][0]["value"] == {"x": 1, "z": 3}
    assert e["attrs"][V + "a"][0]["unitCode"] == "U"
    assert V + "b" not in e["attrs"]
    assert values(e, "c") == [4]
    assert values(e, "r") == ["urn:x:1"]
    assert e["type"] == [V + "Thing", V + "Extra"]
    assert set(out.updated) >= {V + "a", V + "b", V + "c", "type"}
    assert e["modifiedAt"] == T1


def test_merge_changes_attribute_type() -> None:
    e = make(a=1)
    mutate.merge_entity(e, frag(nulls=True, merge=True, a={"object": "urn:x:2"}), T1)
    inst = e["attrs"][V + "a"][0]
    assert inst["type"] == "Relationship" and inst["object"] == "urn:x:2"
    assert "value" not in inst


def test_merge_null_for_missing_attribute_is_ignored() -> None:
    e = make(a=1)
    out = mutate.merge_entity(e, frag(nulls=True, merge=True, zzz=None), T1)
    assert out.updated == []
    assert e["modifiedAt"] == T0


def test_merge_new_attribute_without_type_is_rejected() -> None:
    e = make(a=1)
    with pytest.raises(BadRequestData):
        mutate.merge_entity(e, {"attrs": {V + "n": [{"observedAt": "2024-01-01T00:00:00Z"}]}}, T1)


def test_merge_scope() -> None:
    e = make(scope="/a")
    mutate.merge_entity(e, frag(nulls=True, merge=True, scope="/b"), T1)
    assert e["scope"] == ["/b"]
    mutate.merge_entity(e, frag(nulls=True, merge=True, scope=None), T1)
    assert "scope" not in e


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"a": 1, "b": 2}, {"b": None}, {"a": 1}),
        ({"a": 1}, {"b": {"c": 1}}, {"a": 1, "b": {"c": 1}}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": "urn:ngsi-ld:null"}}, {"a": {"b": 1}}),
        (5, {"a": 1}, {"a": 1}),
        ({"a": 1}, 7, 7),
        ({"a": 1}, [1, 2], [1, 2]),
        ({"type": "Point", "coordinates": [0, 0]}, {"type": "Point", "coordinates": [1, 1]},
         {"type": "Point", "coordinates": [1, 1]}),
    ],
)
def test_merge_value(old: Any, new: Any, expected: Any) -> None:
    assert mutate.merge_value(old, new) == expected


# --- replace entity ------------------------------------------------------------------------------------------
def test_replace_entity() -> None:
    e = make(a=1, scope="/a")
    new = mutate.replace_entity(e, parse_entity({"type": "Other", "b": 2}, TM, require_id=False), T1)
    assert new["id"] == e["id"]
    assert new["type"] == [V + "Other"]
    assert "scope" not in new
    assert new["createdAt"] == T0 and new["modifiedAt"] == T1
    assert list(new["attrs"]) == [V + "b"]
    assert new["attrs"][V + "b"][0]["createdAt"] == T1


# --- helpers ---------------------------------------------------------------------------------------------------
def test_is_delete_and_strip_nulls() -> None:
    assert mutate.is_delete({"type": "Property", "value": None})
    assert mutate.is_delete({"type": "Relationship", "object": None})
    assert mutate.is_delete({"object": None})
    assert not mutate.is_delete({"type": "Property", "value": 0})
    assert not mutate.is_delete({"type": "Relationship", "value": None})
    attrs = {"a": [{"type": "Property", "value": None}], "b": [{"type": "Property", "value": None},
                                                                {"type": "Property", "value": 1}]}
    assert mutate.strip_nulls(attrs) == {"b": [{"type": "Property", "value": 1}]}


def test_find_instance() -> None:
    insts = [{"value": 1}, {"value": 2, "datasetId": "urn:d:1"}]
    assert mutate.find_instance(insts, None) == 0
    assert mutate.find_instance(insts, "urn:d:1") == 1
    assert mutate.find_instance(insts, "urn:d:2") is None
