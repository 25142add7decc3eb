"""Query entities beyond type and q: geo-queries, scopeQ, and POST /entityOperations/query."""

from __future__ import annotations

from typing import Any

from support import Api, assert_problem


def spot(n: int, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:ParkingSpot:{n}",
        "type": "ParkingSpot",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
        **extra,
    }


def _ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return sorted(e["id"] for e in resp.json())


def _load(api: Api) -> None:
    api.create(spot(1, -3.7000, 40.4100, scope="/Madrid/Centro", status="free"))  # the reference
    api.create(spot(2, -3.7050, 40.4100, scope="/Madrid/Centro/Sol", status="occupied"))  # ~423 m west
    api.create(spot(3, -3.7500, 40.4100, scope="/Madrid/Retiro", status="free"))  # ~4.2 km west
    api.create({"id": "urn:ngsi-ld:Device:1", "type": "Device", "status": "free"})  # no location


def test_near_max_and_min_distance(api: Api) -> None:
    _load(api)
    near = {"type": "ParkingSpot", "georel": "near;maxDistance==1000", "geometry": "Point",
            "coordinates": "[-3.7,40.41]"}
    assert _ids(api.get("/entities", params=near)) == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:2"]
    far = dict(near, georel="near;minDistance==1000")
    assert _ids(api.get("/entities", params=far)) == ["urn:ngsi-ld:ParkingSpot:3"]


def test_within_polygon_and_geoquery_without_type(api: Api) -> None:
    _load(api)
    box = "[[[-3.71,40.40],[-3.69,40.40],[-3.69,40.42],[-3.71,40.42],[-3.71,40.40]]]"
    resp = api.get("/entities", params={"georel": "within", "geometry": "Polygon", "coordinates": box})
    assert _ids(resp) == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:2"]


def test_bad_geoqueries_are_bad_request_data(api: Api) -> None:
    for params in (
        {"type": "ParkingSpot", "georel": "near;maxDistance==0", "geometry": "Point", "coordinates": "[1,2]"},
        {"type": "ParkingSpot", "georel": "near", "geometry": "Point", "coordinates": "[1,2]"},
        {"type": "ParkingSpot", "georel": "touches", "geometry": "Point", "coordinates": "[1,2]"},
        {"type": "ParkingSpot", "georel": "within", "geometry": "Point"},
        {"type": "ParkingSpot", "georel": "within", "geometry": "Polygon", "coordinates": "[1,2]"},
    ):
        assert_problem(api.get("/entities", params=params), 400, "BadRequestData")


def test_scope_query(api: Api) -> None:
    _load(api)

    def q(expr: str) -> list[str]:
        return _ids(api.get("/entities", params={"type": "ParkingSpot", "scopeQ": expr}))

    assert q("/Madrid/Centro") == ["urn:ngsi-ld:ParkingSpot:1"]
    assert q("/Madrid/Centro/#") == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:2"]
    assert q("/Madrid/+") == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:3"]
    assert q("/#") == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:2", "urn:ngsi-ld:ParkingSpot:3"]
    assert q("/Madrid/Retiro,/Madrid/Centro") == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:3"]
    assert q("(/Madrid/Retiro;/Madrid/Centro)") == []
    assert_problem(api.get("/entities", params={"type": "ParkingSpot", "scopeQ": "Madrid"}), 400, "BadRequestData")
    assert_problem(api.get("/entities", params={"type": "ParkingSpot", "scopeQ": "(/a"}), 400, "BadRequestData")


def test_post_query_matches_the_get_query(api: Api) -> None:
    _load(api)
    body = {"type": "Query", "entities": [{"type": "ParkingSpot"}], "q": "status==\"free\"",
            "geoQ": {"georel": "near;maxDistance==10000", "geometry": "Point", "coordinates": [-3.7, 40.41]}}
    resp = api.post("/entityOperations/query", json=body, params={"count": "true"})
    assert _ids(resp) == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:3"]
    assert resp.headers["ngsild-results-count"] == "2"
    get = api.get("/entities", params={"type": "ParkingSpot", "q": "status==\"free\"", "georel":
                  "near;maxDistance==10000", "geometry": "Point", "coordinates": "[-3.7,40.41]"})
    assert _ids(get) == _ids(resp)


def test_post_query_ors_its_entity_selectors(api: Api) -> None:
    _load(api)
    body = {"type": "Query", "entities": [{"id": "urn:ngsi-ld:ParkingSpot:2", "type": "ParkingSpot"},
                                          {"type": "Device"}]}
    assert _ids(api.post("/entityOperations/query", json=body)) == [
        "urn:ngsi-ld:Device:1", "urn:ngsi-ld:ParkingSpot:2"]
    body = {"type": "Query", "entities": [{"idPattern": ".*:[13]$", "type": "ParkingSpot"}], "attrs": ["status"]}
    got = api.post("/entityOperations/query", json=body).json()
    assert sorted(e["id"] for e in got) == ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:3"]
    assert all("location" not in e and "status" in e for e in got)


def test_post_query_bad_bodies(api: Api) -> None:
    for body in (
        [],
        {"entities": [{"type": "ParkingSpot"}]},  # no type: Query
        {"type": "Query"},  # selects nothing
        {"type": "Query", "entities": {"type": "ParkingSpot"}},
        {"type": "Query", "entities": [{"type": "ParkingSpot"}], "geoQ": {"georel": "near"}},
        {"type": "Query", "entities": [{"type": "ParkingSpot"}], "bogus": 1},
        {"type": "Query", "entities": [{}]},
    ):
        assert_problem(api.post("/entityOperations/query", json=body), 400, "BadRequestData")


def test_post_query_selector_rules(api: Api) -> None:
    _load(api)
    # an id array selects every named entity; id wins over idPattern
    body = {"type": "Query", "entities": [{"type": "ParkingSpot", "idPattern": ".*:3$",
                                           "id": ["urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:2"]}]}
    assert _ids(api.post("/entityOperations/query", json=body)) == [
        "urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:2"]
    for bad in ({"id": "urn:ngsi-ld:ParkingSpot:1"}, {"type": "ParkingSpot", "id": []}):
        resp = api.post("/entityOperations/query", json={"type": "Query", "entities": [bad]})
        assert_problem(resp, 400, "BadRequestData")
    for extra in ({"attrs": []}, {"joinLevel": 0}, {"temporalQ": {"timerel": "after"}}):
        body = {"type": "Query", "entities": [{"type": "ParkingSpot"}], **extra}
        assert_problem(api.post("/entityOperations/query", json=body), 400, "BadRequestData")


def test_geometry_property_needs_geojson(api: Api) -> None:
    _load(api)
    params = {"type": "ParkingSpot", "geometryProperty": "location"}
    assert_problem(api.get("/entities", params=params), 400, "BadRequestData")
    resp = api.get("/entities", params=params, headers={"Accept": "application/geo+json"})
    assert resp.status_code == 200
    assert resp.json()["type"] == "FeatureCollection"


def test_pagination_links(api: Api) -> None:
    for n in range(3):
        api.create(spot(n, 0.0, 0.0))
    base = {"type": "ParkingSpot", "count": "true"}

    def links(limit: int, offset: int) -> tuple[list[str], list[dict[str, Any]]]:
        resp = api.get("/entities", params={**base, "limit": str(limit), "offset": str(offset)})
        assert resp.headers["ngsild-results-count"] == "3"
        parts = [p.strip() for p in resp.headers.get("link", "").split(",") if 'rel="prev"' in p or 'rel="next"' in p]
        return parts, resp.json()

    first, page = links(1, 0)
    assert len(page) == 1
    page_of = '</ngsi-ld/v1/entities?count=true&limit={}&offset={}&type=ParkingSpot>; rel="{}";type="application/json"'
    assert first == [page_of.format(1, 1, "next")]
    middle, _ = links(1, 1)
    assert sorted(middle) == sorted([page_of.format(1, 0, "prev"), page_of.format(1, 2, "next")])
    last, page = links(2, 2)
    assert len(page) == 1
    assert last == [page_of.format(2, 0, "prev")]
    # following next links visits every entity once, in a stable order
    seen: list[str] = []
    offset = 0
    while True:
        parts, page = links(2, offset)
        seen += [e["id"] for e in page]
        nxt = [p for p in parts if 'rel="next"' in p]
        if not nxt:
            break
        offset = int(nxt[0].split("offset=")[1].split("&")[0])
    assert seen == sorted(f"urn:ngsi-ld:ParkingSpot:{n}" for n in range(3))


def test_type_wildcard_and_too_wide_queries(api: Api) -> None:
    _load(api)
    every = _ids(api.get("/entities", params={"type": "*"}))
    assert "urn:ngsi-ld:Device:1" in every and "urn:ngsi-ld:ParkingSpot:1" in every
    # the next-page link keeps the wildcard, so following it works
    link = api.get("/entities", params={"type": "*", "limit": "1"}).headers["link"]
    nxt = next(p for p in link.split(",") if 'rel="next"' in p).strip()
    query = nxt[nxt.index("?") + 1 : nxt.index(">")]
    assert "type=*" in query
    assert api.get("/entities?" + query).status_code == 200
    assert_problem(api.get("/entities", params={"type": "*", "local": "false"}), 400, "BadRequestData")
    # system attributes alone select everything: refused
    assert_problem(api.get("/entities", params={"attrs": "createdAt"}), 400, "BadRequestData")
    assert_problem(api.get("/entities", params={"q": 'modifiedAt>"2020-01-01T00:00:00Z"'}), 400, "BadRequestData")
    assert _ids(api.get("/entities", params={"attrs": "status"})) == [
        "urn:ngsi-ld:Device:1", "urn:ngsi-ld:ParkingSpot:1", "urn:ngsi-ld:ParkingSpot:2", "urn:ngsi-ld:ParkingSpot:3"]


def test_scope_wildcard_level_in_the_middle(api: Api) -> None:
    api.create(spot(1, 0, 0, scope="/Madrid/Gardens/ParqueNorte"))
    api.create(spot(2, 0, 0, scope="/Madrid/Gardens/Retiro"))
    got = _ids(api.get("/entities", params={"type": "ParkingSpot", "scopeQ": "/Madrid/+/ParqueNorte"}))
    assert got == ["urn:ngsi-ld:ParkingSpot:1"]
    assert_problem(api.get("/entities", params={"type": "ParkingSpot", "scopeQ": "/Madrid/#/x"}), 400,
                   "BadRequestData")


def test_language_members_in_q(api: Api) -> None:
    api.create({"id": "urn:ngsi-ld:Street:1", "type": "Street",
                "color": {"type": "LanguageProperty", "languageMap": {"fr": "rouge", "en": "red"}}})
    api.create({"id": "urn:ngsi-ld:Street:2", "type": "Street",
                "color": {"type": "LanguageProperty", "languageMap": {"en": "rouge"}}})

    def q(text: str) -> list[str]:
        return _ids(api.get("/entities", params={"type": "Street", "q": text}))

    assert q('color[fr]=="rouge"') == ["urn:ngsi-ld:Street:1"]
    assert q('color[en]=="rouge"') == ["urn:ngsi-ld:Street:2"]
    assert q('color[*]=="rouge"') == ["urn:ngsi-ld:Street:1", "urn:ngsi-ld:Street:2"]
    assert q('color[*]=="red"') == ["urn:ngsi-ld:Street:1"]


def test_name_lists_and_minimal_parameters(api: Api) -> None:
    _load(api)
    one = api.get("/entities/urn:ngsi-ld:ParkingSpot:1", params={"pick": "id|status"}).json()
    assert one == api.get("/entities/urn:ngsi-ld:ParkingSpot:1", params={"pick": "id,status"}).json()
    assert set(one) == {"id", "status"}
    for params in ({"pick": "id,,status"}, {"attrs": "status,"}, {"omit": "location", "attrs": "status"}):
        assert_problem(api.get("/entities/urn:ngsi-ld:ParkingSpot:1", params=params), 400, "BadRequestData")
    # an id list alone does not say what to look in (5.7.2.4); with a type it does
    ids = "urn:ngsi-ld:ParkingSpot:1,urn:ngsi-ld:ParkingSpot:2"
    assert_problem(api.get("/entities", params={"id": ids}), 400, "BadRequestData")
    assert _ids(api.get("/entities", params={"id": ids, "type": "ParkingSpot"})) == ids.split(",")
    assert_problem(api.get("/entities", params={"type": "ParkingSpot", "csf": "a=="}), 400, "BadRequestData")


def test_dataset_id_filter(api: Api) -> None:
    api.create({"id": "urn:ngsi-ld:Building:E", "type": "Building", "name": [
        {"type": "Property", "value": "Eiffel Tower"},
        {"type": "Property", "value": "Tour Eiffel", "datasetId": "urn:ngsi-ld:Dataset:fr"},
        {"type": "Property", "value": "Eiffelturm", "datasetId": "urn:ngsi-ld:Dataset:de"}]})

    def names(ds: str) -> Any:
        got = api.get("/entities", params={"type": "Building", "datasetId": ds}).json()
        return got[0].get("name")

    assert names("urn:ngsi-ld:Dataset:fr") == {"type": "Property", "value": "Tour Eiffel",
                                               "datasetId": "urn:ngsi-ld:Dataset:fr"}
    assert names("@none") == {"type": "Property", "value": "Eiffel Tower"}
    assert [n["value"] for n in names("@none,urn:ngsi-ld:Dataset:de")] == ["Eiffel Tower", "Eiffelturm"]
    assert names("urn:ngsi-ld:Dataset:xx") is None


def test_pattern_operators_take_quoted_patterns(api: Api) -> None:
    api.create({"id": "urn:ngsi-ld:Building:1", "type": "Building", "name": "Eiffel Tower",
                "managedBy": {"type": "Relationship", "object": "urn:b"}})
    api.create({"id": "urn:ngsi-ld:Building:2", "type": "Building", "name": "Louvre"})

    def q(text: str) -> list[str]:
        return _ids(api.get("/entities", params={"type": "Building", "q": text}))

    assert q('name!~="^Eiffel"') == ["urn:ngsi-ld:Building:2"]
    assert q('name~="^Eiffel|^Louvre"') == ["urn:ngsi-ld:Building:1", "urn:ngsi-ld:Building:2"]
    assert q("name~=^Eiff") == ["urn:ngsi-ld:Building:1"]
    # ordering comparisons never match a relationship's object
    assert q('managedBy>"urn:a"') == []
    assert q('managedBy=="urn:b"') == ["urn:ngsi-ld:Building:1"]
