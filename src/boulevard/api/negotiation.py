"""HTTP content negotiation of clause 6.3: Accept, Content-Type, Link.

Pure functions over header strings, so they are tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from boulevard.errors import BadRequestData, NotAcceptable, UnsupportedMediaType

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"

# the order of clause 6.3.4: it breaks ties between equal weights
ENTITY_MEDIA = (JSON, JSON_LD, GEO_JSON)
PLAIN_MEDIA = (JSON, JSON_LD)

_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def _parse_media_range(item: str) -> tuple[str, str, float] | None:
    parts = [p.strip() for p in item.split(";")]
    if not parts[0] or "/" not in parts[0]:
        return None
    mtype, _, subtype = parts[0].lower().partition("/")
    q = 1.0
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(val.strip())
            except ValueError:
                q = 1.0
            if not 0.0 <= q <= 1.0:
                q = 1.0
    return mtype, subtype, q


@lru_cache(maxsize=512)
def negotiate(accept: str | None, available: Sequence[str] = PLAIN_MEDIA) -> str:
    """The representation to send (RFC 9110 5.3.2, ties broken by 6.3.4 order)."""
    if accept is None or not accept.strip():
        return available[0]
    ranges = [r for r in (_parse_media_range(i) for i in accept.split(",")) if r is not None]
    if not ranges:
        raise NotAcceptable(f"Accept header {accept!r} names no media type")
    best: str | None = None
    best_q = 0.0
    for media in available:
        mtype, _, subtype = media.partition("/")
        q: float | None = None
        specificity = -1
        for rt, rs, rq in ranges:
            if rt == mtype and rs == subtype:
                spec = 2
            elif rt == mtype and rs == "*":
                spec = 1
            elif rt == "*" and rs == "*":
                spec = 0
            else:
                continue
            if spec > specificity:
                specificity, q = spec, rq
        if q is not None and q > best_q:
            best, best_q = media, q
    if best is None:
        raise NotAcceptable(f"none of {', '.join(available)} is acceptable to {accept!r}")
    return best


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_content_type(content_type: str | None, *, merge_patch: bool = False) -> str:
    """The body's media type, or 415 when it is one NGSI-LD does not read."""
    mt = media_type(content_type)
    allowed = (JSON, JSON_LD, MERGE_PATCH) if merge_patch else (JSON, JSON_LD)
    if mt not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not supported; use {' or '.join(allowed)}"
        )
    return mt


@lru_cache(maxsize=512)
def parse_link_context(link: str | None) -> str | None:
    """The @context URL of a ``Link`` header (rel=...json-ld#context), if any."""
    if not link:
        return None
    found: list[str] = []
    for m in _LINK_RE.finditer(link):
        url, params = m.group(1).strip(), m.group(2)
        rel = re.search(r'rel\s*=\s*"?([^";]+)"?', params or "")
        if rel and rel.group(1).strip() == JSON_LD_CONTEXT_REL:
            found.append(url)
    if len(found) > 1:
        raise BadRequestData("more than one JSON-LD context Link header")
    if not found:
        return None
    if not found[0]:
        raise BadRequestData("empty @context link")
    return found[0]


def link_header(url: str) -> str:
    return f'<{url}>; rel="{JSON_LD_CONTEXT_REL}"; type="{JSON_LD}"'
