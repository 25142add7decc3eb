"""Batch operations under /entityOperations (clauses 6.14-6.31): 201/204/207 bodies, per-entity errors."""

from __future__ import annotations

from typing import Any

import pytest

from support import CORE_URL, ERRORS, USER_CTX_URL, Api, assert_problem, link

JSON = {"Content-Type": "application/json"}
LD = {"Content-Type": "application/ld+json"}


def ent(n: int, **attrs: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Sensor:{n}", "type": "Sensor", **attrs}


def sid(n: int) -> str:
    return f"urn:ngsi-ld:Sensor:{n}"


def full(api: Api, entity_id: str) -> dict[str, Any]:
    return api.entity(entity_id, options="sysAttrs")


def assert_batch_error(item: dict[str, Any], entity_id: str, kind: str, status: int) -> None:
    assert item["entityId"] == entity_id, item
    err = item["error"]
    assert err["type"] == ERRORS + kind, item
    assert err["status"] == status
    assert isinstance(err["title"], str) and err["title"]
    assert isinstance(err["detail"], str) and err["detail"]


# --- create -----------------------------------------------------------------------------------
def test_batch_create_all_ok_is_201_with_ids(api: Api) -> None:
    resp = api.post("/entityOperations/create", json=[ent(1, v=1), ent(2, v=2)])
    assert resp.status_code == 201, resp.text
    assert resp.json() == [sid(1), sid(2)]
    assert resp.headers["link"] == link(CORE_URL)
    assert api.entity(sid(1))["v"] == {"type": "Property", "value": 1}
    assert api.entity(sid(2))["v"]["value"] == 2


def test_batch_create_partial_failure_is_207(api: Api) -> None:
    api.create(ent(1, v="old"))
    resp = api.post("/entityOperations/create", json=[
        ent(1, v="new"),            # exists already
        ent(2),                     # fine
        ent(2),                     # duplicate in the same batch
        {"id": "nope", "type": "Sensor"},
        {"type": "Sensor"},
        ent(3, bad={"type": "Property"}),
    ])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["success"] == [sid(2)]
    errors = body["errors"]
    assert len(errors) == 5
    assert_batch_error(errors[0], sid(1), "AlreadyExists", 409)
    assert_batch_error(errors[1], sid(2), "AlreadyExists", 409)
    kinds = sorted(e["error"]["type"].rsplit("/", 1)[1] for e in errors[2:])
    assert kinds == ["BadRequestData"] * 3
    assert {e["entityId"] for e in errors[2:]} == {"nope", "", sid(3)}
    # the failed items changed nothing, the good one landed
    assert api.entity(sid(1))["v"]["value"] == "old"
    assert api.status_of(sid(2)) == 200
    assert api.status_of(sid(3)) == 404


def test_batch_create_all_failed_is_207_with_empty_success(api: Api) -> None:
    api.create(ent(1))
    resp = api.post("/entityOperations/create", json=[ent(1)])
    assert resp.status_code == 207
    assert resp.json()["success"] == []


@pytest.mark.parametrize("payload", [{"id": "urn:x:1", "type": "T"}, [], [1, 2], "text"])
def test_batch_body_must_be_non_empty_array_of_objects(api: Api, payload: Any) -> None:
    for op in ("create", "upsert", "update", "merge"):
        assert_problem(api.post(f"/entityOperations/{op}", json=payload), 400, "BadRequestData")
    assert api.status_of("urn:x:1") == 404


def test_batch_invalid_json_and_media_type(api: Api) -> None:
    for op in ("create", "upsert", "update", "merge", "delete"):
        assert_problem(api.post(f"/entityOperations/{op}", content=b"[{", headers=JSON), 400, "InvalidRequest")
        assert_problem(api.post(f"/entityOperations/{op}", content=b"[]", headers={"Content-Type": "text/plain"}),
                       415, "UnsupportedMediaType")
        assert_problem(api.post(f"/entityOperations/{op}", json=[ent(1)], params={"nope": "1"}),
                       400, "InvalidRequest")
        status, _, _ = api.raw("POST", f"/entityOperations/{op}", [(b"content-type", b"application/json")],
                               b'[{"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor"}]')
        assert status == 411
    assert api.status_of(sid(1)) == 404


def test_batch_create_ld_json_each_entity_carries_its_context(api: Api) -> None:
    resp = api.post("/entityOperations/create", headers=LD, json=[
        {**ent(1, temperature=5), "@context": USER_CTX_URL},
        {**ent(2, temperature=6), "@context": CORE_URL},
        ent(3),  # no @context
    ])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["success"] == [sid(1), sid(2)]
    assert_batch_error(body["errors"][0], sid(3), "BadRequestData", 400)
    user = api.entity(sid(1), headers={"Link": link(USER_CTX_URL)})
    assert user["temperature"]["value"] == 5
    assert "temperature" in api.entity(sid(2))
    assert "temperature" not in api.entity(sid(1))  # expanded with the user context, not the default vocab


def test_batch_create_json_rejects_inline_context(api: Api) -> None:
    resp = api.post("/entityOperations/create", headers=JSON, json=[{**ent(1), "@context": CORE_URL}, ent(2)])
    assert resp.status_code in (207, 400)
    assert api.status_of(sid(1)) == 404


# --- upsert -------------------------------------------------------------------------------------
def test_batch_upsert_replace_default(api: Api) -> None:
    api.create(ent(1, a=1, b=2))
    before = full(api, sid(1))
    resp = api.post("/entityOperations/upsert", json=[ent(1, a=10), ent(2, a=20)])
    assert resp.status_code == 201, resp.text
    assert resp.json() == [sid(2)]
    after = full(api, sid(1))
    assert after["a"]["value"] == 10
    assert "b" not in after  # replaced
    assert after["createdAt"] == before["createdAt"]
    assert api.entity(sid(2))["a"]["value"] == 20


def test_batch_upsert_only_existing_is_204(api: Api) -> None:
    api.create(ent(1, a=1))
    resp = api.post("/entityOperations/upsert", json=[ent(1, a=2)])
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert api.entity(sid(1))["a"]["value"] == 2


def test_batch_upsert_update_option_merges_attributes(api: Api) -> None:
    api.create(ent(1, a=1, b=2))
    resp = api.post("/entityOperations/upsert", params={"options": "update"},
                    json=[{"id": sid(1), "type": "Device", "a": 10, "c": 30}])
    assert resp.status_code == 204, resp.text
    got = api.entity(sid(1))
    assert (got["a"]["value"], got["b"]["value"], got["c"]["value"]) == (10, 2, 30)
    assert got["type"] == ["Sensor", "Device"]


def test_batch_upsert_options_and_errors(api: Api) -> None:
    assert_problem(api.post("/entityOperations/upsert", params={"options": "update,replace"}, json=[ent(1)]),
                   400, "BadRequestData")
    assert_problem(api.post("/entityOperations/upsert", params={"options": "bogus"}, json=[ent(1)]),
                   400, "BadRequestData")
    assert api.status_of(sid(1)) == 404
    api.create(ent(1, a=1))
    resp = api.post("/entityOperations/upsert", json=[ent(1, a={"type": "Property"}), ent(2)])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["success"] == [sid(2)]
    assert_batch_error(body["errors"][0], sid(1), "BadRequestData", 400)
    assert api.entity(sid(1))["a"]["value"] == 1


# --- update -------------------------------------------------------------------------------------
def test_batch_update(api: Api) -> None:
    api.create(ent(1, a=1, b=2))
    api.create(ent(2, a=1))
    resp = api.post("/entityOperations/update", json=[ent(1, a=10, c=3), {"id": sid(2), "a": 20}])
    assert resp.status_code == 204, resp.text
    got = api.entity(sid(1))
    assert (got["a"]["value"], got["b"]["value"], got["c"]["value"]) == (10, 2, 3)
    assert api.entity(sid(2))["a"]["value"] == 20


def test_batch_update_unknown_entity_is_207(api: Api) -> None:
    api.create(ent(1, a=1))
    resp = api.post("/entityOperations/update", json=[ent(1, a=2), ent(9, a=2)])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["success"] == [sid(1)]
    assert_batch_error(body["errors"][0], sid(9), "ResourceNotFound", 404)
    assert api.status_of(sid(9)) == 404
    assert api.entity(sid(1))["a"]["value"] == 2


def test_batch_update_no_overwrite_keeps_existing(api: Api) -> None:
    api.create(ent(1, a=1))
    before = full(api, sid(1))
    resp = api.post("/entityOperations/update", params={"options": "noOverwrite"}, json=[ent(1, a=2, b=3)])
    assert resp.status_code == 207, resp.text
    after = full(api, sid(1))
    assert after["a"]["value"] == 1  # never overwritten
    # the new attribute is appended; the one not overwritten is reported (207, as ETSI 005_02_03 expects)
    assert resp.status_code == 207
    assert [e["entityId"] for e in resp.json()["errors"]] == [sid(1)]
    assert after["b"]["value"] == 3
    assert after["a"] == before["a"]


def test_batch_update_no_overwrite_with_nothing_new_changes_nothing(api: Api) -> None:
    api.create(ent(1, a=1))
    before = full(api, sid(1))
    resp = api.post("/entityOperations/update", params={"options": "noOverwrite"}, json=[ent(1, a=2)])
    assert resp.status_code == 207, resp.text
    assert full(api, sid(1)) == before


def test_batch_update_invalid_item_changes_nothing(api: Api) -> None:
    api.create(ent(1, a=1))
    before = full(api, sid(1))
    resp = api.post("/entityOperations/update", json=[ent(1, a=2, r={"type": "Relationship", "object": "x"})])
    assert resp.status_code == 207
    assert_batch_error(resp.json()["errors"][0], sid(1), "BadRequestData", 400)
    assert full(api, sid(1)) == before


def test_batch_update_bad_option(api: Api) -> None:
    assert_problem(api.post("/entityOperations/update", params={"options": "replace"}, json=[ent(1)]),
                   400, "BadRequestData")


# --- merge --------------------------------------------------------------------------------------
def test_batch_merge(api: Api) -> None:
    api.create(ent(1, a=1, b=2, addr={"type": "Property", "value": {"x": 1, "y": 2}}))
    resp = api.post("/entityOperations/merge", json=[
        {"id": sid(1), "a": 10, "b": None, "addr": {"value": {"y": None, "z": 3}}, "c": 5},
    ])
    assert resp.status_code == 204, resp.text
    got = api.entity(sid(1))
    assert got["a"]["value"] == 10
    assert "b" not in got
    assert got["addr"]["value"] == {"x": 1, "z": 3}
    assert got["c"]["value"] == 5


def test_batch_merge_errors_change_nothing(api: Api) -> None:
    api.create(ent(1, a=1))
    before = full(api, sid(1))
    resp = api.post("/entityOperations/merge", json=[
        {"id": sid(1), "a": 2, "r": {"type": "Relationship", "object": "not a uri"}},
        {"id": sid(5), "a": 1},
    ])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["success"] == []
    assert_batch_error(body["errors"][0], sid(1), "BadRequestData", 400)
    assert_batch_error(body["errors"][1], sid(5), "ResourceNotFound", 404)
    assert full(api, sid(1)) == before


# --- delete -------------------------------------------------------------------------------------
def test_batch_delete(api: Api) -> None:
    api.create(ent(1))
    api.create(ent(2))
    api.create(ent(3))
    resp = api.post("/entityOperations/delete", json=[sid(1), sid(2)])
    assert resp.status_code == 204, resp.text
    assert api.status_of(sid(1)) == 404 and api.status_of(sid(2)) == 404
    assert api.status_of(sid(3)) == 200


def test_batch_delete_partial_is_207(api: Api) -> None:
    api.create(ent(1))
    resp = api.post("/entityOperations/delete", json=[sid(1), sid(9), "not-a-uri", 7])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["success"] == [sid(1)]
    assert len(body["errors"]) == 3
    assert_batch_error(body["errors"][0], sid(9), "ResourceNotFound", 404)
    assert_batch_error(body["errors"][1], "not-a-uri", "BadRequestData", 400)
    assert body["errors"][2]["error"]["type"] == ERRORS + "BadRequestData"
    assert api.status_of(sid(1)) == 404


@pytest.mark.parametrize("payload", [[], {"id": "urn:x:1"}, "urn:x:1"])
def test_batch_delete_body_must_be_non_empty_array(api: Api, payload: Any) -> None:
    assert_problem(api.post("/entityOperations/delete", json=payload), 400, "BadRequestData")


# --- tenants ------------------------------------------------------------------------------------
def test_batch_tenants(api: Api) -> None:
    t = {"NGSILD-Tenant": "batchland"}
    for op in ("update", "merge", "delete"):
        body: Any = [sid(1)] if op == "delete" else [ent(1, a=1)]
        resp = api.post(f"/entityOperations/{op}", json=body, headers=t)
        assert_problem(resp, 404, "NonexistentTenant")
    resp = api.post("/entityOperations/create", json=[ent(1, a=1)], headers=t)
    assert resp.status_code == 201
    assert resp.headers["ngsild-tenant"] == "batchland"
    assert api.status_of(sid(1)) == 404
    assert api.status_of(sid(1), headers=t) == 200
    resp = api.post("/entityOperations/upsert", json=[ent(2)], headers={"NGSILD-Tenant": "upsertland"})
    assert resp.status_code == 201
    assert api.status_of(sid(2), headers={"NGSILD-Tenant": "upsertland"}) == 200
    assert api.post("/entityOperations/delete", json=[sid(1)], headers=t).status_code == 204
    assert api.status_of(sid(1), headers=t) == 404


def test_large_batch(api: Api) -> None:
    entities = [ent(i, v=i) for i in range(500)]
    resp = api.post("/entityOperations/create", json=entities)
    assert resp.status_code == 201
    assert len(resp.json()) == 500
    resp = api.get("/entities", params={"type": "Sensor", "count": "true", "limit": "0"})
    assert resp.headers["ngsild-results-count"] == "500"
    assert api.entity(sid(499))["v"]["value"] == 499


def test_batch_upsert_repeated_ids_apply_in_order(api: Api) -> None:
    resp = api.post("/entityOperations/upsert", json=[ent(1, a=1), ent(1, a=2, b=3), ent(2, a=1)])
    assert resp.status_code == 201, resp.text
    assert resp.json() == [sid(1), sid(2)]  # each created id once
    got = api.entity(sid(1))
    assert (got["a"]["value"], got["b"]["value"]) == (2, 3)
    resp = api.post("/entityOperations/upsert", json=[ent(1, c=1), ent(1, d=2)])
    assert resp.status_code == 204
    assert set(api.entity(sid(1))) == {"id", "type", "d"}  # replace, twice: the last wins
    resp = api.post("/entityOperations/upsert", params={"options": "update"},
                    json=[ent(3, a=1), ent(3, b=2), ent(3, a=5)])
    assert resp.status_code == 201
    got = api.entity(sid(3))
    assert (got["a"]["value"], got["b"]["value"]) == (5, 2)


def test_batch_update_repeated_ids_accumulate(api: Api) -> None:
    api.create(ent(1))
    resp = api.post("/entityOperations/update", json=[ent(1, g=1), {"id": sid(1), "type": "Other", "h": 2}])
    assert resp.status_code == 204, resp.text
    got = api.entity(sid(1))
    assert (got["g"]["value"], got["h"]["value"]) == (1, 2)
    assert got["type"] == ["Sensor", "Other"]
