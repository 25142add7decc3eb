"""Validation of incoming payloads into the expanded internal form (ngsild.model)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boulevard.errors import BadRequestData
from boulevard.ngsild.context import DEFAULT_VOCAB, ContextCache
from boulevard.ngsild.model import (
    NGSI_LD_NULL,
    check_datetime,
    check_geometry,
    check_name,
    check_scopes,
    check_uri,
    infer_type,
    new_entity,
    parse_attribute,
    parse_entity,
    parse_instance,
    stamp,
)

TM = ContextCache().core
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
V = DEFAULT_VOCAB


def entity(**attrs: Any) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:Thing:1", "type": "Thing", **attrs}


def bad(body: Any, **kw: Any) -> str:
    with pytest.raises(BadRequestData) as exc:
        parse_entity(body, TM, **kw)
    assert exc.value.status == 400
    assert exc.value.kind == "BadRequestData"
    return exc.value.detail


# --- ids, types, names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["urn:ngsi-ld:Room:1", "http://example.org/a", "https://x.org/a?b#d", "urn:x:é", "x-y.z+1:abc"],
)
def test_check_uri_accepts(value: str) -> None:
    assert check_uri(value, "id") == value


@pytest.mark.parametrize(
    "value",
    [None, "", 42, ["urn:a:b"], "no-scheme", "1abc:x", "urn:a b", "urn:a<b>", 'urn:a"b', "urn:a\tb", "urn:a=b",
     "urn:a;b", "urn:a(b)",
     NGSI_LD_NULL, "urn:\u200bhidden", "urn:a\ufeff", "urn:a\u3164b", "urn:a\ufe0fb"],
)
def test_check_uri_rejects(value: Any) -> None:
    with pytest.raises(BadRequestData):
        check_uri(value, "entity id")


@pytest.mark.parametrize("name", ["a", "temperature", "Temp_2", "été", "ex:foo", "http://x.org/attr"])
def test_check_name_accepts(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", [None, "", 3, "_a", "1a", "a-b", "a.b", "a b", "a;b", "a=b", "ex:a b", "a(b)"])
def test_check_name_rejects(name: Any) -> None:
    with pytest.raises(BadRequestData):
        check_name(name)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Thing"},
        {"id": None, "type": "Thing"},
        {"id": "Thing1", "type": "Thing"},
        {"id": 7, "type": "Thing"},
        {"id": "urn:ngsi-ld:null", "type": "Thing"},
    ],
)
def test_bad_ids(body: dict[str, Any]) -> None:
    assert "id" in bad(body)


@pytest.mark.parametrize(
    "etype", [None, "", [], "two words", "1Thing", ["Thing", 3], {"a": 1}, "id", ["type"]],
)
def test_bad_types(etype: Any) -> None:
    body = {"id": "urn:ngsi-ld:Thing:1"}
    if etype is not None:
        body["type"] = etype
    bad(body)


def test_types_expand_and_deduplicate() -> None:
    parsed = parse_entity({"id": "urn:a:1", "type": ["Thing", "Thing", "ex:Other", "http://x.org/T"]}, TM)
    assert parsed["type"] == [V + "Thing", "ex:Other", "http://x.org/T"]


def test_at_id_and_at_type_are_accepted() -> None:
    parsed = parse_entity({"@id": "urn:a:1", "@type": "Thing"}, TM)
    assert parsed["id"] == "urn:a:1"
    assert parsed["type"] == [V + "Thing"]


def test_fragment_may_omit_id_and_type() -> None:
    parsed = parse_entity({"temp": 1}, TM, require_id=False, require_type=False)
    assert "id" not in parsed and "type" not in parsed
    assert parsed["attrs"][V + "temp"][0]["value"] == 1


@pytest.mark.parametrize("scope", ["/a", "a/b", ["/a/b", "/c"], "/Nice/Boulevard_1"])
def test_scopes(scope: Any) -> None:
    expected = scope if isinstance(scope, list) else [scope]
    assert check_scopes(scope) == expected
    assert parse_entity(entity(scope=scope), TM)["scope"] == expected


@pytest.mark.parametrize("scope", ["", [], "/", "a//b", "/1a", 5, ["/a", None], "a b"])
def test_bad_scopes(scope: Any) -> None:
    bad(entity(scope=scope))


def test_null_scope_only_where_nulls_allowed() -> None:
    bad(entity(scope=None))
    assert parse_entity({"scope": None}, TM, require_id=False, require_type=False, nulls=True)["scope"] is None


# --- attributes ---------------------------------------------------------------------------------------
def test_every_attribute_type_parses() -> None:
    parsed = parse_entity(entity(
        p={"type": "Property", "value": 1, "unitCode": "CEL", "observedAt": "2024-01-01T00:00:00.123Z"},
        r={"type": "Relationship", "object": "urn:a:1", "objectType": "Room"},
        g={"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
        lp={"type": "LanguageProperty", "languageMap": {"en": "x", "fr": ["y", "z"]}},
        vp={"type": "VocabProperty", "vocab": ["office", "ex:shop"]},
        jp={"type": "JsonProperty", "json": {"any": [None, 1]}},
        lsp={"type": "ListProperty", "valueList": [1, "a", {"b": 2}]},
        lr={"type": "ListRelationship", "objectList": ["urn:a:1", {"object": "urn:a:2"}]},
    ), TM)
    a = parsed["attrs"]
    assert a[V + "p"] == [{"type": "Property", "value": 1, "unitCode": "CEL", "observedAt": "2024-01-01T00:00:00.123Z"}]
    assert a[V + "r"][0]["objectType"] == [V + "Room"]
    assert a[V + "g"][0]["type"] == "GeoProperty"
    assert a[V + "lp"][0]["languageMap"] == {"en": "x", "fr": ["y", "z"]}
    assert a[V + "vp"][0]["vocab"] == [V + "office", "ex:shop"]
    assert a[V + "jp"][0]["json"] == {"any": [None, 1]}
    assert a[V + "lr"][0]["objectList"] == [{"object": "urn:a:1"}, {"object": "urn:a:2"}]


@pytest.mark.parametrize(
    ("raw", "atype"),
    [
        ({"value": 1}, "Property"),
        ({"object": "urn:a:1"}, "Relationship"),
        ({"value": {"type": "Point", "coordinates": [1, 2]}}, "GeoProperty"),
        ({"languageMap": {"en": "a"}}, "LanguageProperty"),
        ({"vocab": "a"}, "VocabProperty"),
        ({"json": {}}, "JsonProperty"),
        ({"valueList": []}, "ListProperty"),
        ({"objectList": []}, "ListRelationship"),
        ({"unitCode": "x"}, None),
    ],
)
def test_infer_type(raw: dict[str, Any], atype: str | None) -> None:
    assert infer_type(raw) == atype


def test_concise_values() -> None:
    a = parse_entity(entity(n=5, s="x", lst=[1, 2], geo={"type": "Point", "coordinates": [1, 2]}), TM)["attrs"]
    assert a[V + "n"] == [{"type": "Property", "value": 5}]
    assert a[V + "s"] == [{"type": "Property", "value": "x"}]
    assert a[V + "lst"] == [{"type": "Property", "value": [1, 2]}]
    assert a[V + "geo"] == [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}]


def test_sub_attributes_are_expanded() -> None:
    a = parse_entity(entity(t={"value": 1, "accuracy": {"value": 0.1, "source": {"object": "urn:d:1"}}}), TM)["attrs"]
    inst = a[V + "t"][0]
    assert inst[V + "accuracy"]["value"] == 0.1
    assert inst[V + "accuracy"][V + "source"] == {"type": "Relationship", "object": "urn:d:1"}


def test_system_members_in_input_are_ignored() -> None:
    a = parse_entity(entity(t={"value": 1, "createdAt": "x", "modifiedAt": "y"}), TM)["attrs"]
    assert a[V + "t"] == [{"type": "Property", "value": 1}]


@pytest.mark.parametrize(
    "attr",
    [
        {"type": "Property"},  # Property without value
        {"type": "Property", "value": None},
        {"type": "Relationship"},  # Relationship without object
        {"type": "Relationship", "object": "not a uri"},
        {"type": "Relationship", "object": []},
        {"type": "Relationship", "object": ["urn:a:1", 5]},
        {"type": "Relationship", "value": "urn:a:1"},
        {"type": "Property", "object": "urn:a:1", "value": 1},
        {"type": "GeoProperty", "value": 5},
        {"type": "GeoProperty", "value": "not json"},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1]}},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, "2"]}},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [True, 2]}},
        {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [[1, 2]]}},
        {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}},
        {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}},
        {"type": "GeoProperty", "value": {"type": "Circle", "coordinates": [1, 2]}},
        {"type": "GeoProperty", "value": {"type": "GeometryCollection", "geometries": []}},
        {"type": "Property", "value": {"type": "GeometryCollection", "geometries": []}},
        {"type": "LanguageProperty", "languageMap": {}},
        {"type": "LanguageProperty", "languageMap": {"en": 5}},
        {"type": "LanguageProperty", "languageMap": "text"},
        {"type": "LanguageProperty", "languageMap": {"en": "a"}, "valueType": "xsd:string"},
        {"type": "VocabProperty", "vocab": 5},
        {"type": "VocabProperty", "vocab": []},
        {"type": "VocabProperty", "vocab": "two words"},
        {"type": "JsonProperty", "json": 5},
        {"type": "JsonProperty", "json": [1, 2]},
        {"type": "ListProperty", "valueList": "x"},
        {"type": "ListRelationship", "objectList": "urn:a:1"},
        {"type": "ListRelationship", "objectList": ["nope"]},
        {"type": "Property", "value": 1, "unitCode": 5},
        {"type": "Property", "value": 1, "observedAt": "2024-01-01"},
        {"type": "Property", "value": 1, "observedAt": "2024-13-01T00:00:00Z"},
        {"type": "Property", "value": 1, "observedAt": 5},
        {"type": "Property", "value": 1, "datasetId": "not a uri"},
        {"type": "Property", "value": 1, "previousValue": 0},
        {"type": "Property", "value": 1, "lang": "en"},
        {"type": "Property", "value": 1, "@context": {}},
        {"type": "Property", "value": 1, "entityIdSealed": "x"},
        {"k": "v"},  # an object with neither a type nor a value member is no concise value
        {"type": "Bogus", "value": 1},
        {"type": 5, "value": 1},
        {"value": 1, "bad name": 1},
        {},
        None,
        NGSI_LD_NULL,
        {"value": 1, "sub": {"type": "Property"}},
    ],
)
def test_invalid_attributes(attr: Any) -> None:
    bad(entity(attr=attr))


@pytest.mark.parametrize(
    "value",
    [
        {"a": None},
        {"a": NGSI_LD_NULL},
        {"a": {"b": NGSI_LD_NULL}},
        [{"a": None}],
        [1, NGSI_LD_NULL],
        [1, None],
        [[NGSI_LD_NULL]],
        {"a": [None]},
    ],
    ids=["dict-null", "dict-ngsi-null", "nested-dict", "dict-in-list", "list-ngsi-null", "list-null",
         "nested-list", "list-in-dict"],
)
def test_ngsi_ld_null_inside_a_value_is_rejected_wherever_it_sits(value: Any) -> None:
    """Outside merge-patch, NGSI-LD null inside a Property value is refused (model._contains_null).

    A null inside an object is refused; the same null as an array element must be too.
    """
    bad(entity(attr={"type": "Property", "value": value}))
    bad(entity(attr=value if isinstance(value, list) else {"value": value}))  # concise form
    # merge-patch lets nulls through (they delete keys)
    parse_instance({"type": "Property", "value": value}, TM, merge=True, nulls=True)


@pytest.mark.parametrize("name", ["value", "object", "datasetId", "observedAt", "unitCode", "lang", "json"])
def test_core_member_names_cannot_name_attributes(name: str) -> None:
    bad(entity(**{name: {"type": "Property", "value": 1}}))


@pytest.mark.parametrize("name", ["location", "observationSpace", "operationSpace"])
def test_core_geo_attributes_must_be_geo_properties(name: str) -> None:
    bad(entity(**{name: {"type": "Property", "value": 1}}))
    bad(entity(**{name: "somewhere"}))
    parsed = parse_entity(entity(**{name: {"type": "Point", "coordinates": [1, 2]}}), TM)
    assert parsed["attrs"][NGSI_LD + name][0]["type"] == "GeoProperty"


def test_dataset_ids() -> None:
    iri, insts = parse_attribute("t", [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:ds:1"},
        {"type": "Property", "value": 3, "datasetId": "@none"},
    ][:2], TM)
    assert iri == V + "t"
    assert [i.get("datasetId") for i in insts] == [None, "urn:ds:1"]
    # "@none" is the default instance
    _, insts = parse_attribute("t", {"type": "Property", "value": 3, "datasetId": "@none"}, TM)
    assert "datasetId" not in insts[0]


@pytest.mark.parametrize(
    "instances",
    [
        [{"type": "Property", "value": 1, "datasetId": "urn:ds:1"},
         {"type": "Property", "value": 2, "datasetId": "urn:ds:1"}],
        [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}],
        [{"type": "Property", "value": 1}, {"type": "Property", "value": 2, "datasetId": "@none"}],
    ],
)
def test_duplicate_dataset_ids(instances: list[dict[str, Any]]) -> None:
    detail = bad(entity(t=instances))
    assert "datasetId" in detail


def test_array_of_plain_values_is_one_property() -> None:
    _, insts = parse_attribute("t", [{"a": 1}, {"b": 2}], TM)
    assert insts == [{"type": "Property", "value": [{"a": 1}, {"b": 2}]}]


def test_nulls_allowed_when_asked() -> None:
    for raw in (None, NGSI_LD_NULL, {"value": NGSI_LD_NULL}, {"type": "Property", "value": [NGSI_LD_NULL]}):
        inst = parse_instance(raw, TM, nulls=True)
        assert inst["value"] is None, raw
    rel = parse_instance({"type": "Relationship", "object": NGSI_LD_NULL}, TM, nulls=True)
    assert rel["object"] is None
    lm = parse_instance({"type": "LanguageProperty", "languageMap": {"@none": NGSI_LD_NULL}}, TM, nulls=True)
    assert lm["languageMap"] is None


def test_partial_instances() -> None:
    assert parse_instance({"observedAt": "2024-01-01T00:00:00Z"}, TM, partial=True) == {
        "observedAt": "2024-01-01T00:00:00Z"
    }
    assert parse_instance({"type": "Property"}, TM, partial=True) == {"type": "Property"}
    with pytest.raises(BadRequestData):
        parse_instance({"observedAt": "2024-01-01T00:00:00Z"}, TM)


def test_merge_allows_nulls_inside_values() -> None:
    inst = parse_instance({"value": {"a": None, "b": 1}}, TM, merge=True)
    assert inst["value"] == {"a": None, "b": 1}


def test_ngsildproof_is_special() -> None:
    _, insts = parse_attribute("ngsildproof", {"type": "Property", "value": {"proof": 1}, "entityIdSealed": "urn:a:1",
                                               "entityTypeSealed": "Thing"}, TM)
    assert insts[0]["entityTypeSealed"] == V + "Thing"
    with pytest.raises(BadRequestData):
        parse_attribute("ngsildproof", {"type": "Property", "value": 5}, TM)


# --- helpers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["2024-01-01T00:00:00Z", "2024-02-29T23:59:59.999999Z"])
def test_check_datetime_accepts(value: str) -> None:
    assert check_datetime(value, "t") == value


@pytest.mark.parametrize("value", ["2023-02-29T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T00:00:00+01:00",
                                   "2024-01-01", "", None, 0])
def test_check_datetime_rejects(value: Any) -> None:
    with pytest.raises(BadRequestData):
        check_datetime(value, "t")


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [1, 2, 3]},
        {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]},
        {"type": "LineString", "coordinates": [[1, 2], [3, 4]]},
        {"type": "MultiLineString", "coordinates": [[[1, 2], [3, 4]]]},
        {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
    ],
)
def test_geometries(geometry: dict[str, Any]) -> None:
    assert check_geometry(geometry) is geometry


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
                    max_leaves=12))
def test_parse_instance_only_raises_bad_request(raw: Any) -> None:
    """Any JSON value is either a valid attribute or a BadRequestData, never another exception."""
    with contextlib.suppress(BadRequestData):
        parse_instance(raw, TM)
    with contextlib.suppress(BadRequestData):
        parse_entity({"id": "urn:a:1", "type": "T", "attr": raw}, TM)


def test_new_entity_and_stamp() -> None:
    parsed = parse_entity(entity(scope="/a", t={"value": 1, "sub": {"value": 2}}), TM)
    e = new_entity(parsed, "2024-01-01T00:00:00.000Z")
    assert e["createdAt"] == e["modifiedAt"] == "2024-01-01T00:00:00.000Z"
    inst = e["attrs"][V + "t"][0]
    assert inst["createdAt"] == "2024-01-01T00:00:00.000Z"
    assert inst[V + "sub"]["createdAt"] == "2024-01-01T00:00:00.000Z"
    assert e["scope"] == ["/a"]
    stamp([inst], "2025-01-01T00:00:00.000Z", created="2024-01-01T00:00:00.000Z")
    assert inst["createdAt"] == "2024-01-01T00:00:00.000Z"
    assert inst["modifiedAt"] == "2025-01-01T00:00:00.000Z"
