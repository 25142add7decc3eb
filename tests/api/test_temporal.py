"""The Temporal API over HTTP: history of core writes, temporal provision, queries, representations."""

from __future__ import annotations

import random
import statistics
from typing import Any

from support import Api, assert_problem

T = "/temporal/entities"
EID = "urn:ngsi-ld:Camera:zone4"


def _counts(values: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": v, "observedAt": at} for v, at in values]


def _temporal(api: Api, entity_id: str = EID, **attrs: Any) -> Any:
    return api.post(T, json={"id": entity_id, "type": "Camera", **attrs})


def test_core_writes_become_history_in_the_same_transaction(api: Api) -> None:
    api.create({"id": EID, "type": "Camera", "people": {"value": 3, "observedAt": "2026-11-01T10:00:00Z"}})
    r = api.patch(f"/entities/{EID}/attrs", json={"people": {"value": 5, "observedAt": "2026-11-01T10:01:00Z"}})
    assert r.status_code == 204, r.text
    # a failing write (wrong attribute type in a partial update) adds nothing to history
    bad = api.patch(f"/entities/{EID}/attrs/people", json={"type": "Relationship", "object": "urn:x:1"})
    assert bad.status_code == 400
    body = api.get(f"{T}/{EID}").json()
    assert [(i["value"], i["observedAt"]) for i in body["people"]] == [
        (3, "2026-11-01T10:00:00Z"), (5, "2026-11-01T10:01:00Z"),
    ]
    assert all(i["instanceId"].startswith("urn:ngsi-ld:") for i in body["people"])
    assert "createdAt" not in body["people"][0]
    sys = api.get(f"{T}/{EID}", params={"options": "sysAttrs"}).json()
    assert "createdAt" in sys["people"][0] and "modifiedAt" in sys["people"][0]


def test_attribute_deletion_leaves_a_tombstone_seen_only_by_deleted_at(api: Api) -> None:
    api.create({"id": EID, "type": "Camera", "people": {"value": 3, "observedAt": "2026-11-01T10:00:00Z"},
                "owner": {"type": "Relationship", "object": "urn:ngsi-ld:City:1"}})
    assert api.delete(f"/entities/{EID}/attrs/owner").status_code == 204
    deleted = api.get(f"{T}/{EID}", params={"timeproperty": "deletedAt"}).json()
    assert list(deleted) == ["id", "type", "owner"]
    assert deleted["owner"][0]["object"] == "urn:ngsi-ld:null" and "deletedAt" in deleted["owner"][0]
    observed = api.get(f"{T}/{EID}").json()
    assert "owner" not in observed  # the relationship had no observedAt, the tombstone has none either


def test_temporal_provision_create_update_and_replace_same_instant(api: Api) -> None:
    r = _temporal(api, people=_counts([(1, "2026-11-01T10:00:00Z"), (2, "2026-11-01T10:01:00Z")]))
    assert r.status_code == 201 and r.headers["location"].endswith(EID)
    # the entity now has a current state: its latest instance
    assert api.entity(EID)["people"]["value"] == 2
    r = _temporal(api, people=_counts([(9, "2026-11-01T10:01:00Z"), (3, "2026-11-01T10:02:00Z")]))
    assert r.status_code == 204
    values = [i["value"] for i in api.get(f"{T}/{EID}").json()["people"]]
    assert values == [1, 9, 3]  # same attribute, datasetId and observedAt: replaced
    assert api.entity(EID)["people"]["value"] == 2  # a temporal update does not rewrite the state


def test_instance_modify_and_delete_by_instance_id(api: Api) -> None:
    _temporal(api, people=_counts([(1, "2026-11-01T10:00:00Z"), (2, "2026-11-01T10:01:00Z")]))
    first = api.get(f"{T}/{EID}").json()["people"][0]["instanceId"]
    r = api.patch(f"{T}/{EID}/attrs/people/{first}", json={"value": 7, "observedAt": "2026-11-01T10:00:00Z"})
    assert r.status_code == 204, r.text
    people = api.get(f"{T}/{EID}").json()["people"]
    assert people[0] == {"type": "Property", "value": 7, "observedAt": "2026-11-01T10:00:00Z", "instanceId": first}
    assert api.delete(f"{T}/{EID}/attrs/people/{first}").status_code == 204
    assert [i["value"] for i in api.get(f"{T}/{EID}").json()["people"]] == [2]
    assert_problem(api.delete(f"{T}/{EID}/attrs/people/{first}"), 404, "ResourceNotFound")
    assert_problem(api.delete(f"{T}/{EID}/attrs/people/notAUri"), 400, "BadRequestData")


def test_delete_attribute_by_dataset_and_entity(api: Api) -> None:
    _temporal(api, people=[
        {"value": 1, "observedAt": "2026-11-01T10:00:00Z"},
        {"value": 2, "observedAt": "2026-11-01T10:00:00Z", "datasetId": "urn:ngsi-ld:Dataset:wifi"},
    ])
    r = api.delete(f"{T}/{EID}/attrs/people", params={"datasetId": "urn:ngsi-ld:Dataset:wifi"})
    assert r.status_code == 204
    assert [i["value"] for i in api.get(f"{T}/{EID}").json()["people"]] == [1]
    assert api.delete(f"{T}/{EID}").status_code == 204
    assert_problem(api.get(f"{T}/{EID}"), 404, "ResourceNotFound")
    assert api.status_of(EID) == 404  # the entity goes with its history
    assert _temporal(api, people=_counts([(1, "2026-11-01T10:00:00Z")])).status_code == 201


def test_timerel_bounds_and_last_n(api: Api) -> None:
    _temporal(api, people=_counts([(n, f"2026-11-01T10:0{n}:00Z") for n in range(6)]))

    def values(**params: str) -> list[int]:
        r = api.get(f"{T}/{EID}", params=params)
        assert r.status_code == 200, r.text
        return [i["value"] for i in r.json().get("people", [])]

    assert values(timerel="before", timeAt="2026-11-01T10:02:00Z") == [0, 1]  # exclusive
    assert values(timerel="after", timeAt="2026-11-01T10:04:00Z") == [4, 5]  # inclusive
    assert values(timerel="between", timeAt="2026-11-01T10:01:00Z", endTimeAt="2026-11-01T10:03:00Z") == [1, 2]
    assert values(lastN="2") == [4, 5]
    assert_problem(api.get(f"{T}/{EID}", params={"timerel": "after"}), 400, "BadRequestData")
    assert_problem(api.get(f"{T}/{EID}", params={"timerel": "after", "timeAt": "2026-11-01"}), 400,
                   "BadRequestData")
    assert_problem(api.get(f"{T}/{EID}", params={"lastN": "0"}), 400, "BadRequestData")


def test_temporal_values_representation(api: Api) -> None:
    _temporal(api, people=_counts([(1, "2026-11-01T10:00:00Z"), (2, "2026-11-01T10:01:00Z")]))
    body = api.get(f"{T}/{EID}", params={"options": "temporalValues"}).json()
    assert body["people"] == {"type": "Property",
                              "values": [[1, "2026-11-01T10:00:00Z"], [2, "2026-11-01T10:01:00Z"]]}


def test_pagination_cuts_every_attribute_at_one_time_range(api: Api, tmp_path: Any) -> None:
    api.app.state.services.broker.temporal.page = 3
    _temporal(api, people=_counts([(n, f"2026-11-01T10:0{n}:00Z") for n in range(5)]),
              cars=_counts([(n, f"2026-11-01T10:0{n}:30Z") for n in range(5)]))
    r = api.get(f"{T}/{EID}")
    assert r.status_code == 206
    assert r.headers["content-range"] == "date-time 2026-11-01T10:00:00Z-2026-11-01T10:02:00Z/*"
    body = r.json()
    assert [i["value"] for i in body["people"]] == [0, 1, 2]
    assert [i["value"] for i in body["cars"]] == [0, 1]  # 10:02:30 lies beyond the common range
    r = api.get(f"{T}/{EID}", params={"lastN": "4"})
    assert r.status_code == 206 and r.headers["content-range"].endswith("/4")
    assert [i["value"] for i in r.json()["people"]] == [3, 4]


def _series(rng: random.Random, start_minute: int, n: int) -> list[tuple[float, int]]:
    minutes = sorted(rng.sample(range(start_minute, start_minute + 300), n))
    return [(round(rng.uniform(0, 100), 3), m) for m in minutes]


def _at(minute: int) -> str:
    return f"2026-11-01T{10 + minute // 60:02d}:{minute % 60:02d}:00Z"


def test_hourly_aggregates_match_a_direct_computation_with_two_datasets(api: Api) -> None:
    rng = random.Random(4)
    cam = _series(rng, 0, 40)
    wifi = _series(rng, 5, 25)
    instances = [{"value": v, "observedAt": _at(m)} for v, m in cam]
    instances += [{"value": v, "observedAt": _at(m), "datasetId": "urn:ngsi-ld:Dataset:wifi"} for v, m in wifi]
    assert _temporal(api, people=instances).status_code == 201
    r = api.get(f"{T}/{EID}", params={
        "options": "aggregatedValues", "aggrMethods": "totalCount,sum,avg,min,max,stddev,sumsq",
        "aggrPeriodDuration": "PT1H", "timerel": "between", "timeAt": "2026-11-01T10:00:00Z",
        "endTimeAt": "2026-11-01T16:00:00Z",
    })
    assert r.status_code == 200, r.text
    got = r.json()["people"]
    points = cam + wifi  # both datasets make one series
    for hour in range(6):
        values = [v for v, m in points if hour * 60 <= m < (hour + 1) * 60]
        start = f"2026-11-01T{10 + hour:02d}:00:00Z"
        rows = {method: [e for e in got.get(method, []) if e[1] == start] for method in
                ("totalCount", "sum", "avg", "min", "max", "stddev", "sumsq")}
        if not values:  # an empty hour is left out
            assert all(not found for found in rows.values())
            continue
        assert rows["totalCount"][0][0] == len(values)
        assert abs(rows["sum"][0][0] - sum(values)) < 1e-6
        assert abs(rows["avg"][0][0] - statistics.fmean(values)) < 1e-6
        assert rows["min"][0][0] == min(values) and rows["max"][0][0] == max(values)
        assert abs(rows["sumsq"][0][0] - sum(v * v for v in values)) < 1e-6
        if len(values) > 1:
            assert abs(rows["stddev"][0][0] - statistics.stdev(values)) < 1e-6
        assert rows["avg"][0][2] == f"2026-11-01T{11 + hour:02d}:00:00Z"


def test_query_keeps_entities_with_instances_in_the_window(api: Api) -> None:
    _temporal(api, "urn:ngsi-ld:Camera:a", people=_counts([(1, "2026-11-01T10:00:00Z")]))
    _temporal(api, "urn:ngsi-ld:Camera:b", people=_counts([(50, "2026-11-02T10:00:00Z")]))
    r = api.get(T, params={"type": "Camera", "timerel": "after", "timeAt": "2026-11-02T00:00:00Z"})
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Camera:b"]
    r = api.get(T, params={"type": "Camera", "q": "people>10", "timerel": "before",
                           "timeAt": "2026-12-01T00:00:00Z"})
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Camera:b"]
    r = api.post("/temporal/entityOperations/query", json={
        "type": "Query", "entities": [{"type": "Camera"}],
        "temporalQ": {"timerel": "before", "timeAt": "2026-11-02T00:00:00Z"},
    })
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Camera:a"]
    assert_problem(api.get(T, params={"timerel": "after", "timeAt": "2026-11-01T00:00:00Z"}), 400,
                   "BadRequestData")


def test_core_delete_keeps_history_out_of_queries(api: Api) -> None:
    api.create({"id": EID, "type": "Camera", "people": {"value": 3, "observedAt": "2026-11-01T10:00:00Z"}})
    assert api.delete(f"/entities/{EID}").status_code == 204
    window = {"type": "Camera", "timerel": "after", "timeAt": "2026-01-01T00:00:00Z"}
    assert api.get(T, params=window).json() == []
    kept = api.get(f"{T}/{EID}", params={"options": "sysAttrs"}).json()
    assert [i["value"] for i in kept["people"]] == [3] and "deletedAt" in kept


def test_temporal_answers_are_json_or_json_ld_only(api: Api) -> None:
    _temporal(api, people=_counts([(1, "2026-11-01T10:00:00Z")]))
    r = api.get(f"{T}/{EID}", headers={"Accept": "application/geo+json"})
    assert_problem(r, 406, "NotAcceptable")
    r = api.get(T, params={"type": "Camera"}, headers={"Accept": "application/geo+json"})
    assert r.status_code == 406
