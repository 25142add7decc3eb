"""Linked entities (join=inline|flat, joinLevel) and nested pick/omit (4.5.23, 4.21)."""

from __future__ import annotations

from typing import Any

import pytest

from support import Api, assert_problem

B, C, F = "urn:ngsi-ld:Building:1", "urn:ngsi-ld:City:Paris", "urn:ngsi-ld:Country:France"


def rel(obj: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": obj}


@pytest.fixture
def chain(api: Api) -> Api:
    api.create({"id": B, "type": "Building", "name": "Eiffel", "locatedAt": rel(C)})
    api.create({"id": C, "type": "City", "name": "Paris", "isInCountry": rel(F)})
    api.create({"id": F, "type": "Country", "name": "France"})
    return api


def get(api: Api, **params: str) -> Any:
    resp = api.get(f"/entities/{B}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_inline_puts_the_linked_entity_in_the_relationship(chain: Api) -> None:
    got = get(chain, join="inline")
    assert got["locatedAt"]["object"] == C
    city = got["locatedAt"]["entity"]
    assert city["id"] == C and city["name"]["value"] == "Paris"
    assert "entity" not in city["isInCountry"]  # joinLevel 1: one hop
    deep = get(chain, join="inline", joinLevel="2")
    assert deep["locatedAt"]["entity"]["isInCountry"]["entity"]["id"] == F


def test_inline_key_values_replaces_the_reference(chain: Api) -> None:
    got = get(chain, join="inline", options="keyValues")
    assert got["locatedAt"] == {"id": C, "type": "City", "name": "Paris", "isInCountry": F}


def test_flat_appends_linked_entities_once(chain: Api) -> None:
    got = get(chain, join="flat", joinLevel="2")
    assert [e["id"] for e in got] == [B, C, F]
    assert "entity" not in got[0]["locatedAt"]
    resp = chain.get("/entities", params={"type": "Building,City", "join": "flat"})
    ids = [e["id"] for e in resp.json()]
    assert sorted(ids) == sorted([B, C, F]) and len(ids) == 3  # the City is listed once


def test_nested_pick_and_omit(chain: Api) -> None:
    got = get(chain, join="inline", pick="id,locatedAt{id,name}")
    assert got == {"id": B, "locatedAt": {"type": "Relationship", "object": C,
                                          "entity": {"id": C, "name": {"type": "Property", "value": "Paris"}}}}
    got = get(chain, join="inline", omit="type,locatedAt{name}")
    assert "type" not in got and "name" in got
    assert "name" not in got["locatedAt"]["entity"] and got["locatedAt"]["entity"]["type"] == "City"


def test_projection_deeper_than_the_join_is_refused(chain: Api) -> None:
    for params in ({"pick": "id,locatedAt{id,isInCountry{id}}", "join": "inline"},
                   {"pick": "locatedAt{id}"},
                   {"omit": "locatedAt{name", "join": "inline"},
                   {"join": "sideways"},
                   {"join": "inline", "joinLevel": "0"}):
        assert_problem(chain.get(f"/entities/{B}", params=params), 400, "BadRequestData")


def test_missing_linked_entity_is_left_out(api: Api) -> None:
    api.create({"id": B, "type": "Building", "locatedAt": rel("urn:ngsi-ld:City:Nowhere")})
    got = get(api, join="inline")
    assert got["locatedAt"] == rel("urn:ngsi-ld:City:Nowhere")
    # flat with nothing linked answers the entity itself (ETSI 018_14_02)
    assert get(api, join="flat") == {"id": B, "type": "Building", "locatedAt": rel("urn:ngsi-ld:City:Nowhere")}
