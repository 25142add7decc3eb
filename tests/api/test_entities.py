"""The /entities endpoints (clauses 6.4-6.7): every operation, its representations and its errors."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from support import (
    BROKEN_CTX_URL,
    CORE_URL,
    DEFAULT_VOCAB,
    EX,
    OTHER_CTX_URL,
    USER_CTX_URL,
    Api,
    assert_problem,
    link,
    room,
)

RID = "urn:ngsi-ld:Room:1"
JSON = {"Content-Type": "application/json"}
LD = {"Content-Type": "application/ld+json"}


def rich_room(entity_id: str = RID) -> dict[str, Any]:
    return {
        "id": entity_id,
        "type": "Room",
        "scope": "/Nice/Boulevard",
        "temperature": {
            "type": "Property",
            "value": 21.5,
            "unitCode": "CEL",
            "observedAt": "2024-01-01T10:00:00Z",
            "accuracy": {"type": "Property", "value": 0.5},
        },
        "isPartOf": {"type": "Relationship", "object": "urn:ngsi-ld:Building:B"},
        "name": {"type": "LanguageProperty", "languageMap": {"en": "Hall", "fr": "Salle"}},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [7.26, 43.69]}},
        "address": {"type": "Property", "value": {"street": "Promenade", "city": "Nice"}},
        "category": {"type": "VocabProperty", "vocab": "office"},
        "config": {"type": "JsonProperty", "json": {"a": [1, None, {"b": True}]}},
        "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
        "neighbours": {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Room:2"}]},
    }


def snapshot(api: Api, entity_id: str = RID, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return api.entity(entity_id, headers=headers, options="sysAttrs")


# --- create ---------------------------------------------------------------------------
def test_create_returns_201_with_location_and_stores_entity(api: Api) -> None:
    resp = api.post("/entities", json=rich_room())
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == f"/ngsi-ld/v1/entities/{RID}"
    assert resp.content == b""
    got = api.entity(RID)
    expected = rich_room()
    assert got["id"] == RID
    assert got["type"] == "Room"
    assert got["scope"] == "/Nice/Boulevard"
    for name in ("temperature", "isPartOf", "name", "location", "address", "config", "readings"):
        assert got[name] == expected[name], name
    assert got["category"] == {"type": "VocabProperty", "vocab": "office"}
    assert got["neighbours"] == {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Room:2"}]}


def test_create_concise_payload_is_normalized_on_retrieve(api: Api) -> None:
    api.create({
        "id": RID, "type": "Room",
        "temperature": 20,
        "label": "hall",
        "owner": {"object": "urn:ngsi-ld:Person:1"},
        "location": {"type": "Point", "coordinates": [1.0, 2.0]},
        "nested": {"value": 1, "sub": 2},
    })
    got = api.entity(RID)
    assert got["temperature"] == {"type": "Property", "value": 20}
    assert got["label"] == {"type": "Property", "value": "hall"}
    assert got["owner"] == {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"}
    assert got["location"] == {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}}
    assert got["nested"] == {"type": "Property", "value": 1, "sub": {"type": "Property", "value": 2}}


def test_create_with_multiple_types_and_datasets(api: Api) -> None:
    api.create({
        "id": RID, "type": ["Room", "Office"],
        "temperature": [
            {"type": "Property", "value": 20},
            {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:sensor2"},
        ],
    })
    got = api.entity(RID)
    assert got["type"] == ["Room", "Office"]
    assert got["temperature"] == [
        {"type": "Property", "value": 20},
        {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:sensor2"},
    ]


def test_create_twice_is_409_and_keeps_first(api: Api) -> None:
    api.create(room(temperature={"type": "Property", "value": 1}))
    before = snapshot(api)
    resp = api.post("/entities", json=room(temperature={"type": "Property", "value": 2}))
    assert_problem(resp, 409, "AlreadyExists")
    assert snapshot(api) == before


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Room"},  # no id
        {"id": "not a uri", "type": "Room"},
        {"id": "urn:ngsi-ld:Room:1"},  # no type
        {"id": "urn:ngsi-ld:Room:1", "type": "bad type"},
        {"id": "urn:ngsi-ld:Room:1", "type": []},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": {"type": "Property"}},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": None},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "owner": {"type": "Relationship", "object": "nope"}},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "location": {"type": "GeoProperty", "value": {"type": "Point"}}},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "location": {"type": "Property", "value": 3}},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "bad name": {"type": "Property", "value": 1}},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "t": {"type": "Weird", "value": 1}},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "t": {"type": "Property", "value": 1, "observedAt": "yesterday"}},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "scope": "no scope"},
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "t": [
            {"type": "Property", "value": 1, "datasetId": "urn:ds:1"},
            {"type": "Property", "value": 2, "datasetId": "urn:ds:1"},
        ]},
    ],
)
def test_create_invalid_entity_is_400_and_creates_nothing(api: Api, body: dict[str, Any]) -> None:
    resp = api.post("/entities", json=body)
    assert_problem(resp, 400, "BadRequestData")
    assert_problem(api.get(f"/entities/{RID}"), 404, "ResourceNotFound")


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_create_non_object_body_is_400(api: Api, payload: bytes) -> None:
    resp = api.post("/entities", content=payload, headers=JSON)
    assert resp.status_code == 400
    kind = resp.json()["type"].rsplit("/", 1)[1]
    assert kind in ("InvalidRequest", "BadRequestData")
    assert_problem(resp, 400, kind)


def test_create_invalid_json_is_invalid_request(api: Api) -> None:
    resp = api.post("/entities", content=b'{"id": "urn:a:b", "type": ', headers=JSON)
    assert_problem(resp, 400, "InvalidRequest")


def test_create_unknown_query_parameter_is_invalid_request(api: Api) -> None:
    resp = api.post("/entities", json=room(), params={"bogus": "1"})
    assert_problem(resp, 400, "InvalidRequest")
    assert api.status_of(RID) == 404


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "application/merge-patch+json"])
def test_create_unsupported_content_type_is_415(api: Api, ctype: str) -> None:
    resp = api.post("/entities", content=json.dumps(room()).encode(), headers={"Content-Type": ctype})
    assert_problem(resp, 415, "UnsupportedMediaType")
    assert api.status_of(RID) == 404


def test_create_without_content_type_is_415(api: Api) -> None:
    status, _, body = api.raw("POST", "/entities", [(b"content-length", b"2")], b"{}")
    assert status == 415
    assert json.loads(body)["type"] == "https://uri.etsi.org/ngsi-ld/errors/UnsupportedMediaType"


def test_create_without_content_length_is_411(api: Api) -> None:
    payload = json.dumps(room()).encode()
    status, _, _ = api.raw("POST", "/entities", [(b"content-type", b"application/json")], payload)
    assert status == 411
    assert api.status_of(RID) == 404
    # the same bytes with a Content-Length are accepted
    status, _, _ = api.raw(
        "POST", "/entities",
        [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())], payload,
    )
    assert status == 201


def test_create_with_ld_json_needs_context_in_body(api: Api) -> None:
    resp = api.post("/entities", json=room(), headers=LD)
    assert_problem(resp, 400, "BadRequestData")
    body = {**room(), "@context": CORE_URL}
    resp = api.post("/entities", json=body, headers={**LD, "Link": link(USER_CTX_URL)})
    assert_problem(resp, 400, "BadRequestData")  # not both
    assert api.post("/entities", json=body, headers=LD).status_code == 201


def test_create_with_json_rejects_context_in_body(api: Api) -> None:
    resp = api.post("/entities", json={**room(), "@context": CORE_URL}, headers=JSON)
    assert_problem(resp, 400, "BadRequestData")
    assert api.status_of(RID) == 404


def test_create_with_trailing_slash(api: Api) -> None:
    assert api.post("/entities/", json=room()).status_code == 201
    assert api.get(f"/entities/{RID}/").status_code == 200


def test_unavailable_user_context_is_ld_context_not_available(api: Api) -> None:
    resp = api.post("/entities", json=room(), headers={"Link": link(BROKEN_CTX_URL)})
    # 503 up to GS CIM 009 v1.8.1, 504 from v1.8.1 on: either way a gateway-side failure, never 4xx/500
    assert resp.status_code in (503, 504), resp.text
    assert_problem(resp, resp.status_code, "LdContextNotAvailable")
    assert BROKEN_CTX_URL in api.fetcher.calls
    assert api.status_of(RID) == 404
    inline = {**room(), "@context": [BROKEN_CTX_URL, CORE_URL]}
    resp = api.post("/entities", json=inline, headers=LD)
    assert resp.status_code in (503, 504)
    assert_problem(resp, resp.status_code, "LdContextNotAvailable")


# --- retrieve ---------------------------------------------------------------------------
def test_retrieve_unknown_entity_is_404(api: Api) -> None:
    body = assert_problem(api.get("/entities/urn:ngsi-ld:Room:none"), 404, "ResourceNotFound")
    assert "urn:ngsi-ld:Room:none" in body["detail"]


def test_retrieve_invalid_id_is_400(api: Api) -> None:
    assert_problem(api.get("/entities/notanuri"), 400, "BadRequestData")


def test_retrieve_json_carries_link_header_to_core_context(api: Api) -> None:
    api.create(room())
    resp = api.get(f"/entities/{RID}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["link"] == link(CORE_URL)
    assert "@context" not in resp.json()


def test_retrieve_ld_json_carries_context_in_body(api: Api) -> None:
    api.create(room())
    resp = api.get(f"/entities/{RID}", headers={"Accept": "application/ld+json"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/ld+json"
    assert "link" not in resp.headers
    assert resp.json()["@context"] == CORE_URL
    resp = api.get(f"/entities/{RID}", headers={"Accept": "application/ld+json", "Link": link(USER_CTX_URL)})
    assert resp.json()["@context"] == USER_CTX_URL


def test_retrieve_accept_weights(api: Api) -> None:
    api.create(room())
    resp = api.get(f"/entities/{RID}", headers={"Accept": "application/json;q=0.5, application/ld+json"})
    assert resp.headers["content-type"] == "application/ld+json"
    resp = api.get(f"/entities/{RID}", headers={"Accept": "*/*"})
    assert resp.headers["content-type"] == "application/json"


def test_retrieve_geojson(api: Api) -> None:
    api.create(rich_room())
    resp = api.get(f"/entities/{RID}", headers={"Accept": "application/geo+json"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/geo+json"
    feature = resp.json()
    assert feature["type"] == "Feature"
    assert feature["id"] == RID
    assert feature["geometry"] == {"type": "Point", "coordinates": [7.26, 43.69]}
    assert feature["properties"]["type"] == "Room"
    assert feature["@context"] == CORE_URL


def test_retrieve_not_acceptable_is_406(api: Api) -> None:
    api.create(room())
    assert_problem(api.get(f"/entities/{RID}", headers={"Accept": "text/html"}), 406, "NotAcceptable")
    assert_problem(api.get(f"/entities/{RID}", headers={"Accept": "application/xml, text/*"}), 406, "NotAcceptable")


def test_retrieve_key_values(api: Api) -> None:
    api.create(rich_room())
    for params in ({"options": "keyValues"}, {"format": "keyValues"}, {"options": "simplified"}):
        got = api.entity(RID, **params)
        assert got["temperature"] == 21.5, params
        assert got["isPartOf"] == "urn:ngsi-ld:Building:B"
        assert got["address"] == {"street": "Promenade", "city": "Nice"}
        assert got["name"] == {"languageMap": {"en": "Hall", "fr": "Salle"}}
        assert got["location"] == {"type": "Point", "coordinates": [7.26, 43.69]}
        assert got["readings"] == [1, 2, 3]  # 4.5.4: a ListProperty simplifies to its list
    kv = api.entity(RID, options="keyValues", lang="fr")
    assert kv["name"] == "Salle"


def test_retrieve_concise(api: Api) -> None:
    api.create(rich_room())
    got = api.entity(RID, options="concise")
    assert got["isPartOf"] == {"object": "urn:ngsi-ld:Building:B"}
    assert got["temperature"] == {
        "value": 21.5, "unitCode": "CEL", "observedAt": "2024-01-01T10:00:00Z", "accuracy": 0.5,
    }
    assert got["name"] == {"languageMap": {"en": "Hall", "fr": "Salle"}}
    assert got["address"] == {"value": {"street": "Promenade", "city": "Nice"}}
    assert api.entity(RID, format="concise") == got


def test_retrieve_sys_attrs(api: Api) -> None:
    api.create(room())
    plain = api.entity(RID)
    assert "createdAt" not in plain and "createdAt" not in plain["temperature"]
    got = api.entity(RID, options="sysAttrs")
    for node in (got, got["temperature"], got["isPartOf"]):
        assert node["createdAt"].endswith("Z")
        assert node["modifiedAt"] >= node["createdAt"]


def test_retrieve_attrs_pick_omit(api: Api) -> None:
    api.create(rich_room())
    got = api.entity(RID, attrs="temperature,name")
    assert set(got) == {"id", "type", "scope", "temperature", "name"}
    got = api.entity(RID, pick="id,temperature")
    assert set(got) == {"id", "temperature"}
    got = api.entity(RID, omit="type,temperature,scope")
    assert "temperature" not in got and "type" not in got
    assert "isPartOf" in got and got["id"] == RID
    assert_problem(api.get(f"/entities/{RID}", params={"pick": "id", "omit": "type"}), 400, "BadRequestData")


def test_retrieve_lang(api: Api) -> None:
    api.create(rich_room())
    got = api.entity(RID, lang="fr")
    assert got["name"] == {"type": "Property", "value": "Salle", "lang": "fr"}
    got = api.entity(RID, lang="de")
    assert got["name"]["value"] in ("Hall", "Salle")


def test_retrieve_with_type_gate(api: Api) -> None:
    api.create(room())
    assert api.get(f"/entities/{RID}", params={"type": "Room"}).status_code == 200
    assert_problem(api.get(f"/entities/{RID}", params={"type": "Building"}), 404, "ResourceNotFound")


def test_retrieve_bad_parameters(api: Api) -> None:
    api.create(room())
    assert_problem(api.get(f"/entities/{RID}", params={"foo": "bar"}), 400, "InvalidRequest")
    # an unknown option or format is a malformed request (ETSI 018_16)
    assert_problem(api.get(f"/entities/{RID}", params={"options": "nonsense"}), 400, "InvalidRequest")
    assert_problem(api.get(f"/entities/{RID}", params={"format": "nonsense"}), 400, "InvalidRequest")
    # pick replaces attrs; a pick or omit that leaves nothing finds nothing
    assert_problem(api.get(f"/entities/{RID}", params={"pick": "temperature", "attrs": "temperature"}), 400,
                   "BadRequestData")
    assert_problem(api.get(f"/entities/{RID}", params={"pick": "unknown"}), 404, "ResourceNotFound")
    assert_problem(api.get(f"/entities/{RID}", params={"omit": "id,type,temperature,isPartOf"}), 404,
                   "ResourceNotFound")
    assert api.get(f"/entities/{RID}", params={"pick": "id"}).json() == {"id": RID}


def test_user_context_expands_and_compacts(api: Api) -> None:
    ctx = {"Link": link(USER_CTX_URL)}
    api.create({"id": RID, "type": "Room", "temperature": 20, "isIn": {"object": "urn:ngsi-ld:Building:B"}},
               headers=ctx)
    # with the user context the short names come back
    got = api.entity(RID, headers=ctx)
    assert got["type"] == "Room"
    assert got["temperature"] == {"type": "Property", "value": 20}
    assert api.get(f"/entities/{RID}", headers=ctx).headers["link"] == link(USER_CTX_URL)
    # with only the core context the IRIs are not compactable to those terms
    core = api.entity(RID)
    assert core["type"] == EX + "Room"
    assert EX + "temperature" in core and "temperature" not in core
    # the user context was fetched once, then served from the cache
    api.entity(RID, headers=ctx)
    assert api.fetcher.calls.count(USER_CTX_URL) == 1


def test_same_short_name_in_two_contexts_are_different_attributes(api: Api) -> None:
    api.create({"id": RID, "type": "Room", "temperature": 1}, headers={"Link": link(USER_CTX_URL)})
    resp = api.post(f"/entities/{RID}/attrs", json={"temperature": 2},
                    headers={"Link": link(OTHER_CTX_URL)})
    assert resp.status_code == 204
    core = api.entity(RID)
    assert core[EX + "temperature"]["value"] == 1
    assert core["http://other.example/temperature"]["value"] == 2
    assert "temperature" not in core
    assert DEFAULT_VOCAB + "temperature" not in core


@pytest.mark.parametrize(
    "eid",
    ["urn:ngsi-ld:Room:a%b", "urn:ngsi-ld:Room:\u00e9t\u00e9", "urn:ngsi-ld:Room:a?b", "urn:ngsi-ld:Room:a#b",
     "urn:ngsi-ld:Room:a/b", "http://example.org/rooms/1"],
)
def test_location_of_any_uri_id_leads_back_to_the_entity(api: Api, eid: str) -> None:
    """Entity ids are URIs, '/' included (http://...): the Location answered must address the entity."""
    resp = api.post("/entities", json=room(eid))
    assert resp.status_code == 201, resp.text
    location = resp.headers["location"]
    got = api.get(location)
    assert got.status_code == 200, (location, got.text)
    assert got.json()["id"] == eid
    assert api.patch(location + "/attrs", json={"temperature": 5}).status_code == 204
    assert api.get(location).json()["temperature"]["value"] == 5
    assert api.delete(location).status_code == 204
    assert api.get(location).status_code == 404


# --- append -----------------------------------------------------------------------------
def test_append_adds_and_overwrites(api: Api) -> None:
    api.create(room())
    before = snapshot(api)
    time.sleep(0.002)
    resp = api.post(f"/entities/{RID}/attrs", json={
        "humidity": {"type": "Property", "value": 40},
        "temperature": {"type": "Property", "value": 25},
    })
    assert resp.status_code == 204, resp.text
    after = snapshot(api)
    assert after["humidity"]["value"] == 40
    assert after["temperature"]["value"] == 25
    assert "unitCode" not in after["temperature"]  # overwritten, not merged
    assert after["temperature"]["createdAt"] == before["temperature"]["createdAt"]
    assert after["modifiedAt"] > before["modifiedAt"]
    assert after["createdAt"] == before["createdAt"]


def test_append_no_overwrite_is_207_and_keeps_existing(api: Api) -> None:
    api.create(room())
    resp = api.post(f"/entities/{RID}/attrs", params={"options": "noOverwrite"}, json={
        "humidity": {"type": "Property", "value": 40},
        "temperature": {"type": "Property", "value": 99},
    })
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["updated"] == ["humidity"]
    assert [n["attributeName"] for n in body["notUpdated"]] == ["temperature"]
    assert all(isinstance(n["reason"], str) and n["reason"] for n in body["notUpdated"])
    got = api.entity(RID)
    assert got["temperature"]["value"] == 21.5
    assert got["humidity"]["value"] == 40


def test_append_types_and_scope(api: Api) -> None:
    api.create(room())
    assert api.post(f"/entities/{RID}/attrs", json={"type": "Office", "scope": "/a/b"}).status_code == 204
    got = api.entity(RID)
    assert got["type"] == ["Room", "Office"]
    assert got["scope"] == "/a/b"


def test_append_errors(api: Api) -> None:
    api.create(room())
    before = snapshot(api)
    assert_problem(api.post("/entities/urn:ngsi-ld:Room:none/attrs", json={"h": 1}), 404, "ResourceNotFound")
    assert_problem(api.post(f"/entities/{RID}/attrs", json={}), 400, "BadRequestData")
    assert_problem(api.post(f"/entities/{RID}/attrs", json={"h": {"type": "Property"}}), 400, "BadRequestData")
    assert_problem(api.post(f"/entities/{RID}/attrs", json={"id": "urn:other:1", "h": 1}), 400, "BadRequestData")
    assert_problem(api.post(f"/entities/{RID}/attrs", json=[1]), 400, "BadRequestData")
    assert_problem(api.post(f"/entities/{RID}/attrs", params={"options": "bogus"}, json={"h": 1}),
                   400, "BadRequestData")
    assert_problem(api.post(f"/entities/{RID}/attrs", params={"type": "Building"}, json={"h": 1}),
                   404, "ResourceNotFound")
    # a valid attribute next to an invalid one: nothing is written
    assert_problem(api.post(f"/entities/{RID}/attrs", json={"h": 1, "bad": {"type": "Relationship"}}),
                   400, "BadRequestData")
    assert snapshot(api) == before


# --- update attributes --------------------------------------------------------------------
def test_update_attrs_replaces_existing(api: Api) -> None:
    api.create(room())
    resp = api.patch(f"/entities/{RID}/attrs", json={"temperature": {"type": "Property", "value": 30}})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)
    assert got["temperature"] == {"type": "Property", "value": 30}
    assert got["isPartOf"]["object"] == "urn:ngsi-ld:Building:B"


def test_update_attrs_missing_attribute_is_207(api: Api) -> None:
    api.create(room())
    resp = api.patch(f"/entities/{RID}/attrs", json={
        "temperature": {"type": "Property", "value": 30},
        "humidity": {"type": "Property", "value": 40},
    })
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["updated"] == ["temperature"]
    assert body["notUpdated"][0]["attributeName"] == "humidity"
    got = api.entity(RID)
    assert "humidity" not in got
    assert got["temperature"]["value"] == 30


@pytest.mark.parametrize("null", ["urn:ngsi-ld:null", None, {"type": "Property", "value": "urn:ngsi-ld:null"}])
def test_update_attrs_ngsi_ld_null_deletes(api: Api, null: Any) -> None:
    api.create(room())
    resp = api.patch(f"/entities/{RID}/attrs", json={"temperature": null})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)
    assert "temperature" not in got
    assert "isPartOf" in got


def test_update_attrs_relationship_null_deletes(api: Api) -> None:
    api.create(room())
    null_rel = {"isPartOf": {"type": "Relationship", "object": "urn:ngsi-ld:null"}}
    resp = api.patch(f"/entities/{RID}/attrs", json=null_rel)
    assert resp.status_code == 204, resp.text
    assert "isPartOf" not in api.entity(RID)


def test_update_attrs_errors_change_nothing(api: Api) -> None:
    api.create(room())
    before = snapshot(api)
    assert_problem(api.patch("/entities/urn:ngsi-ld:Room:x/attrs", json={"temperature": 1}), 404, "ResourceNotFound")
    assert_problem(api.patch(f"/entities/{RID}/attrs", json={}), 400, "BadRequestData")
    assert_problem(api.patch(f"/entities/{RID}/attrs", json={"temperature": {"type": "Property", "value": None}}),
                   400, "BadRequestData")
    assert_problem(api.patch(f"/entities/{RID}/attrs", json={"temperature": 5, "isPartOf": {"object": "bad"}}),
                   400, "BadRequestData")
    assert_problem(api.patch(f"/entities/{RID}/attrs", content=b"{nope", headers=JSON), 400, "InvalidRequest")
    assert_problem(api.patch(f"/entities/{RID}/attrs", content=b"{}", headers={"Content-Type": "text/csv"}),
                   415, "UnsupportedMediaType")
    assert snapshot(api) == before


def test_update_attrs_dataset_instances(api: Api) -> None:
    api.create({"id": RID, "type": "Room", "temperature": [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:ds:b"},
    ]})
    resp = api.patch(f"/entities/{RID}/attrs", json={"temperature": {"value": 20, "datasetId": "urn:ds:b"}})
    assert resp.status_code == 204
    values = {i.get("datasetId"): i["value"] for i in api.entity(RID)["temperature"]}
    assert values == {None: 1, "urn:ds:b": 20}
    null_b = {"temperature": {"value": "urn:ngsi-ld:null", "datasetId": "urn:ds:b"}}
    resp = api.patch(f"/entities/{RID}/attrs", json=null_b)
    assert resp.status_code == 204
    assert api.entity(RID)["temperature"] == {"type": "Property", "value": 1}


# --- partial attribute update --------------------------------------------------------------
def test_partial_update_merges_into_attribute(api: Api) -> None:
    api.create(room())
    resp = api.patch(f"/entities/{RID}/attrs/temperature", json={"value": 25})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)["temperature"]
    assert got == {"type": "Property", "value": 25, "unitCode": "CEL"}
    resp = api.patch(f"/entities/{RID}/attrs/temperature", json={"observedAt": "2024-05-01T00:00:00Z"})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)["temperature"]
    assert got == {"type": "Property", "value": 25, "unitCode": "CEL", "observedAt": "2024-05-01T00:00:00Z"}


def test_partial_update_with_merge_patch_content_type(api: Api) -> None:
    api.create(room(address={"type": "Property", "value": {"street": "A", "city": "Nice"}}))
    resp = api.patch(f"/entities/{RID}/attrs/address", content=json.dumps({"value": {"street": "B"}}).encode(),
                     headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 204, resp.text
    assert api.entity(RID)["address"]["value"] == {"street": "B", "city": "Nice"}


def test_partial_update_errors(api: Api) -> None:
    api.create(room())
    before = snapshot(api)
    assert_problem(api.patch(f"/entities/{RID}/attrs/humidity", json={"value": 1}), 404, "ResourceNotFound")
    assert_problem(api.patch("/entities/urn:ngsi-ld:Room:x/attrs/temperature", json={"value": 1}),
                   404, "ResourceNotFound")
    # a Relationship cannot become a Property through a partial update
    assert_problem(api.patch(f"/entities/{RID}/attrs/isPartOf", json={"value": 1}), 400, "BadRequestData")
    assert_problem(api.patch(f"/entities/{RID}/attrs/temperature", json={"value": 1, "datasetId": "urn:ds:none"}),
                   404, "ResourceNotFound")
    assert snapshot(api) == before


@pytest.mark.parametrize(
    ("attr", "patch", "params"),
    [
        ("temperature", {"objectType": None}, {}),
        ("temperature", {"objectType": 5}, {}),
        ("temperature", {"unitCode": 5}, {}),
        ("name", {"languageMap": 5}, {"lang": "en"}),
        ("name", {"languageMap": {"en": 5}}, {"lang": "en"}),
        ("isPartOf", {"object": "not a uri"}, {}),
        ("location", {"value": {"type": "Point"}}, {}),
    ],
)
def test_partial_update_never_stores_an_invalid_attribute(
    api: Api, attr: str, patch: dict[str, Any], params: dict[str, str]
) -> None:
    """A partial update is validated like any attribute: refused, or the entity still renders afterwards."""
    api.create(rich_room())
    resp = api.patch(f"/entities/{RID}/attrs/{attr}", json=patch)
    assert resp.status_code in (204, 400), resp.text
    for options in ("normalized", "concise", "keyValues"):
        got = api.get(f"/entities/{RID}", params={"options": options, **params})
        assert got.status_code == 200, (options, got.text)
    if resp.status_code == 400:
        assert api.entity(RID)[attr] == rich_room()[attr]


def test_partial_update_null_deletes_instance(api: Api) -> None:
    api.create(room())
    resp = api.patch(f"/entities/{RID}/attrs/temperature", json={"value": "urn:ngsi-ld:null"})
    assert resp.status_code == 204
    assert "temperature" not in api.entity(RID)


# --- replace attribute -------------------------------------------------------------------
def test_replace_attribute(api: Api) -> None:
    api.create(room())
    resp = api.put(f"/entities/{RID}/attrs/temperature", json={"type": "Property", "value": 7})
    assert resp.status_code == 204, resp.text
    assert api.entity(RID)["temperature"] == {"type": "Property", "value": 7}  # unitCode gone
    resp = api.put(f"/entities/{RID}/attrs/isPartOf", json={"type": "Relationship", "object": "urn:ngsi-ld:B:2"})
    assert resp.status_code == 204
    assert api.entity(RID)["isPartOf"]["object"] == "urn:ngsi-ld:B:2"


def test_replace_attribute_errors(api: Api) -> None:
    api.create(room())
    before = snapshot(api)
    assert_problem(api.put(f"/entities/{RID}/attrs/humidity", json={"type": "Property", "value": 1}),
                   404, "ResourceNotFound")
    assert_problem(api.put(f"/entities/{RID}/attrs/temperature", json={"type": "Property"}), 400, "BadRequestData")
    assert_problem(api.put(f"/entities/{RID}/attrs/temperature", json=[]), 400, "BadRequestData")
    assert_problem(api.put("/entities/urn:ngsi-ld:Room:x/attrs/temperature", json={"value": 1}),
                   404, "ResourceNotFound")
    assert snapshot(api) == before


# --- delete attribute -------------------------------------------------------------------
def test_delete_attribute(api: Api) -> None:
    api.create(room())
    assert api.delete(f"/entities/{RID}/attrs/temperature").status_code == 204
    got = api.entity(RID)
    assert "temperature" not in got and "isPartOf" in got
    assert_problem(api.delete(f"/entities/{RID}/attrs/temperature"), 404, "ResourceNotFound")


def test_delete_attribute_dataset_id_and_delete_all(api: Api) -> None:
    api.create({"id": RID, "type": "Room", "t": [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:ds:b"},
        {"type": "Property", "value": 3, "datasetId": "urn:ds:c"},
    ]})
    assert api.delete(f"/entities/{RID}/attrs/t", params={"datasetId": "urn:ds:b"}).status_code == 204
    assert sorted(i["value"] for i in api.entity(RID)["t"]) == [1, 3]
    assert_problem(api.delete(f"/entities/{RID}/attrs/t", params={"datasetId": "urn:ds:b"}), 404, "ResourceNotFound")
    assert_problem(api.delete(f"/entities/{RID}/attrs/t", params={"datasetId": "not a uri"}), 400, "BadRequestData")
    assert api.delete(f"/entities/{RID}/attrs/t").status_code == 204  # the default instance
    assert api.entity(RID)["t"] == {"type": "Property", "value": 3, "datasetId": "urn:ds:c"}
    api.post(f"/entities/{RID}/attrs", json={"t": 9})
    assert api.delete(f"/entities/{RID}/attrs/t", params={"deleteAll": "true"}).status_code == 204
    assert "t" not in api.entity(RID)
    assert_problem(api.delete(f"/entities/{RID}/attrs/t", params={"deleteAll": "maybe"}), 400, "BadRequestData")


def test_delete_scope(api: Api) -> None:
    api.create(rich_room())
    assert api.delete(f"/entities/{RID}/attrs/scope").status_code == 204
    assert "scope" not in api.entity(RID)
    assert_problem(api.delete(f"/entities/{RID}/attrs/scope"), 404, "ResourceNotFound")


# --- replace entity -----------------------------------------------------------------------
def test_replace_entity(api: Api) -> None:
    api.create(rich_room())
    before = snapshot(api)
    time.sleep(0.002)
    resp = api.put(f"/entities/{RID}", json={"type": "Office", "size": 12})
    assert resp.status_code == 204, resp.text
    after = snapshot(api)
    assert after["type"] == "Office"
    assert set(after) == {"id", "type", "size", "createdAt", "modifiedAt"}
    assert after["size"]["value"] == 12
    assert after["createdAt"] == before["createdAt"]
    assert after["modifiedAt"] > before["modifiedAt"]


def test_replace_entity_errors(api: Api) -> None:
    api.create(room())
    before = snapshot(api)
    assert_problem(api.put(f"/entities/{RID}", json={"size": 1}), 400, "BadRequestData")  # type missing
    assert_problem(api.put(f"/entities/{RID}", json={"id": "urn:x:y", "type": "Room"}), 400, "BadRequestData")
    assert_problem(api.put(f"/entities/{RID}", json={"type": "Room", "x": {"type": "Property"}}),
                   400, "BadRequestData")
    assert_problem(api.put("/entities/urn:ngsi-ld:Room:x", json={"type": "Room"}), 404, "ResourceNotFound")
    assert_problem(api.put("/entities", json={"type": "Room"}), 400, "BadRequestData")
    assert snapshot(api) == before


# --- merge-patch --------------------------------------------------------------------------
def test_merge_patch(api: Api) -> None:
    api.create(rich_room())
    resp = api.patch(f"/entities/{RID}", json={
        "temperature": {"value": 30},
        "address": {"value": {"city": None, "zip": "06000"}},
        "isPartOf": "urn:ngsi-ld:null",
        "humidity": {"type": "Property", "value": 50},
        "type": "Office",
    })
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)
    assert got["temperature"]["value"] == 30
    assert got["temperature"]["unitCode"] == "CEL"  # merged, not replaced
    assert got["temperature"]["accuracy"]["value"] == 0.5
    assert got["address"]["value"] == {"street": "Promenade", "zip": "06000"}
    assert "isPartOf" not in got
    assert got["humidity"]["value"] == 50
    assert got["type"] == ["Room", "Office"]


def test_merge_patch_content_type_and_nulls(api: Api) -> None:
    api.create(rich_room())
    payload = {"temperature": None, "scope": None, "name": {"languageMap": {"de": "Saal"}}}
    resp = api.patch(f"/entities/{RID}", content=json.dumps(payload).encode(),
                     headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)
    assert "temperature" not in got
    assert "scope" not in got
    assert got["name"]["languageMap"] == {"de": "Saal"}


def test_merge_patch_sub_attribute_null_deletes(api: Api) -> None:
    api.create(rich_room())
    resp = api.patch(f"/entities/{RID}", json={"temperature": {"accuracy": None, "value": 1}})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)["temperature"]
    assert got == {"type": "Property", "value": 1, "unitCode": "CEL", "observedAt": "2024-01-01T10:00:00Z"}


def test_merge_patch_fragment_without_value_merges_into_existing_attribute(api: Api) -> None:
    # merge-patch (clause 5.6.17, RFC 7396): a fragment of an existing attribute need not repeat its value
    api.create(rich_room())
    resp = api.patch(f"/entities/{RID}", json={"temperature": {"observedAt": "2025-02-02T00:00:00Z"}})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)["temperature"]
    assert got["value"] == 21.5
    assert got["observedAt"] == "2025-02-02T00:00:00Z"


def test_merge_patch_null_removes_observed_at_and_unit_code(api: Api) -> None:
    # ngsild.mutate._merge_instance removes observedAt / unitCode on null; the payload must be let through
    api.create(rich_room())
    resp = api.patch(f"/entities/{RID}", json={"temperature": {"value": 1, "observedAt": None, "unitCode": None}})
    assert resp.status_code == 204, resp.text
    got = api.entity(RID)["temperature"]
    assert got == {"type": "Property", "value": 1, "accuracy": {"type": "Property", "value": 0.5}}


def test_merge_patch_errors(api: Api) -> None:
    api.create(room())
    before = snapshot(api)
    assert_problem(api.patch("/entities/urn:ngsi-ld:Room:x", json={"t": 1}), 404, "ResourceNotFound")
    assert_problem(api.patch(f"/entities/{RID}", json={"id": "urn:x:y"}), 400, "BadRequestData")
    assert_problem(api.patch(f"/entities/{RID}", json={"t": 1, "isPartOf": {"object": "bad"}}), 400, "BadRequestData")
    merge_patch = {"Content-Type": "application/merge-patch+json"}
    assert_problem(api.patch(f"/entities/{RID}", content=b"{]", headers=merge_patch), 400, "InvalidRequest")
    assert_problem(api.patch(f"/entities/{RID}", content=b"{}", headers={"Content-Type": "text/plain"}),
                   415, "UnsupportedMediaType")
    assert_problem(api.patch("/entities", json={"t": 1}), 400, "BadRequestData")
    assert snapshot(api) == before


# --- delete entity ------------------------------------------------------------------------
def test_delete_entity(api: Api) -> None:
    api.create(room())
    api.create(room("urn:ngsi-ld:Room:2"))
    resp = api.delete(f"/entities/{RID}")
    assert resp.status_code == 204
    assert resp.content == b""
    assert_problem(api.get(f"/entities/{RID}"), 404, "ResourceNotFound")
    assert_problem(api.delete(f"/entities/{RID}"), 404, "ResourceNotFound")
    assert api.status_of("urn:ngsi-ld:Room:2") == 200
    # the id is free again
    api.create(room())


def test_delete_entity_type_gate_and_bad_id(api: Api) -> None:
    api.create(room())
    assert_problem(api.delete(f"/entities/{RID}", params={"type": "Building"}), 404, "ResourceNotFound")
    assert api.status_of(RID) == 200
    assert_problem(api.delete("/entities/nope"), 400, "BadRequestData")
    assert_problem(api.delete(f"/entities/{RID}", params={"x": "1"}), 400, "InvalidRequest")
    assert api.delete(f"/entities/{RID}", params={"type": "Room"}).status_code == 204


# --- query (the basic form purge relies on) -------------------------------------------------
def test_query_entities_by_type_and_q(api: Api) -> None:
    for i in range(5):
        api.create(room(f"urn:ngsi-ld:Room:{i}", temperature={"type": "Property", "value": i * 10}))
    api.create({"id": "urn:ngsi-ld:Building:B", "type": "Building"})
    resp = api.get("/entities", params={"type": "Room", "q": "temperature>=20"})
    assert resp.status_code == 200
    assert [e["id"] for e in resp.json()] == [f"urn:ngsi-ld:Room:{i}" for i in (2, 3, 4)]
    resp = api.get("/entities", params={"type": "Room", "limit": "2", "offset": "1", "count": "true"})
    assert resp.headers["ngsild-results-count"] == "5"
    assert [e["id"] for e in resp.json()] == ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]
    assert_problem(api.get("/entities"), 400, "BadRequestData")
    assert_problem(api.get("/entities", params={"type": "Room", "q": "temperature>>"}), 400, "BadRequestData")


# --- purge ----------------------------------------------------------------------------------
def _purge_fixture(api: Api) -> None:
    for i in range(3):
        api.create(room(f"urn:ngsi-ld:Room:{i}", humidity={"type": "Property", "value": i}))
    api.create({"id": "urn:ngsi-ld:Building:B", "type": "Building", "humidity": 5})


def test_purge_by_type(api: Api) -> None:
    _purge_fixture(api)
    assert api.delete("/entities", params={"type": "Room"}).status_code == 204
    for i in range(3):
        assert api.status_of(f"urn:ngsi-ld:Room:{i}") == 404
    assert api.status_of("urn:ngsi-ld:Building:B") == 200


def test_purge_by_q(api: Api) -> None:
    _purge_fixture(api)
    assert api.delete("/entities", params={"q": "humidity>=1"}).status_code == 204
    assert api.status_of("urn:ngsi-ld:Room:0") == 200
    assert api.status_of("urn:ngsi-ld:Room:1") == 404
    assert api.status_of("urn:ngsi-ld:Room:2") == 404
    assert api.status_of("urn:ngsi-ld:Building:B") == 404


def test_purge_keep_and_drop(api: Api) -> None:
    _purge_fixture(api)
    assert api.delete("/entities", params={"type": "Room", "keep": "humidity"}).status_code == 204
    got = api.entity("urn:ngsi-ld:Room:1")
    assert set(got) == {"id", "type", "humidity"}
    assert api.delete("/entities", params={"type": "Building", "drop": "humidity"}).status_code == 204
    assert set(api.entity("urn:ngsi-ld:Building:B")) == {"id", "type"}
    assert set(api.entity("urn:ngsi-ld:Room:1")) == {"id", "type", "humidity"}


def test_purge_too_wide_or_invalid_is_400(api: Api) -> None:
    _purge_fixture(api)
    assert_problem(api.delete("/entities"), 400, "BadRequestData")
    assert_problem(api.delete("/entities", params={"id": "urn:ngsi-ld:Room:1"}), 400, "BadRequestData")
    assert_problem(api.delete("/entities", params={"type": "Room", "keep": "a", "drop": "b"}), 400, "BadRequestData")
    assert_problem(api.delete("/entities", params={"type": "Room", "q": "x=="}), 400, "BadRequestData")
    assert_problem(api.delete("/entities", params={"type": "Room", "bogus": "1"}), 400, "InvalidRequest")
    for i in range(3):
        assert api.status_of(f"urn:ngsi-ld:Room:{i}") == 200


# --- misc -------------------------------------------------------------------------------------
def test_unknown_path_and_method(api: Api) -> None:
    assert_problem(api.get("/nothing-here"), 404, "ResourceNotFound")
    assert_problem(api.request("PUT", "/entityOperations/create", json=[]), 405, "MethodNotAllowed")


def test_source_identity(api: Api) -> None:
    resp = api.get("/info/sourceIdentity")
    assert resp.status_code == 200
    body = resp.json()
    assert body["type"] == "ContextSourceIdentity"
    assert body["contextSourceUptime"].startswith("PT")


def test_concurrent_creates_of_distinct_entities_all_land(api: Api) -> None:
    async def many() -> list[int]:
        coros = [api.client.post("/ngsi-ld/v1/entities", json=room(f"urn:ngsi-ld:Room:c{i}")) for i in range(40)]
        return [r.status_code for r in await asyncio.gather(*coros)]

    assert api.run(many()) == [201] * 40
    resp = api.get("/entities", params={"type": "Room", "count": "true", "limit": "0"})
    assert resp.headers["ngsild-results-count"] == "40"


def test_concurrent_appends_to_one_entity_are_not_lost(api: Api) -> None:
    api.create(room())

    async def appends() -> list[int]:
        coros = [api.client.post(f"/ngsi-ld/v1/entities/{RID}/attrs", json={f"x{i}": i}) for i in range(30)]
        return [r.status_code for r in await asyncio.gather(*coros)]

    assert api.run(appends()) == [204] * 30
    got = api.entity(RID)
    assert {f"x{i}" for i in range(30)} <= set(got)
    assert all(got[f"x{i}"]["value"] == i for i in range(30))


def test_concurrent_duplicate_creates_one_wins(api: Api) -> None:
    async def dup() -> list[int]:
        coros = [api.client.post("/ngsi-ld/v1/entities", json=room()) for _ in range(10)]
        return sorted(r.status_code for r in await asyncio.gather(*coros))

    assert api.run(dup()) == [201] + [409] * 9


# --- multi-tenancy -----------------------------------------------------------------------------
T1 = {"NGSILD-Tenant": "city1"}
T2 = {"NGSILD-Tenant": "city2"}


def test_create_in_tenant_creates_it_and_echoes_header(api: Api) -> None:
    resp = api.post("/entities", json=room(), headers=T1)
    assert resp.status_code == 201
    assert resp.headers["ngsild-tenant"] == "city1"
    resp = api.get(f"/entities/{RID}", headers=T1)
    assert resp.status_code == 200
    assert resp.headers["ngsild-tenant"] == "city1"
    assert "ngsild-tenant" not in api.get("/info/sourceIdentity").headers
    # the default tenant does not see it
    assert_problem(api.get(f"/entities/{RID}"), 404, "ResourceNotFound")


def test_never_created_tenant_is_404_nonexistent_tenant(api: Api) -> None:
    for method, path, body in (
        ("GET", f"/entities/{RID}", None),
        ("DELETE", f"/entities/{RID}", None),
        ("PATCH", f"/entities/{RID}/attrs", {"temperature": 1}),
        ("POST", f"/entities/{RID}/attrs", {"temperature": 1}),
        ("PATCH", f"/entities/{RID}", {"temperature": 1}),
        ("PUT", f"/entities/{RID}", {"type": "Room"}),
        ("GET", "/entities?type=Room", None),
        ("DELETE", "/entities?type=Room", None),
    ):
        resp = api.request(method, path, json=body, headers={"NGSILD-Tenant": "nowhere"})
        body_ = assert_problem(resp, 404, "NonexistentTenant")
        assert "nowhere" in body_["detail"], (method, path)
        assert resp.headers["ngsild-tenant"] == "nowhere"


def test_tenants_are_isolated(api: Api) -> None:
    api.create(room(temperature={"type": "Property", "value": 1}), headers=T1)
    api.create(room(temperature={"type": "Property", "value": 2}), headers=T2)
    api.create(room(temperature={"type": "Property", "value": 3}))
    assert api.entity(RID, headers=T1)["temperature"]["value"] == 1
    assert api.entity(RID, headers=T2)["temperature"]["value"] == 2
    assert api.entity(RID)["temperature"]["value"] == 3
    assert api.patch(f"/entities/{RID}/attrs", json={"temperature": 10}, headers=T1).status_code == 204
    assert api.delete(f"/entities/{RID}", headers=T2).status_code == 204
    assert api.entity(RID, headers=T1)["temperature"]["value"] == 10
    assert api.status_of(RID, headers=T2) == 404
    assert api.entity(RID)["temperature"]["value"] == 3
    assert api.delete("/entities", params={"type": "Room"}, headers=T1).status_code == 204
    assert api.status_of(RID, headers=T1) == 404
    assert api.status_of(RID) == 200


def test_invalid_tenant_name_is_400(api: Api) -> None:
    assert_problem(api.post("/entities", json=room(), headers={"NGSILD-Tenant": "bad tenant!"}), 400, "BadRequestData")
    assert_problem(api.get(f"/entities/{RID}", headers={"NGSILD-Tenant": ""}), 400, "BadRequestData")


def test_failed_create_does_not_create_tenant(api: Api) -> None:
    resp = api.post("/entities", json={"id": "bad", "type": "Room"}, headers={"NGSILD-Tenant": "ghost"})
    assert_problem(resp, 400, "BadRequestData")
    assert_problem(api.get(f"/entities/{RID}", headers={"NGSILD-Tenant": "ghost"}), 404, "NonexistentTenant")


def test_tenant_survives_failing_request_in_same_write_batch(api: Api) -> None:
    """A create that succeeds and a duplicate create that fails, committed together, in a new tenant.

    The store's writer thread groups queued jobs into one transaction. The
    failing job must not make the store forget the tenant the succeeding job created.
    """
    store = api.store
    gate = threading.Event()
    entered = threading.Event()

    def block(_w: Any) -> None:
        entered.set()
        gate.wait(5)

    blocker = store.submit("", block)
    assert entered.wait(5)

    async def two_creates() -> list[int]:
        first = asyncio.ensure_future(api.client.post("/ngsi-ld/v1/entities", json=room(), headers=T1))
        second = asyncio.ensure_future(api.client.post("/ngsi-ld/v1/entities", json=room(), headers=T1))
        for _ in range(500):  # both jobs queued behind the blocker: they will share one batch
            if store._queue.qsize() >= 2:
                break
            await asyncio.sleep(0.002)
        gate.set()
        return sorted([(await first).status_code, (await second).status_code])

    assert api.run(two_creates()) == [201, 409]
    blocker.result(5)
    resp = api.get(f"/entities/{RID}", headers=T1)
    assert resp.status_code == 200, resp.text


def test_key_values_of_several_instances_is_a_dataset_map(api: Api) -> None:
    api.create({"id": RID, "type": "Room", "speed": [
        {"type": "Property", "value": 55}, {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"}],
        "route": {"type": "ListRelationship", "objectList": ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]}})
    got = api.entity(RID, options="keyValues")
    assert got["speed"] == {"dataset": {"@none": 55, "urn:ngsi-ld:Dataset:gps": 11}}
    assert got["route"] == ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]


def test_expires_at_is_a_system_member(api: Api) -> None:
    date = "2100-01-01T00:00:00Z"
    api.create({"id": RID, "type": "Room", "expiresAt": {"type": "Property", "value": date},
                "speed": {"type": "Property", "value": 7, "expiresAt": {"type": "Property", "value": date}}})
    plain = api.entity(RID)
    assert "expiresAt" not in plain and "expiresAt" not in plain["speed"]
    sys = api.entity(RID, options="sysAttrs")
    assert sys["expiresAt"] == date and sys["speed"]["expiresAt"] == date


def test_prefer_an_earlier_version_reformats_newer_attribute_types(api: Api) -> None:
    api.create({"id": RID, "type": "Room", "category": {"type": "VocabProperty", "vocab": "office"},
                "readings": {"type": "ListProperty", "valueList": [1, 2]}})
    old = api.get(f"/entities/{RID}", headers={"Prefer": "ngsi-ld=1.5"})
    assert old.status_code == 203
    assert old.headers["preference-applied"] == "ngsi-ld=1.5"
    assert old.json()["category"] == {"type": "Property", "value": "office"}
    assert old.json()["readings"] == {"type": "Property", "value": [1, 2]}
    native = api.get(f"/entities/{RID}", headers={"Prefer": "ngsi-ld=1.9"})
    assert native.status_code == 200 and native.headers["preference-applied"] == "ngsi-ld=1.9"
    assert native.json()["category"]["type"] == "VocabProperty"
    assert "preference-applied" not in api.get(f"/entities/{RID}").headers


def test_entity_map_on_retrieve(api: Api) -> None:
    api.create(room())
    resp = api.get(f"/entities/{RID}", params={"entityMap": "true"})
    assert resp.status_code == 200 and "entityMap" not in resp.json()
    location = resp.headers["ngsild-entitymap"]
    assert location.startswith("/ngsi-ld/v1/entityMaps/urn:ngsi-ld:EntityMap:")
    map_id = location.rsplit("/", 1)[1]
    got = api.get(f"/entityMaps/{map_id}").json()
    assert got["type"] == "EntityMap" and got["entityMap"] == {RID: ["@none"]}
    # a live map named in the header is used and echoed; a dead one is replaced
    assert api.get(f"/entities/{RID}", headers={"NGSILD-EntityMap": location}).headers["ngsild-entitymap"] == location
    fresh = api.get(f"/entities/{RID}", headers={"NGSILD-EntityMap": "urn:ngsi-ld:EntityMap:dead"})
    assert "dead" not in fresh.headers["ngsild-entitymap"]
    assert api.delete(f"/entityMaps/{map_id}").status_code == 204
    assert_problem(api.get(f"/entityMaps/{map_id}"), 404, "ResourceNotFound")
    assert "ngsild-entitymap" not in api.get(f"/entities/{RID}").headers
