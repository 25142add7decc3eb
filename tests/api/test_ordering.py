"""orderBy, orderFrom and collation (clause 4.23) on GET and POST queries."""

from __future__ import annotations

from typing import Any

from support import Api, assert_problem


def _load(api: Api) -> None:
    rows = [("near", 8.001, 40.0, 3, "Zebra"), ("mid", 8.05, 40.0, "b", "Ähre"), ("far", 8.5, 40.0, None, "apple")]
    for suffix, lon, lat, probe, name in rows:
        point = {"type": "Point", "coordinates": [lon, lat]}
        body: dict[str, Any] = {"id": f"urn:ngsi-ld:Spot:{suffix}", "type": "Spot", "name": name,
                                "location": {"type": "GeoProperty", "value": point}}
        if probe is not None:
            body["probe"] = probe
        api.create(body)


def order(api: Api, **params: str) -> list[str]:
    resp = api.get("/entities", params={"type": "Spot", **params})
    assert resp.status_code == 200, resp.text
    return [e["id"].rsplit(":", 1)[1] for e in resp.json()]


def test_distance_and_mixed_value_ordering(api: Api) -> None:
    _load(api)
    assert order(api, orderBy="location;dist-asc", orderFrom="[8,40]") == ["near", "mid", "far"]
    assert order(api, orderBy="location;dist-desc", orderFrom="[8,40]") == ["far", "mid", "near"]
    # numbers before strings, the entity without the attribute last in both directions
    assert order(api, orderBy="probe") == ["near", "mid", "far"]
    assert order(api, orderBy="probe;desc") == ["mid", "near", "far"]
    assert order(api, orderBy="id;desc", limit="2") == ["near", "mid"]


def test_collation(api: Api) -> None:
    _load(api)
    assert order(api, orderBy="name") == ["near", "far", "mid"]  # code points: 'Zebra' < 'apple' < 'Ähre'
    # a collation ranks accents with their base letter and ignores case: 'Ähre' < 'apple' < 'Zebra'
    assert order(api, orderBy="name", collation="de-u-co-phonebk") == ["mid", "far", "near"]


def test_bad_ordering(api: Api) -> None:
    _load(api)
    for params in ({"orderBy": "location;dist-asc"}, {"orderBy": "name;sideways"}, {"orderBy": "name",
                   "collation": "!!nope"}, {"orderFrom": "[8,40]"}):
        assert_problem(api.get("/entities", params={"type": "Spot", **params}), 400, "BadRequestData")


def test_post_query_ordering(api: Api) -> None:
    _load(api)
    body = {"type": "Query", "entities": [{"type": "Spot"}], "orderBy": ["location;dist-asc"],
            "coordinates": [8, 40], "geometry": "Point"}
    resp = api.post("/entityOperations/query", json=body)
    assert [e["id"].rsplit(":", 1)[1] for e in resp.json()] == ["near", "mid", "far"]
    for bad in ({"orderBy": ["location;dist-asc"]}, {"orderBy": ["location;dist-asc"], "coordinates": "8,40"},
                {"orderBy": ["id;asc"], "geometry": 5}, {"orderBy": ["id;asc"], "collation": "not a tag!!"}):
        resp = api.post("/entityOperations/query", json={"type": "Query", "entities": [{"type": "Spot"}], **bad})
        assert_problem(resp, 400, "BadRequestData")


def test_ordered_pages_and_count(api: Api) -> None:
    _load(api)
    resp = api.get("/entities", params={"type": "Spot", "orderBy": "location;dist-asc", "orderFrom": "[8,40]",
                                        "limit": "1", "offset": "1", "count": "true"})
    assert [e["id"].rsplit(":", 1)[1] for e in resp.json()] == ["mid"]
    assert resp.headers["ngsild-results-count"] == "3"
    assert 'rel="next"' in resp.headers["link"] and 'rel="prev"' in resp.headers["link"]
