"""The one NGSI-LD @context cache: core contexts, term maps, remote contexts.

A request names its @context by a ``Link`` header, an inline ``@context``
member, or not at all (core context only). ``ContextCache.term_map`` turns that
into a ``TermMap`` — the expansion and compaction tables of the active context
— computed once per distinct context set and reused on the hot path.

The core context is embedded (``contexts/``), never fetched; other URLs are
fetched with a timeout and cached, or raise ``LdContextNotAvailable``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson

from boulevard.errors import BadRequestData, LdContextNotAvailable

CORE_V18 = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
CORE_CONTEXT_URL = CORE_V18
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
_CORE_URL_RE = re.compile(
    r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(-v1\.(\d+)(\.\d+)?)?\.jsonld$"
)
_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
MAX_CONTEXT_DEPTH = 8

ContextRef = str | dict[str, Any]
Fetcher = Callable[[str], Awaitable[Any]]


def is_core_url(url: str) -> bool:
    return _CORE_URL_RE.match(url) is not None


def is_absolute_iri(value: str) -> bool:
    return _ABSOLUTE_IRI.match(value) is not None


def _load_core(version: str) -> dict[str, Any]:
    path = resources.files("boulevard.ngsild") / "contexts" / f"ngsi-ld-core-context-v{version}.jsonld"
    doc: dict[str, Any] = orjson.loads(path.read_bytes())["@context"]
    return doc


def _build_core_contexts() -> dict[str, dict[str, Any]]:
    v16, v17, v19 = _load_core("1.6"), _load_core("1.7"), _load_core("1.9")
    v18 = dict(v19)
    v18["VocabularyProperty"] = v17["VocabularyProperty"]
    return {"1.6": v16, "1.7": v17, "1.8": v18, "1.9": v19}


CORE_CONTEXTS = _build_core_contexts()


def core_context_for(url: str) -> dict[str, Any]:
    """The embedded core context a core-context URL names (v1.8 when unversioned)."""
    m = _CORE_URL_RE.match(url)
    minor = m.group(2) if m else None
    return CORE_CONTEXTS.get(f"1.{minor}", CORE_CONTEXTS["1.8"]) if minor else CORE_CONTEXTS["1.8"]


def core_context_document() -> dict[str, Any]:
    return {"@context": CORE_CONTEXTS["1.8"]}


@dataclass
class TermMap:
    """Expansion and compaction tables of one active context."""

    terms: dict[str, str]
    vocab: str
    keyword_aliases: dict[str, str]
    vocab_typed: frozenset[str]
    reverse: dict[str, str] = field(default_factory=dict)
    prefixes: list[tuple[str, str]] = field(default_factory=list)
    _expanded: dict[str, str] = field(default_factory=dict)
    _compacted: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for term, iri in self.terms.items():
            best = self.reverse.get(iri)
            if best is None or (len(term), term) < (len(best), best):
                self.reverse[iri] = term
            if iri.endswith(("/", "#", ":", "?", "[", "]", "@")) and ":" not in term:
                self.prefixes.append((iri, term))
        self.prefixes.sort(key=lambda p: -len(p[0]))

    def expand(self, term: str) -> str:
        """Expand an attribute name or type to its IRI (memoised)."""
        hit = self._expanded.get(term)
        if hit is not None:
            return hit
        iri = self._expand(term)
        if len(self._expanded) < 100_000:
            self._expanded[term] = iri
        return iri

    def _expand(self, term: str) -> str:
        if term in self.terms:
            return self.terms[term]
        if ":" in term:
            prefix, _, suffix = term.partition(":")
            if not suffix.startswith("//") and prefix in self.terms:
                return self.terms[prefix] + suffix
            if is_absolute_iri(term):
                return term
        return self.vocab + term

    def compact(self, iri: str) -> str:
        """Compact an IRI to the shortest term of the active context (memoised)."""
        hit = self._compacted.get(iri)
        if hit is not None:
            return hit
        term = self._compact(iri)
        if len(self._compacted) < 100_000:
            self._compacted[iri] = term
        return term

    def _compact(self, iri: str) -> str:
        term = self.reverse.get(iri)
        if term is not None:
            return term
        if iri.startswith(self.vocab):
            rest = iri[len(self.vocab) :]
            if rest and rest not in self.terms and ":" not in rest:
                return rest
        for prefix_iri, prefix in self.prefixes:
            if iri.startswith(prefix_iri) and len(iri) > len(prefix_iri):
                candidate = f"{prefix}:{iri[len(prefix_iri):]}"
                if candidate not in self.terms:
                    return candidate
        return iri

    def is_vocab_typed(self, iri: str) -> bool:
        return iri in self.vocab_typed


def _resolve_iri(value: str, raw: Mapping[str, Any], vocab: str, seen: frozenset[str] = frozenset()) -> str:
    if value.startswith("@"):
        return value
    if ":" in value:
        prefix, _, suffix = value.partition(":")
        if not suffix.startswith("//") and prefix in raw and prefix not in seen:
            target = raw[prefix]
            if isinstance(target, dict):
                target = target.get("@id", prefix)
            if isinstance(target, str):
                return _resolve_iri(target, raw, vocab, seen | {prefix}) + suffix
        return value
    if value in raw and value not in seen:
        target = raw[value]
        if isinstance(target, dict):
            target = target.get("@id", value)
        if isinstance(target, str):
            return _resolve_iri(target, raw, vocab, seen | {value})
    return vocab + value


def build_term_map(contexts: Iterable[Mapping[str, Any]]) -> TermMap:
    """Process local context objects in order (later definitions win)."""
    raw: dict[str, Any] = {}
    vocab: str | None = None
    for ctx in contexts:
        for key, val in ctx.items():
            if key == "@vocab":
                vocab = val if isinstance(val, str) else None
            elif key.startswith("@"):
                continue
            elif val is None:
                raw.pop(key, None)
            else:
                raw[key] = val
    active_vocab = DEFAULT_VOCAB if vocab is None else _resolve_iri(vocab, raw, DEFAULT_VOCAB)
    terms: dict[str, str] = {}
    aliases: dict[str, str] = {}
    vocab_typed: set[str] = set()
    for term, definition in raw.items():
        if isinstance(definition, str):
            target = definition
            typ = None
        elif isinstance(definition, dict):
            target = definition.get("@id", term) or term
            typ = definition.get("@type")
            if not isinstance(target, str):
                continue
        else:
            continue
        if target.startswith("@"):
            aliases[term] = target
            continue
        iri = _resolve_iri(target, raw, active_vocab, frozenset({term}) if target == term else frozenset())
        if target == term and ":" not in term:
            iri = active_vocab + term
        terms[term] = iri
        if typ == "@vocab":
            vocab_typed.add(iri)
    return TermMap(terms=terms, vocab=active_vocab, keyword_aliases=aliases, vocab_typed=frozenset(vocab_typed))


@dataclass
class StoredContext:
    """An entry of the /jsonldContexts registry."""

    id: str
    url: str
    kind: str  # "Hosted" | "Cached" | "ImplicitlyCreated"
    body: Any
    created_at: str
    last_usage: str | None = None
    hits: int = 0
    tenant: str | None = None  # Hosted contexts belong to a tenant; cached ones are shared

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "URL": self.url,
            "localId": self.id,
            "kind": self.kind,
            "createdAt": self.created_at,
        }
        if self.kind != "Hosted":
            out["lastUsage"] = self.last_usage or self.created_at
            out["numberOfHits"] = self.hits
        return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ContextCache:
    """Resolves @context references to term maps; owns the /jsonldContexts registry."""

    def __init__(self, fetcher: Fetcher | None = None, base_url: str = "http://127.0.0.1:1026") -> None:
        self._fetcher = fetcher or _http_fetch
        self.base_url = base_url.rstrip("/")
        self._maps: dict[str, TermMap] = {}
        self._docs: dict[str, StoredContext] = {}  # by URL
        self._by_id: dict[str, StoredContext] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._implicit_keys: dict[str, str] = {}  # canonical inline @context -> local id
        self.core = build_term_map([CORE_CONTEXTS["1.8"]])
        self._maps[""] = self.core

    # -- registry -----------------------------------------------------------
    def hosted_url(self, local_id: str) -> str:
        return f"{self.base_url}/ngsi-ld/v1/jsonldContexts/{local_id}"

    def new_hosted(self, body: Any, tenant: str = "") -> StoredContext:
        """A Hosted context, not yet registered (persist it, then ``register`` it)."""
        local_id = uuid.uuid4().hex
        return StoredContext(local_id, self.hosted_url(local_id), "Hosted", body, _now(), tenant=tenant)

    def register(self, entry: StoredContext) -> None:
        self._remember(entry)

    def add_hosted(self, body: Any, tenant: str = "") -> StoredContext:
        entry = self.new_hosted(body, tenant)
        self.register(entry)
        return entry

    def restore(self, rows: list[dict[str, Any]]) -> None:
        """Register the Hosted contexts a store kept across restarts."""
        for row in rows:
            self._remember(
                StoredContext(row["id"], self.hosted_url(row["id"]), "Hosted", row["body"], row["created_at"],
                              tenant=row["tenant"])
            )

    def _remember(self, entry: StoredContext) -> None:
        self._docs[entry.url] = entry
        self._by_id[entry.id] = entry

    def entries(self, tenant: str = "") -> list[StoredContext]:
        return [e for e in self._by_id.values() if e.tenant is None or e.tenant == tenant]

    def get_entry(self, local_id_or_url: str, tenant: str = "") -> StoredContext | None:
        key = local_id_or_url
        hit = self._by_id.get(key) or self._docs.get(key)
        if hit is None and "/jsonldContexts/" in key:
            hit = self._by_id.get(key.rsplit("/jsonldContexts/", 1)[1])
        if hit is not None and hit.tenant is not None and hit.tenant != tenant:
            return None
        return hit

    def delete_entry(self, entry: StoredContext) -> None:
        self._implicit_keys = {k: v for k, v in self._implicit_keys.items() if v != entry.id}
        self._by_id.pop(entry.id, None)
        self._docs.pop(entry.url, None)
        self._maps.clear()
        self._maps[""] = self.core

    async def reload_entry(self, entry: StoredContext) -> StoredContext:
        body = await self._fetch(entry.url)
        entry.body = body
        entry.created_at = _now()
        self._maps.clear()
        self._maps[""] = self.core
        return entry

    # -- resolution ---------------------------------------------------------
    async def term_map(self, ref: ContextRef | list[ContextRef] | None) -> TermMap:
        """The term map of a request's context (core context appended last)."""
        if ref is None or ref == [] or ref == "":
            return self.core
        key = ref if isinstance(ref, str) else orjson.dumps(ref, option=orjson.OPT_SORT_KEYS).decode()
        hit = self._maps.get(key)
        if hit is not None:
            self._touch(ref)
            return hit
        locals_: list[Mapping[str, Any]] = []
        await self._flatten(ref, locals_, 0)
        locals_.append(CORE_CONTEXTS["1.8"])
        tm = build_term_map(locals_)
        if not isinstance(ref, str):
            self._implicit(key, ref)
        if len(self._maps) > 10_000:
            self._maps.clear()
            self._maps[""] = self.core
        self._maps[key] = tm
        return tm

    def _implicit(self, key: str, ref: Any) -> None:
        """An inline @context object is kept as an ImplicitlyCreated context (5.13)."""
        if not _has_object(ref) or key in self._implicit_keys:
            return
        local_id = uuid.uuid4().hex
        entry = StoredContext(local_id, self.hosted_url(local_id), "ImplicitlyCreated", {"@context": ref}, _now())
        entry.last_usage, entry.hits = entry.created_at, 1
        self._implicit_keys[key] = local_id
        self._remember(entry)

    def _touch(self, ref: ContextRef | list[ContextRef]) -> None:
        for r in ref if isinstance(ref, list) else [ref]:
            if isinstance(r, str):
                entry = self._docs.get(r)
                if entry is not None and entry.kind == "Cached":
                    entry.hits += 1
                    entry.last_usage = _now()

    async def _flatten(self, ref: Any, out: list[Mapping[str, Any]], depth: int) -> None:
        if depth > MAX_CONTEXT_DEPTH:
            raise BadRequestData("@context nests too deeply")
        if ref is None:
            return
        if isinstance(ref, list):
            for item in ref:
                await self._flatten(item, out, depth + 1)
        elif isinstance(ref, dict):
            for term, definition in ref.items():
                if isinstance(definition, dict) and "@context" in definition:
                    raise BadRequestData(f"scoped contexts are not allowed in a user @context (term {term!r})")
            out.append(ref)
            for key, val in ref.items():
                if key == "@import" and isinstance(val, str):
                    await self._flatten(val, out, depth + 1)
        elif isinstance(ref, str):
            if is_core_url(ref):
                out.append(core_context_for(ref))
                return
            doc = await self.document(ref)
            await self._flatten(doc, out, depth + 1)
        else:
            raise BadRequestData("@context must be a string, an object or an array")

    async def document(self, url: str) -> Any:
        """The @context member of the document a URL names (cached)."""
        entry = self._docs.get(url)
        if entry is None:
            if not is_absolute_iri(url):
                raise BadRequestData(f"@context reference is not a URL: {url}")
            lock = self._locks.setdefault(url, asyncio.Lock())
            async with lock:
                entry = self._docs.get(url)
                if entry is None:
                    body = await self._fetch(url)
                    entry = StoredContext(uuid.uuid4().hex, url, "Cached", body, _now(), _now(), 0)
                    self._remember(entry)
        entry.hits += 1
        entry.last_usage = _now()
        body = entry.body
        if isinstance(body, dict) and "@context" in body:
            return body["@context"]
        return body

    async def _fetch(self, url: str) -> Any:
        try:
            doc = await self._fetcher(url)
        except LdContextNotAvailable:
            raise
        except (BadRequestData, ValueError) as exc:
            raise BadRequestData(f"@context {url} is not a JSON-LD context document: {exc}") from exc
        except Exception as exc:  # network errors of every kind
            raise LdContextNotAvailable(f"cannot fetch @context {url}: {exc}") from exc
        if not isinstance(doc, dict) or "@context" not in doc:
            raise BadRequestData(f"{url} is not a JSON-LD context document (no @context member)")
        return doc


def _has_object(ref: Any) -> bool:
    return isinstance(ref, dict) or (isinstance(ref, list) and any(isinstance(r, dict) for r in ref))


async def _http_fetch(url: str) -> Any:
    import httpx

    async with httpx.AsyncClient(timeout=5.0, follow_redirects=True) as client:
        resp = await client.get(url, headers={"Accept": "application/ld+json, application/json"})
    if resp.status_code != 200:
        raise LdContextNotAvailable(f"fetching @context {url} gave HTTP {resp.status_code}")
    try:
        return orjson.loads(resp.content)
    except orjson.JSONDecodeError as exc:
        raise BadRequestData(f"@context {url} is not valid JSON") from exc
