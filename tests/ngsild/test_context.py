"""The @context cache: term maps, embedded core contexts, remote contexts, the registry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boulevard.errors import BadRequestData, LdContextNotAvailable
from boulevard.ngsild.context import (
    CORE_CONTEXT_URL,
    CORE_CONTEXTS,
    DEFAULT_VOCAB,
    ContextCache,
    TermMap,
    build_term_map,
    core_context_for,
    is_absolute_iri,
    is_core_url,
)

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
USER_URL = "http://example.org/user.jsonld"
USER_DOC = {
    "@context": {
        "ex": "http://example.org/ns#",
        "speed": "http://example.org/ns#speed",
        "Vehicle": "ex:Vehicle",
        "owner": {"@id": "ex:owner", "@type": "@id"},
        "colour": {"@id": "ex:colour", "@type": "@vocab"},
    }
}


class Fetcher:
    def __init__(self, docs: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        self.docs = docs or {}
        self.error = error
        self.calls: list[str] = []

    async def __call__(self, url: str) -> Any:
        self.calls.append(url)
        if self.error is not None:
            raise self.error
        if url not in self.docs:
            raise OSError(f"no route to {url}")
        return self.docs[url]


def term_map(ref: Any, fetcher: Fetcher | None = None) -> tuple[TermMap, Fetcher]:
    f = fetcher or Fetcher({USER_URL: USER_DOC})
    cache = ContextCache(f)
    return asyncio.run(cache.term_map(ref)), f


CORE = ContextCache(Fetcher()).core


# --- core context ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("term", "iri"),
    [
        ("location", NGSI_LD + "location"),
        ("observationSpace", NGSI_LD + "observationSpace"),
        ("Property", NGSI_LD + "Property"),
        ("description", "http://purl.org/dc/terms/description"),
        ("temperature", DEFAULT_VOCAB + "temperature"),
        ("Room", DEFAULT_VOCAB + "Room"),
        ("http://example.org/x", "http://example.org/x"),
        ("urn:ngsi-ld:thing", "urn:ngsi-ld:thing"),
        ("ngsi-ld:location", NGSI_LD + "location"),
    ],
)
def test_core_expand_compact(term: str, iri: str) -> None:
    assert CORE.expand(term) == iri
    expected_back = "location" if term == "ngsi-ld:location" else term
    assert CORE.compact(iri) == expected_back


def test_core_keyword_aliases() -> None:
    assert CORE.keyword_aliases == {"id": "@id", "type": "@type"}
    assert CORE.vocab == DEFAULT_VOCAB


def test_unknown_iri_compacts_to_itself() -> None:
    assert CORE.compact("http://nowhere.example/a") == "http://nowhere.example/a"


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True)


@given(NAMES)
def test_round_trip_short_names(name: str) -> None:
    """expand then compact gives the name back (or the core term the IRI is known by)."""
    iri = CORE.expand(name)
    assert is_absolute_iri(iri)
    back = CORE.compact(iri)
    assert CORE.expand(back) == iri


@given(NAMES)
def test_round_trip_with_user_context(name: str) -> None:
    tm, _ = term_map(USER_URL)
    iri = tm.expand(name)
    assert tm.expand(tm.compact(iri)) == iri
    prefixed = f"ex:{name}"
    assert tm.expand(prefixed) == f"http://example.org/ns#{name}"
    assert tm.expand(tm.compact(tm.expand(prefixed))) == tm.expand(prefixed)


@pytest.mark.parametrize(
    "url",
    [
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
        "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.1.jsonld",
    ],
)
def test_core_urls_are_recognised_without_network(url: str) -> None:
    assert is_core_url(url)
    failing = Fetcher(error=OSError("network is down"))
    tm, f = term_map(url, failing)
    assert f.calls == []
    assert tm.expand("location") == NGSI_LD + "location"
    assert tm.compact(NGSI_LD + "observedAt") == "observedAt"
    tm2, f2 = term_map([url, {"speed": "http://example.org/speed"}], failing)
    assert f2.calls == []
    assert tm2.expand("speed") == "http://example.org/speed"


@pytest.mark.parametrize(
    "url",
    [
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v2.0.jsonld",
        "https://example.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.json",
    ],
)
def test_non_core_urls(url: str) -> None:
    assert not is_core_url(url)


def test_core_context_versions() -> None:
    assert core_context_for("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld") is CORE_CONTEXTS["1.6"]
    assert core_context_for("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld") is CORE_CONTEXTS["1.9"]
    assert core_context_for("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld") is CORE_CONTEXTS["1.8"]
    assert core_context_for(CORE_CONTEXT_URL) is CORE_CONTEXTS["1.8"]
    # v1.8 is v1.9 plus VocabularyProperty
    assert "VocabularyProperty" in CORE_CONTEXTS["1.8"]
    assert CORE_CONTEXTS["1.8"]["VocabProperty"] == CORE_CONTEXTS["1.9"]["VocabProperty"]


# --- user contexts ---------------------------------------------------------------------------
def test_user_context_terms_expand_and_win_compaction() -> None:
    tm, f = term_map(USER_URL)
    assert f.calls == [USER_URL]
    assert tm.expand("speed") == "http://example.org/ns#speed"
    assert tm.expand("Vehicle") == "http://example.org/ns#Vehicle"
    assert tm.expand("owner") == "http://example.org/ns#owner"
    # the user's term is chosen over the prefixed form and over the full IRI
    assert tm.compact("http://example.org/ns#speed") == "speed"
    assert tm.compact("http://example.org/ns#Vehicle") == "Vehicle"
    # an IRI with no term of its own compacts with the user's prefix
    assert tm.compact("http://example.org/ns#other") == "ex:other"
    # core terms stay available, unknown names fall into the default vocabulary
    assert tm.expand("location") == NGSI_LD + "location"
    assert tm.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert tm.is_vocab_typed("http://example.org/ns#colour")
    assert not tm.is_vocab_typed("http://example.org/ns#speed")
    # without the user context, the same IRI is not compacted to the user's term
    assert CORE.compact("http://example.org/ns#speed") == "http://example.org/ns#speed"


def test_core_terms_cannot_be_redefined_by_a_user_context() -> None:
    tm, _ = term_map({"location": "http://example.org/mylocation", "speed": "http://example.org/speed"})
    assert tm.expand("location") == NGSI_LD + "location"  # the core context is protected
    assert tm.expand("speed") == "http://example.org/speed"


def test_inline_context_and_null_definitions() -> None:
    tm = build_term_map([{"a": "http://x.org/a", "b": "http://x.org/b"}, {"b": None}])
    assert tm.expand("a") == "http://x.org/a"
    assert tm.expand("b") == DEFAULT_VOCAB + "b"


def test_later_definitions_win_and_shortest_term_compacts() -> None:
    tm = build_term_map([{"x": "http://a.org/1"}, {"x": "http://a.org/2", "longer": "http://a.org/2"}])
    assert tm.expand("x") == "http://a.org/2"
    assert tm.compact("http://a.org/2") == "x"
    assert tm.compact("http://a.org/1") == "http://a.org/1"


def test_term_map_is_cached_per_context() -> None:
    f = Fetcher({USER_URL: USER_DOC})
    cache = ContextCache(f)

    async def twice() -> tuple[TermMap, TermMap]:
        return await cache.term_map(USER_URL), await cache.term_map(USER_URL)

    a, b = asyncio.run(twice())
    assert a is b
    assert f.calls == [USER_URL]


def test_concurrent_resolution_fetches_once() -> None:
    f = Fetcher({USER_URL: USER_DOC})
    cache = ContextCache(f)

    async def many() -> list[TermMap]:
        return await asyncio.gather(*(cache.term_map([USER_URL, {"n": f"http://n.org/{i}"}]) for i in range(10)))

    maps = asyncio.run(many())
    assert f.calls == [USER_URL]
    assert {m.expand("n") for m in maps} == {f"http://n.org/{i}" for i in range(10)}


@pytest.mark.parametrize("error", [OSError("down"), TimeoutError("slow"), RuntimeError("boom")])
def test_unavailable_context_raises_ld_context_not_available(error: Exception) -> None:
    with pytest.raises(LdContextNotAvailable) as exc:
        term_map("http://example.org/missing.jsonld", Fetcher(error=error))
    assert exc.value.kind == "LdContextNotAvailable"
    assert exc.value.status in (503, 504)
    assert "http://example.org/missing.jsonld" in exc.value.detail


def test_nested_unavailable_context_raises() -> None:
    f = Fetcher({USER_URL: {"@context": ["http://example.org/missing.jsonld"]}})
    with pytest.raises(LdContextNotAvailable):
        term_map(USER_URL, f)


@pytest.mark.parametrize(
    "doc", [[1, 2], {"no": "context"}, "text"],
)
def test_document_without_context_is_bad_request(doc: Any) -> None:
    with pytest.raises(BadRequestData):
        term_map(USER_URL, Fetcher({USER_URL: doc}))


@pytest.mark.parametrize(
    "ref",
    [
        42,
        [USER_URL, 3],
        "relative/ctx.jsonld",
        {"scoped": {"@id": "http://x.org/s", "@context": {"a": "http://x.org/a"}}},
    ],
)
def test_invalid_context_references(ref: Any) -> None:
    with pytest.raises(BadRequestData):
        term_map(ref)


def test_too_deep_contexts_are_rejected() -> None:
    docs = {f"http://x.org/{i}": {"@context": f"http://x.org/{i + 1}"} for i in range(20)}
    with pytest.raises(BadRequestData):
        term_map("http://x.org/0", Fetcher(docs))


def test_self_referencing_context_does_not_loop_forever() -> None:
    docs = {"http://x.org/loop": {"@context": ["http://x.org/loop"]}}
    with pytest.raises(BadRequestData):
        term_map("http://x.org/loop", Fetcher(docs))


def test_empty_references_give_the_core_map() -> None:
    cache = ContextCache(Fetcher())
    for ref in (None, "", []):
        assert asyncio.run(cache.term_map(ref)) is cache.core


# --- registry -----------------------------------------------------------------------------------
def test_registry_hosted_entries() -> None:
    cache = ContextCache(Fetcher(), base_url="http://broker.example:1026/")
    entry = cache.add_hosted({"@context": {"a": "http://x.org/a"}}, tenant="t1")
    assert entry.url == f"http://broker.example:1026/ngsi-ld/v1/jsonldContexts/{entry.id}"
    assert cache.get_entry(entry.id, "t1") is entry
    assert cache.get_entry(entry.url, "t1") is entry
    assert cache.get_entry(entry.id, "t2") is None
    assert entry in cache.entries("t1")
    assert entry not in cache.entries("")
    info = entry.info()
    assert info["kind"] == "Hosted" and "numberOfHits" not in info
    tm = asyncio.run(cache.term_map(entry.url))
    assert tm.expand("a") == "http://x.org/a"
    cache.delete_entry(entry)
    assert cache.get_entry(entry.id, "t1") is None


def test_registry_cached_entries_count_hits() -> None:
    f = Fetcher({USER_URL: USER_DOC})
    cache = ContextCache(f)
    asyncio.run(cache.term_map(USER_URL))
    asyncio.run(cache.term_map(USER_URL))
    (entry,) = cache.entries()
    assert entry.kind == "Cached"
    assert entry.tenant is None  # shared by all tenants
    assert entry.hits >= 2
    assert entry.info()["numberOfHits"] == entry.hits
    assert cache.get_entry(USER_URL, "any-tenant") is entry


def test_reload_refetches_and_invalidates_maps() -> None:
    f = Fetcher({USER_URL: USER_DOC})
    cache = ContextCache(f)
    assert asyncio.run(cache.term_map(USER_URL)).expand("speed") == "http://example.org/ns#speed"
    f.docs[USER_URL] = {"@context": {"speed": "http://example.org/v2#speed"}}
    (entry,) = cache.entries()

    async def reload() -> TermMap:
        await cache.reload_entry(entry)
        return await cache.term_map(USER_URL)

    assert asyncio.run(reload()).expand("speed") == "http://example.org/v2#speed"
    assert f.calls == [USER_URL, USER_URL]
