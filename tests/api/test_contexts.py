"""The @context registry under /jsonldContexts (clause 6.29), and hosted contexts used in requests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from support import (
    CORE_URL,
    USER_CTX_URL,
    Api,
    FakeFetcher,
    assert_problem,
    close_api,
    link,
    make_app,
    open_api,
)

DOC = {"@context": {"speed": "http://example.org/speed", "Car": "http://example.org/Car"}}


def add(api: Api, doc: Any = DOC, headers: dict[str, str] | None = None) -> str:
    resp = api.post("/jsonldContexts", json=doc, headers=headers)
    assert resp.status_code == 201, resp.text
    location: str = resp.headers["location"]
    assert location.startswith("/ngsi-ld/v1/jsonldContexts/")
    return location


def test_add_serve_list_delete(api: Api) -> None:
    loc = add(api)
    local_id = loc.rsplit("/", 1)[1]
    url = api.settings.base_url + loc
    # served back as stored
    resp = api.get(loc)
    assert resp.status_code == 200
    assert resp.json() == DOC
    # listed, after the core context
    listed = api.get("/jsonldContexts").json()
    assert listed[0] == CORE_URL
    assert url in listed
    details = api.get(loc, params={"details": "true"}).json()
    assert details["URL"] == url
    assert details["localId"] == local_id
    assert details["kind"] == "Hosted"
    assert details["createdAt"].endswith("Z")
    all_details = api.get("/jsonldContexts", params={"details": "true"}).json()
    assert [d["localId"] for d in all_details] == [local_id]
    # deleted
    assert api.delete(loc).status_code == 204
    assert_problem(api.get(loc), 404, "ResourceNotFound")
    assert_problem(api.delete(loc), 404, "ResourceNotFound")
    assert url not in api.get("/jsonldContexts").json()


def test_hosted_context_is_usable_without_network(api: Api) -> None:
    loc = add(api)
    url = api.settings.base_url + loc
    ctx = {"Link": link(url)}
    resp = api.post("/entities", json={"id": "urn:ngsi-ld:Car:1", "type": "Car", "speed": 50}, headers=ctx)
    assert resp.status_code == 201, resp.text
    assert api.fetcher.calls == []  # served from the registry
    got = api.entity("urn:ngsi-ld:Car:1", headers=ctx)
    assert got["type"] == "Car"
    assert got["speed"]["value"] == 50
    core = api.entity("urn:ngsi-ld:Car:1")
    assert core["type"] == "http://example.org/Car"
    assert core["http://example.org/speed"]["value"] == 50
    # the same document under its URL
    assert api.get("/jsonldContexts/" + url).json() == DOC


def test_hosted_contexts_belong_to_their_tenant(api: Api) -> None:
    loc = add(api, headers={"NGSILD-Tenant": "t1"})
    url = api.settings.base_url + loc
    assert url in api.get("/jsonldContexts", headers={"NGSILD-Tenant": "t1"}).json()
    assert url not in api.get("/jsonldContexts").json()
    assert url not in api.get("/jsonldContexts", headers={"NGSILD-Tenant": "t2"}).json()
    assert_problem(api.get(loc), 404, "ResourceNotFound")
    assert_problem(api.delete(loc, headers={"NGSILD-Tenant": "t2"}), 404, "ResourceNotFound")
    assert api.get(loc, headers={"NGSILD-Tenant": "t1"}).json() == DOC


def test_cached_contexts_are_listed_with_hits(api: Api) -> None:
    api.create({"id": "urn:ngsi-ld:Room:1", "type": "Room"}, headers={"Link": link(USER_CTX_URL)})
    hosted = add(api)
    cached = api.get("/jsonldContexts", params={"kind": "Cached", "details": "true"}).json()
    assert [c["URL"] for c in cached] == [USER_CTX_URL]
    first_hits = cached[0]["numberOfHits"]
    assert first_hits >= 1
    assert cached[0]["lastUsage"].endswith("Z")
    api.entity("urn:ngsi-ld:Room:1", headers={"Link": link(USER_CTX_URL)})
    again = api.get("/jsonldContexts", params={"kind": "Cached", "details": "true"}).json()
    assert again[0]["numberOfHits"] > first_hits
    assert api.get("/jsonldContexts", params={"kind": "Cached"}).json() == [CORE_URL, USER_CTX_URL]
    assert api.get("/jsonldContexts", params={"kind": "Hosted"}).json() == [api.settings.base_url + hosted]
    assert api.get("/jsonldContexts", params={"kind": "ImplicitlyCreated"}).json() == []
    # a cached context is served by its local id too
    local_id = cached[0]["localId"]
    assert api.get(f"/jsonldContexts/{local_id}").json() == {"@context": {
        "ex": "http://example.org/vocab#",
        "temperature": "http://example.org/vocab#temperature",
        "Room": "http://example.org/vocab#Room",
        "isIn": {"@id": "http://example.org/vocab#isIn", "@type": "@id"},
    }}


def test_reload_cached_context_refetches(api: Api) -> None:
    api.create({"id": "urn:ngsi-ld:Room:1", "type": "Room"}, headers={"Link": link(USER_CTX_URL)})
    local_id = api.get("/jsonldContexts", params={"kind": "Cached", "details": "true"}).json()[0]["localId"]
    calls = api.fetcher.calls.count(USER_CTX_URL)
    api.fetcher.docs[USER_CTX_URL] = {"@context": {"Room": "http://example.org/v2#Room"}}
    assert api.delete(f"/jsonldContexts/{local_id}", params={"reload": "true"}).status_code == 204
    assert api.fetcher.calls.count(USER_CTX_URL) == calls + 1
    got = api.entity("urn:ngsi-ld:Room:1", headers={"Link": link(USER_CTX_URL)})
    assert got["type"] == "http://example.org/vocab#Room"  # no longer a term of the reloaded context
    hosted = add(api)
    assert_problem(api.delete(hosted, params={"reload": "true"}), 400, "BadRequestData")
    assert_problem(api.delete("/jsonldContexts/unknown", params={"reload": "true"}), 400, "BadRequestData")


def test_core_context_is_served_and_protected(api: Api) -> None:
    resp = api.get("/jsonldContexts/" + CORE_URL)
    assert resp.status_code == 200
    ctx = resp.json()["@context"]
    assert ctx["Property"] == "ngsi-ld:Property"
    assert api.get("/jsonldContexts/" + CORE_URL, params={"details": "true"}).json()["kind"] == "Cached"
    assert_problem(api.delete("/jsonldContexts/" + CORE_URL), 400, "BadRequestData")
    assert_problem(api.delete("/jsonldContexts/core"), 400, "BadRequestData")
    assert api.delete("/jsonldContexts/" + CORE_URL, params={"reload": "true"}).status_code == 204
    assert api.get("/jsonldContexts/" + CORE_URL).status_code == 200


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"{not json", "InvalidRequest"),
        (b"[]", "InvalidRequest"),
        (b'{"speed": "http://example.org/speed"}', "InvalidRequest"),
        (b'{"@context": 5}', "BadRequestData"),
        (b'{"@context": [5]}', "BadRequestData"),
        (b'{"@context": "relative/path.jsonld"}', "BadRequestData"),
    ],
)
def test_add_invalid_documents(api: Api, payload: bytes, kind: str) -> None:
    resp = api.post("/jsonldContexts", content=payload, headers={"Content-Type": "application/json"})
    assert_problem(resp, 400, kind)
    assert api.get("/jsonldContexts", params={"kind": "Hosted"}).json() == []


def test_registry_parameter_errors(api: Api) -> None:
    assert_problem(api.post("/jsonldContexts", json=DOC, params={"x": "1"}), 400, "InvalidRequest")
    assert_problem(api.post("/jsonldContexts", content=b"{}", headers={"Content-Type": "text/plain"}),
                   415, "UnsupportedMediaType")
    assert_problem(api.get("/jsonldContexts", params={"kind": "Other"}), 400, "BadRequestData")
    assert_problem(api.get("/jsonldContexts", params={"details": "yes"}), 400, "BadRequestData")
    assert_problem(api.get("/jsonldContexts", params={"bogus": "1"}), 400, "InvalidRequest")
    assert_problem(api.get("/jsonldContexts/nothing"), 404, "ResourceNotFound")
    assert_problem(api.delete("/jsonldContexts/nothing"), 404, "ResourceNotFound")
    assert api.get("/jsonldContexts", params={"kind": "Hosted"}).json() == []


def test_array_and_url_contexts_are_accepted(api: Api) -> None:
    loc = add(api, {"@context": [USER_CTX_URL, {"extra": "http://example.org/extra"}]})
    url = api.settings.base_url + loc
    resp = api.post("/entities", json={"id": "urn:ngsi-ld:Room:9", "type": "Room", "extra": 1, "temperature": 2},
                    headers={"Link": link(url)})
    assert resp.status_code == 201, resp.text
    core = api.entity("urn:ngsi-ld:Room:9")
    assert core["type"] == "http://example.org/vocab#Room"
    assert "http://example.org/extra" in core
    assert "http://example.org/vocab#temperature" in core


def test_inline_context_objects_are_kept_as_implicitly_created(api: Api) -> None:
    inline = [{"speed": "http://example.org/speed"}, CORE_URL]
    for n in (1, 2):
        body = {"id": f"urn:ngsi-ld:Car:{n}", "type": "Car", "speed": n, "@context": inline}
        resp = api.post("/entities", json=body, headers={"Content-Type": "application/ld+json"})
        assert resp.status_code == 201, resp.text
    implicit = api.get("/jsonldContexts", params={"kind": "ImplicitlyCreated", "details": "true"}).json()
    assert len(implicit) == 1  # the same inline context is kept once
    entry = implicit[0]
    assert entry["kind"] == "ImplicitlyCreated"
    assert api.get(f"/jsonldContexts/{entry['localId']}").json() == {"@context": inline}
    # and it can be named by its URL afterwards
    got = api.entity("urn:ngsi-ld:Car:2", headers={"Link": link(entry["URL"])})
    assert got["speed"]["value"] == 2
    assert api.fetcher.calls == []
    # a plain URL reference is not an implicit context
    api.create({"id": "urn:ngsi-ld:Room:1", "type": "Room"}, headers={"Link": link(USER_CTX_URL)})
    assert len(api.get("/jsonldContexts", params={"kind": "ImplicitlyCreated"}).json()) == 1


def test_hosted_contexts_survive_a_restart(tmp_path: Path, fetcher: FakeFetcher) -> None:
    doc = {"@context": {"height": "http://example.org/height"}}
    with asyncio.Runner() as runner:
        app, settings = make_app(tmp_path, fetcher)
        api, lifespan = open_api(runner, app, fetcher, settings)
        kept = api.post("/jsonldContexts", json=doc).headers["Location"].rsplit("/", 1)[1]
        gone = api.post("/jsonldContexts", json=doc).headers["Location"].rsplit("/", 1)[1]
        assert api.delete(f"/jsonldContexts/{gone}").status_code == 204
        close_api(api, lifespan)
        app, settings = make_app(tmp_path, fetcher)  # same database file, a new process-worth of state
        api, lifespan = open_api(runner, app, fetcher, settings)
        try:
            assert api.get(f"/jsonldContexts/{kept}").json() == doc
            assert_problem(api.get(f"/jsonldContexts/{gone}"), 404, "ResourceNotFound")
            url = api.get(f"/jsonldContexts/{kept}", params={"details": "true"}).json()["URL"]
            created = api.create({"id": "urn:ngsi-ld:Tower:1", "type": "Tower", "height": 300},
                                 headers={"Link": link(url)})
            assert created.status_code == 201, created.text
            assert "http://example.org/height" in api.entity("urn:ngsi-ld:Tower:1")
        finally:
            close_api(api, lifespan)
