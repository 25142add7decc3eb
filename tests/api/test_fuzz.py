"""Property tests: whatever JSON a client sends, the broker answers 2xx or a 4xx ProblemDetails, never 5xx."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import ERRORS, Api, FakeFetcher, close_api, make_app, open_api

EID = "urn:ngsi-ld:Room:fuzz"
VALID: dict[str, Any] = {
    "id": EID,
    "type": "Room",
    "scope": "/a/b",
    "temperature": {"type": "Property", "value": 21.5, "unitCode": "CEL", "observedAt": "2024-01-01T00:00:00Z",
                    "accuracy": {"type": "Property", "value": 0.5}},
    "isPartOf": {"type": "Relationship", "object": "urn:ngsi-ld:Building:B"},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [7.2, 43.7]}},
    "name": {"type": "LanguageProperty", "languageMap": {"en": "Hall"}},
    "category": {"type": "VocabProperty", "vocab": "office"},
    "config": {"type": "JsonProperty", "json": {"a": 1}},
    "readings": {"type": "ListProperty", "valueList": [1, 2]},
    "next": {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Room:2"}]},
    "multi": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2, "datasetId": "urn:ds:1"}],
}
PATHS: list[tuple[str, ...]] = [
    ("id",), ("type",), ("scope",), ("@context",), ("temperature",), ("temperature", "value"),
    ("temperature", "type"), ("temperature", "unitCode"), ("temperature", "observedAt"),
    ("temperature", "datasetId"), ("temperature", "accuracy"), ("temperature", "accuracy", "value"),
    ("isPartOf",), ("isPartOf", "object"), ("isPartOf", "type"), ("isPartOf", "objectType"),
    ("location",), ("location", "value"), ("location", "value", "type"), ("location", "value", "coordinates"),
    ("name", "languageMap"), ("name", "languageMap", "en"), ("category", "vocab"), ("config", "json"),
    ("readings", "valueList"), ("next", "objectList"), ("multi",), ("newAttr",), ("createdAt",),
]
KEYS = st.one_of(
    st.sampled_from([
        "id", "type", "value", "object", "objectType", "@context", "@id", "@type", "datasetId", "observedAt",
        "unitCode", "languageMap", "vocab", "json", "valueList", "objectList", "scope", "location",
        "coordinates", "Property", "Relationship", "GeoProperty", "createdAt", "lang", "urn:ngsi-ld:null",
        "ngsildproof", "entityIdSealed", "previousValue",
    ]),
    st.text(max_size=8),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from([
        "urn:ngsi-ld:null", "urn:ngsi-ld:Room:1", EID, "Property", "Relationship", "GeoProperty",
        "LanguageProperty", "VocabProperty", "JsonProperty", "ListProperty", "ListRelationship", "Point",
        "Polygon", "2024-01-01T00:00:00Z", "@none", "/a/b", "http://example.org/ctx.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld", "",
    ]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=8,
)
DELETE = object()


def _apply(edits: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    for path, value in edits:
        node: Any = body
        for key in path[:-1]:
            if not isinstance(node, dict) or not isinstance(node.get(key), dict):
                node = None
                break
            node = node[key]
        if isinstance(node, dict):
            if value is DELETE:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    return body


MUTATED = st.lists(
    st.tuples(st.sampled_from(PATHS), JSON_VALUES | st.just(DELETE)), min_size=1, max_size=3
).map(_apply)
BODIES = st.one_of(JSON_VALUES, MUTATED, st.dictionaries(KEYS, JSON_VALUES, max_size=6))
BATCH_BODIES = st.one_of(JSON_VALUES, st.lists(st.one_of(MUTATED, JSON_VALUES), min_size=1, max_size=4))
CONTENT_TYPES = st.sampled_from(["application/json", "application/json", "application/ld+json",
                                 "application/merge-patch+json"])

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])


class AnyContext(FakeFetcher):
    """Serves a small valid @context for every URL, so that no request fails for the network."""

    async def __call__(self, url: str) -> Any:
        return {"@context": {"extra": "http://example.org/extra"}}


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    fetcher = AnyContext()
    app, settings_ = make_app(tmp_path_factory.mktemp("fuzz"), fetcher)
    with asyncio.Runner() as runner:
        client_api, lifespan = open_api(runner, app, fetcher, settings_)
        try:
            yield client_api
        finally:
            close_api(client_api, lifespan)


def check(api: Api, method: str, path: str, body: Any, ctype: str = "application/json") -> int:
    content = json.dumps(body).encode()
    resp = api.request(method, path, content=content, headers={"Content-Type": ctype})
    assert resp.status_code < 500, (method, path, body, resp.status_code, resp.text)
    if resp.status_code >= 400 and resp.status_code != 411:
        problem = resp.json()
        assert problem["type"].startswith(ERRORS), problem
        assert problem["title"] and problem["detail"], problem
    if resp.status_code == 207:
        assert isinstance(resp.json(), dict)
    return resp.status_code


class Target:
    """The entity the fuzzed requests aim at, restored only after a request changed something."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.dirty = True

    def reset(self, present: bool = True) -> None:
        if not self.dirty:
            return
        if present:
            resp = self.api.post("/entityOperations/upsert", json=[VALID])
            assert resp.status_code in (201, 204), resp.text
        else:
            assert self.api.delete(f"/entities/{EID}").status_code in (204, 404)
        self.dirty = False

    def after(self, status: int, representation: str) -> None:
        if status < 300 or status == 207:
            self.dirty = True
            # whatever was written still renders
            resp = self.api.get(f"/entities/{EID}", params={"options": representation})
            assert resp.status_code in (200, 404), resp.text


REPRESENTATIONS = st.sampled_from(["normalized", "concise", "keyValues", "sysAttrs"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/entities"),
        ("POST", f"/entities/{EID}/attrs"),
        ("PATCH", f"/entities/{EID}/attrs"),
        ("PATCH", f"/entities/{EID}"),
        ("PUT", f"/entities/{EID}"),
        ("PATCH", f"/entities/{EID}/attrs/temperature"),
        ("PUT", f"/entities/{EID}/attrs/temperature"),
        ("PATCH", f"/entities/{EID}/attrs/multi"),
    ],
)
def test_single_entity_endpoints_never_fail_with_5xx(fuzz_api: Api, method: str, path: str) -> None:
    target = Target(fuzz_api)

    @FUZZ
    @given(body=BODIES, ctype=CONTENT_TYPES, representation=REPRESENTATIONS)
    def run(body: Any, ctype: str, representation: str) -> None:
        target.reset(present=path != "/entities")
        target.after(check(fuzz_api, method, path, body, ctype), representation)

    run()


@pytest.mark.parametrize("operation", ["create", "upsert", "update", "merge", "delete"])
def test_batch_endpoints_never_fail_with_5xx(fuzz_api: Api, operation: str) -> None:
    target = Target(fuzz_api)

    @FUZZ
    @given(body=BATCH_BODIES, ctype=CONTENT_TYPES, representation=REPRESENTATIONS)
    def run(body: Any, ctype: str, representation: str) -> None:
        target.reset(present=operation != "create")
        if operation == "delete" and isinstance(body, list):
            body = [item.get("id", item) if isinstance(item, dict) else item for item in body]
        target.after(check(fuzz_api, "POST", f"/entityOperations/{operation}", body, ctype), representation)

    run()


def test_context_registry_never_fails_with_5xx(fuzz_api: Api) -> None:
    @FUZZ
    @given(body=st.one_of(JSON_VALUES, st.builds(lambda c: {"@context": c}, JSON_VALUES)))
    def run(body: Any) -> None:
        check(fuzz_api, "POST", "/jsonldContexts", body)

    run()


@given(text=st.text(max_size=40))
@settings(max_examples=100, deadline=None)
def test_random_q_and_query_parameters_never_fail_with_5xx(fuzz_api: Api, text: str) -> None:
    for params in ({"type": "Room", "q": text}, {"type": text}, {"type": "Room", "attrs": text},
                   {"idPattern": text}, {"type": "Room", "limit": text}, {"type": "Room", "options": text}):
        resp = fuzz_api.get("/entities", params=params)
        assert resp.status_code < 500, (params, resp.text)
    resp = fuzz_api.get(f"/entities/{EID}", params={"pick": text})
    assert resp.status_code < 500
    resp = fuzz_api.delete("/entities", params={"type": "Nothing", "q": text})
    assert resp.status_code < 500


def _nested_list(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _nested_sub_attributes(depth: int) -> str:
    # {"type":"Property","value":1,"sub":{... depth times ...}}
    head = '{"type":"Property","value":1,"sub":' * depth
    return head + '{"type":"Property","value":1}' + "}" * depth


def _post_raw(api: Api, attr_json: str) -> Any:
    payload = f'{{"id":"{EID}","type":"Room","deep":{attr_json}}}'.encode()
    return api.post("/entities", content=payload, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("depth", [100, 300, 1000])
def test_deeply_nested_value_is_not_a_server_error(api: Api, depth: int) -> None:
    """orjson reads 1024 levels but writes only 254: a deep value must be refused (4xx), not crash (500)."""
    resp = _post_raw(api, f'{{"type":"Property","value":{_nested_list(depth)}}}')
    assert resp.status_code < 500, resp.text[:300]
    if resp.status_code == 201:
        assert api.get(f"/entities/{EID}").status_code == 200
    else:
        assert resp.json()["type"].startswith(ERRORS)


@pytest.mark.parametrize("depth", [50, 300, 1000])
def test_deeply_nested_sub_attributes_are_not_a_server_error(api: Api, depth: int) -> None:
    resp = _post_raw(api, _nested_sub_attributes(depth))
    assert resp.status_code < 500, resp.text[:300]
    if resp.status_code == 201:
        assert api.get(f"/entities/{EID}").status_code == 200
    else:
        assert resp.json()["type"].startswith(ERRORS)
